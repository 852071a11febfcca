"""docker-compose.yaml as data: services, their commands and health checks, interpolated.

No container engine runs on our machines or in CI, so the compose file is checked by
reading it: the topology tier runs its commands as processes, and the deploy tests check
its structure. Interpolation follows compose's rules for what the file uses: ``${VAR}``,
``${VAR:-default}`` (default when unset or empty), ``${VAR:?message}`` (error when unset
or empty) and ``$$`` (a literal ``$``). YAML merge keys (``<<: *dagster``) are resolved by
PyYAML's safe loader, as by compose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mctm_replica_tests.deploy import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


class ComposeError(ValueError):
    """A variable the compose file requires is unset, or the file is not as expected."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op == ":-" and not value:
            return arg
        if op == ":?" and not value:
            raise ComposeError(f"{name}: {arg}")
        return value

    return _VAR.sub(sub, text)


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The compose file with merge keys resolved, not yet interpolated."""
    return yaml.safe_load(path.read_text())


def service(name: str, path: Path = COMPOSE_FILE) -> dict[str, Any]:
    services = load_compose(path)["services"]
    if name not in services:
        raise ComposeError(f"{path.name} has no service `{name}` (has: {sorted(services)})")
    return services[name]


def command(name: str, env: Mapping[str, str], path: Path = COMPOSE_FILE) -> list[str]:
    """Service ``name``'s command (exec form), each argument interpolated with ``env``."""
    cmd = service(name, path)["command"]
    if not isinstance(cmd, list):
        raise ComposeError(f"service `{name}`: command must be a list (exec form), got {cmd!r}")
    return [interpolate(str(arg), env) for arg in cmd]


def healthcheck(name: str, env: Mapping[str, str], path: Path = COMPOSE_FILE) -> list[str]:
    """Service ``name``'s health check as a command line (``CMD`` form only)."""
    test = service(name, path)["healthcheck"]["test"]
    if test[0] != "CMD":
        raise ComposeError(f"service `{name}`: health check {test!r} is not in CMD form")
    return [interpolate(str(arg), env) for arg in test[1:]]
