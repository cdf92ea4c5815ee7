"""Composite and 64-bit entity keys, offline and online, with test-only Feast objects."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest
from feast import Entity, FeatureView, Field, ValueType
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
from feast.types import Float64

from aquafs.feast_store import push_to_both_stores
from feast_timescale import write_arrow_table
from tests.conftest import FeastTestStore
from tests.feast_timescale.test_point_in_time import T0

pytestmark = pytest.mark.services

BIG = 2**40 + 7  # beyond 32 bits


@pytest.fixture
def tank_view(feast_store: FeastTestStore) -> FeastTestStore:
    with feast_store.connect() as conn:
        conn.execute(
            """
            CREATE TABLE tank_readings (
                farm_no bigint NOT NULL, tank_no bigint NOT NULL, event_timestamp timestamptz NOT NULL,
                available_at timestamptz NOT NULL, oxygen_mg_l double precision,
                PRIMARY KEY (farm_no, tank_no, event_timestamp)
            )
            """
        )
    farm = Entity(name="farm", join_keys=["farm_no"], value_type=ValueType.INT64)
    tank = Entity(name="tank", join_keys=["tank_no"], value_type=ValueType.INT64)
    source = PostgreSQLSource(
        name="tank_readings_source", table="tank_readings",
        timestamp_field="event_timestamp", created_timestamp_column="available_at",
    )
    from feast import PushSource

    push = PushSource(name="tank_readings_push", batch_source=source)
    view = FeatureView(
        name="tank_oxygen", entities=[farm, tank], ttl=timedelta(hours=1),
        schema=[Field(name="oxygen_mg_l", dtype=Float64)], source=push,
    )
    feast_store.store.apply([farm, tank, source, push, view])
    return feast_store


def tank_rows(keys: list[tuple[int, int]], oxygen: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "farm_no": pd.array([farm for farm, _ in keys], dtype="int64"),
            "tank_no": pd.array([tank for _, tank in keys], dtype="int64"),
            "event_timestamp": [T0] * len(keys),
            "available_at": [T0] * len(keys),
            "oxygen_mg_l": oxygen,
        }
    )


# (1, 23) and (12, 3) would collide under naive string concatenation; BIG needs 64 bits.
KEYS = [(1, 23), (12, 3), (BIG, 1), (1, BIG)]
OXYGEN = [5.1, 6.2, 7.3, 8.4]


def test_composite_and_big_keys_offline(tank_view: FeastTestStore) -> None:
    with tank_view.connect() as conn:
        write_arrow_table(conn, "tank_readings", pa.Table.from_pandas(tank_rows(KEYS, OXYGEN), preserve_index=False))
    entity_df = tank_rows(KEYS, [0.0] * 4)[["farm_no", "tank_no"]].assign(event_timestamp=T0 + timedelta(minutes=1))

    result = tank_view.store.get_historical_features(entity_df=entity_df, features=["tank_oxygen:oxygen_mg_l"]).to_df()

    assert list(result["oxygen_mg_l"]) == OXYGEN
    assert list(result["farm_no"]) == [farm for farm, _ in KEYS]


def test_composite_and_big_keys_online(tank_view: FeastTestStore) -> None:
    push_to_both_stores(tank_view.store, "tank_readings_push", tank_rows(KEYS, OXYGEN))

    response = tank_view.store.get_online_features(
        ["tank_oxygen:oxygen_mg_l"], [{"farm_no": farm, "tank_no": tank} for farm, tank in KEYS]
    ).to_dict()

    assert response["oxygen_mg_l"] == OXYGEN
