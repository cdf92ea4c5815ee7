"""The feature repo as `feast apply` registers it: counts, metadata, names with units."""

from __future__ import annotations

import pytest

from tests.conftest import FeastTestStore
from transforms import FEATURE_NAMES

pytestmark = pytest.mark.services

def test_more_than_one_hundred_features_registered(feast_store: FeastTestStore) -> None:
    store = feast_store.store
    names = {field.name for view in store.list_feature_views() for field in view.features}
    names |= {field.name for view in store.list_on_demand_feature_views() for field in view.features}

    assert len(names) >= 100
    assert set(FEATURE_NAMES) <= names


def test_every_object_has_description_owner_and_tags(feast_store: FeastTestStore) -> None:
    store = feast_store.store
    objects = [
        *store.list_entities(),
        *store.list_feature_views(),
        *store.list_on_demand_feature_views(),
        *store.list_feature_services(),
        *store.list_data_sources(),
    ]

    assert len(objects) > 20
    for item in objects:
        assert item.description, f"{type(item).__name__} {item.name!r} has no description"
        assert item.owner, f"{type(item).__name__} {item.name!r} has no owner"
        assert item.tags, f"{type(item).__name__} {item.name!r} has no tags"


def test_feature_fields_are_described(feast_store: FeastTestStore) -> None:
    for view in feast_store.store.list_feature_views():
        for field in view.features:
            assert field.description, f"{view.name}:{field.name} has no description"


def test_training_and_inference_services_select_the_same_features(feast_store: FeastTestStore) -> None:
    store = feast_store.store

    def selected(name: str) -> set[str]:
        service = store.get_feature_service(name)
        return {f"{projection.name}:{field.name}" for projection in service.feature_view_projections for field in projection.features}

    training = selected("water_quality_training_v1")
    assert len(training) >= 100
    assert training == selected("water_quality_inference_v1")
