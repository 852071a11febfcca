"""The demo's time-partitioned table: McTM ``dbo.sim_daily_usage``, a year of daily SIM usage.

One row per module and day from :data:`HISTORY_START` for :data:`HISTORY_DAYS` days (the
demo registry partitions it daily from that date), plus two rows no partition owns -- one
with a NULL ``UsageDate`` and one dated the day before the first partition -- so the demo
shows them reported instead of silently dropped. Small on purpose (ten modules): a year is
365 partitions, and the demo must stay fast.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

HISTORY_START = dt.date(2025, 12, 1)
HISTORY_DAYS = 365
SIM_USAGE_MODULES = 10
#: Rows in a partition: one per module.
SIM_USAGE_PER_DAY = SIM_USAGE_MODULES
#: Rows outside every partition: (id, date): a NULL date and the day before the start.
SIM_USAGE_OUTSIDE = ((9_000_001, None), (9_000_002, HISTORY_START - dt.timedelta(days=1)))
SIM_USAGE_ROWS = HISTORY_DAYS * SIM_USAGE_MODULES + len(SIM_USAGE_OUTSIDE)

SIM_USAGE_DDL = """
CREATE TABLE dbo.sim_daily_usage (
    SimUsageID bigint NOT NULL,
    ModuleID bigint NOT NULL,
    UsageDate date NULL,
    DataMB decimal(12,3) NOT NULL,
    SmsCount int NOT NULL,
    CONSTRAINT PK_sim_daily_usage PRIMARY KEY CLUSTERED (SimUsageID ASC)
);
"""
COLUMNS = ["SimUsageID", "ModuleID", "UsageDate", "DataMB", "SmsCount"]


def sim_usage_rows(seed: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for day in range(HISTORY_DAYS):
        date = HISTORY_START + dt.timedelta(days=day)
        for m in range(SIM_USAGE_MODULES):
            rows.append((day * SIM_USAGE_MODULES + m + 1, 10_000_000_000 + (m + 1) * 7, date,
                         Decimal(rng.randrange(0, 2_000_000)) / 1000, rng.randrange(0, 30)))
    rows += [(i, 10_000_000_007, date, Decimal("1.000"), 0) for i, date in SIM_USAGE_OUTSIDE]
    return rows


def load_sim_daily_usage(session, seed: int) -> None:
    """Create and fill dbo.sim_daily_usage in the current database (McTM)."""
    list(session.execute(SIM_USAGE_DDL))
    session.bulk_insert("dbo.sim_daily_usage", COLUMNS, sim_usage_rows(seed))
