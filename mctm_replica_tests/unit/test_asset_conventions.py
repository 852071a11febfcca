"""Dagster conventions the UI and catalog tools read: asset kinds and ``dagster/table_name``."""

from __future__ import annotations

from dagster import AssetKey

from mctm_replica.definitions import build_definitions
from mctm_replica.naming import TABLE_NAME_KEY, replica_table_name

TABLES = ("customer", "mctm_module", "voipdb_customer", "voipdb_useragent")


def test_every_replica_asset_has_the_sqlserver_and_postgres_kinds_and_its_fully_qualified_name(monkeypatch):
    monkeypatch.setenv("PG_DB", "replica_prod")
    graph = build_definitions().resolve_asset_graph()
    for table in TABLES:
        node = graph.get(AssetKey(["public", table]))
        # `sqlserver` is the kind Dagster's UI draws an icon for (`mssql` has none).
        assert set(node.kinds) == {"sqlserver", "postgres"}, table
        assert node.metadata[TABLE_NAME_KEY] == f"replica_prod.public.{table}"


def test_table_name_follows_pg_db_and_never_guesses_a_database(monkeypatch):
    monkeypatch.setenv("PG_DB", "other")
    node = build_definitions().resolve_asset_graph().get(AssetKey(["public", "customer"]))
    assert node.metadata[TABLE_NAME_KEY] == "other.public.customer"
    monkeypatch.delenv("PG_DB")
    node = build_definitions().resolve_asset_graph().get(AssetKey(["public", "customer"]))
    assert node.metadata[TABLE_NAME_KEY] == "public.customer"
    assert replica_table_name("db", "s", "t") == "db.s.t"
