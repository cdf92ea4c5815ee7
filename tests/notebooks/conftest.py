"""Notebook tests share the session store of the training tests (real history, backfilled)."""

from tests.training.conftest import prepared_store

__all__ = ["prepared_store"]
