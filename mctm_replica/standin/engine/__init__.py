"""The stand-in's SQL engine: T-SQL on embedded DuckDB with SQL Server's declared types.

Entry point: ``DuckEngine(data_dir=None)`` implements ``contract.Engine``.
"""

from __future__ import annotations

from mctm_replica.standin.engine.engine import DuckEngine

__all__ = ["DuckEngine"]
