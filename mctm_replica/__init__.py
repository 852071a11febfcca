"""mctm_replica: a PostgreSQL replica of SQL Server tables as Dagster assets.

``defs`` (the project's single ``Definitions``, built in :mod:`mctm_replica.definitions`)
is resolved lazily, so ``dagster ... -m mctm_replica`` finds it while ``import
mctm_replica.standin`` (the SQL Server stand-in) does not pay for importing Dagster.
"""


def __getattr__(name: str):
    if name == "defs":
        from mctm_replica.definitions import defs

        return defs
    raise AttributeError(f"module 'mctm_replica' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
