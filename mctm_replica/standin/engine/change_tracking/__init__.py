"""SQL Server Change Tracking and snapshot isolation settings in the stand-in.

The hooks other engine modules call (each a line or two at its call site):

* ``dialect.py``: ``parse_changetable`` parses ``CHANGETABLE(CHANGES|VERSION ...)``;
* ``query.table_source``: ``changetable_source`` for it in FROM;
* ``functions.FUNCTIONS``: ``FUNCTIONS`` (CHANGE_TRACKING_CURRENT_VERSION, _MIN_VALID_VERSION, _IS_COLUMN_IN_MASK);
* ``dml._execute``: ``tracks`` / ``run_tracked`` (``UpdateShape`` from ``dml.update``);
* ``session.commit``: ``committing`` around DuckDB's COMMIT;
* ``session._command``: ``alter_command`` for ALTER DATABASE/TABLE; ``session._run``:
  ``is_cleanup``/``cleanup_procedure`` for EXEC, ``check_snapshot`` before data access;
* ``ddl.drop``: ``drop_statements``; ``engine.drop_database``: ``registry(engine).forget``;
* ``sysviews.system_view``: ``ct_view`` and ``database_snapshot_columns``.
"""

from __future__ import annotations

from mctm_replica.standin.engine.change_tracking.admin import alter_command, cleanup_procedure, drop_statements, is_cleanup
from mctm_replica.standin.engine.change_tracking.capture import UpdateShape, committing, run_tracked, tracks
from mctm_replica.standin.engine.change_tracking.changetable import FUNCTIONS, changetable_source, is_changetable
from mctm_replica.standin.engine.change_tracking.state import registry
from mctm_replica.standin.engine.change_tracking.views import (
    VIEWS, check_snapshot, ct_view, database_snapshot_columns,
)

__all__ = ["FUNCTIONS", "VIEWS", "UpdateShape", "alter_command", "changetable_source", "check_snapshot",
           "cleanup_procedure", "committing", "ct_view", "database_snapshot_columns", "drop_statements",
           "is_changetable", "is_cleanup", "registry", "run_tracked", "tracks"]
