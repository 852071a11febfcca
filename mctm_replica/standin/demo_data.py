"""Deterministic demo databases shaped like production: McTM and VoipDB.

``load_demo_data(engine)`` creates the databases with T-SQL (so the declared
catalog is exactly what production declares) and fills them from fixed-seed
generators through the engine's bulk path, in well under two seconds. Every
nullable column holds a few NULLs; names are mixed-case and one has a space
("SIM No") because the replicator has to normalise such names.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
import uuid
from decimal import Decimal

from mctm_replica.standin.contract import TICKS_PER_SECOND
from mctm_replica.standin.demo_sim_usage import load_sim_daily_usage
from mctm_replica.standin.engine.values import datetime_to_ticks

SEED = 20240601  # fixed: the demo data must be identical on every run
CUSTOMERS = 2000
MODULES = 3000
VOIP_CUSTOMERS = 800
USER_AGENTS = 2500
MODULE_USAGE = 5000  # daily usage rows: the demo's incremental table

_FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
           ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
           ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("松本", "マツモト"), ("井上", "イノウエ")]
_GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("健一", "ケンイチ"), ("陽子", "ヨウコ"), ("翔太", "ショウタ"),
          ("美咲", "ミサキ"), ("大輔", "ダイスケ"), ("結衣", "ユイ"), ("𠮷男", "ヨシオ"), ("直樹", "ナオキ")]
_COMPANY = [("株式会社", "カブシキガイシャ"), ("合同会社", "ゴウドウガイシャ"), ("有限会社", "ユウゲンガイシャ")]
_BUSINESS = [("物流", "ブツリュウ"), ("エネルギー", "エネルギー"), ("モビリティ", "モビリティ"), ("農業", "ノウギョウ"),
             ("ヘルスケア", "ヘルスケア"), ("セキュリティ", "セキュリティ")]
_PREFECTURES = ["北海道", "宮城県", "東京都", "神奈川県", "埼玉県", "千葉県", "愛知県", "大阪府", "京都府", "兵庫県",
                "広島県", "福岡県", "沖縄県"]
_CITIES = ["千代田区丸の内", "中央区日本橋", "港区六本木", "北区梅田", "中区栄", "博多区博多駅前", "青葉区一番町",
           "中京区烏丸通", "那覇市久茂地", "札幌市中央区北一条西"]
_AREA = ["03", "06", "011", "022", "045", "052", "075", "082", "092", "098"]
_MODULE_TYPES = ["LTE-M", "NB-IoT", "LTE Cat.1", "3G", "5G RedCap"]
_PLANS = ["Basic", "Business", "Business Plus", "Enterprise", "Trial"]
_AGENTS = ["Yealink SIP-T46U 66.86.0.15", "Grandstream GXP2170 1.0.11.74", "Zoiper rv2.10.20.2",
           "Linphone/5.2.4 (belle-sip/5.2.4)", "MicroSIP/3.21.3", "Cisco-CP8841/12.8.1", "Asterisk PBX 20.5.0",
           "Bria iOS release 6.11.1", "Ｍｙ電話アプリ/2.0 (Android 14)"]
_TRANSPORTS = ["UDP", "TCP", "TLS", "WSS"]
_DOMAINS = ["sip.example.jp", "voip.mctm.example", "pbx.tokyo.example.co.jp"]
JST = 9 * 60  # minutes


def _null(row: int, col: int) -> bool:
    """About 2% NULLs in each nullable column, deterministic, never all in one row."""
    return (row * 31 + col * 17) % 53 == 0


def _n(row: int, col: int, value):
    return None if _null(row, col) else value


def _ts(rng: random.Random, start: dt.datetime, days: int) -> dt.datetime:
    return start + dt.timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(1_000_000))


def _datetime_value(v: dt.datetime) -> dt.datetime:
    """Round to SQL Server's datetime resolution (.000/.003/.007)."""
    from mctm_replica.standin.engine.values import round_datetime

    midnight = dt.datetime.combine(v.date(), dt.time())
    return round_datetime(v.date(), datetime_to_ticks(v) - datetime_to_ticks(midnight))


def _half_width_table() -> dict[str, str]:
    """Full-width katakana (and voiced forms) -> half-width, from NFKC's own mapping."""
    table: dict[str, str] = {}
    for code in range(0xFF61, 0xFFA0):
        half = chr(code)
        table.setdefault(unicodedata.normalize("NFKC", half), half)
        for mark in ("\uff9e", "\uff9f"):  # voiced and semi-voiced sound marks
            full = unicodedata.normalize("NFKC", half + mark)
            if len(full) == 1:
                table.setdefault(full, half + mark)
    return table


_HALF = _half_width_table()


def half_width(kana: str) -> str:
    """ｻﾄｳ ﾀﾛｳ: the half-width katakana legacy systems store in varchar (one byte each in cp932)."""
    return "".join(_HALF.get(c, c) for c in kana)


def _customers(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(1, CUSTOMERS + 1):
        if rng.random() < 0.35:
            corp, corp_k = rng.choice(_COMPANY)
            fam, fam_k = rng.choice(_FAMILY)
            bus, bus_k = rng.choice(_BUSINESS)
            name, kana = f"{corp}{fam}{bus}", f"{corp_k}{fam_k}{bus_k}"
        else:
            fam, fam_k = rng.choice(_FAMILY)
            giv, giv_k = rng.choice(_GIVEN)
            name, kana = f"{fam} {giv}", f"{fam_k} {giv_k}"
        created = _ts(rng, dt.datetime(2015, 1, 1), 3000)
        updated = created + dt.timedelta(days=rng.randrange(0, 400), seconds=rng.randrange(86400))
        updated_ticks = datetime_to_ticks(updated) + rng.randrange(10)  # keep the 100-ns digit
        phone = f"{rng.choice(_AREA)}-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
        notes = None if i % 3 else f"顧客メモ {i}: " + "契約更新予定。" * rng.randrange(1, 4)
        prefecture = rng.choice(_PREFECTURES)
        address = f"{prefecture}{rng.choice(_CITIES)}{rng.randrange(1, 9)}-{rng.randrange(1, 30)}-{rng.randrange(1, 20)}"
        rows.append((
            f"C{i:06d}", name, _n(i, 2, kana), _n(i, 3, phone), _n(i, 4, f"user{i}@example.co.jp"),
            _n(i, 5, prefecture), _n(i, 6, _datetime_value(created)), _n(i, 7, updated_ticks),
            _n(i, 8, rng.random() > 0.1), _n(i, 9, Decimal(rng.randrange(0, 50_000_000)) / 100), notes,
            # varchar under Japanese_CI_AS: code page 932. 𠮷 (not in 932) is stored as '?',
            # as SQL Server stores it; the nvarchar CustomerName keeps it.
            name, _n(i, 10, half_width(kana)), _n(i, 11, address),
        ))
    return rows


def _modules(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(1, MODULES + 1):
        module_id = 10_000_000_000 + i * 7
        last_seen = _ts(rng, dt.datetime(2024, 1, 1), 180)
        utc_ticks = datetime_to_ticks(last_seen) + rng.randrange(10) - JST * 60 * TICKS_PER_SECOND
        rows.append((
            module_id, _n(i, 1, rng.randrange(1, CUSTOMERS + 1)), _n(i, 2, f"8981{rng.randrange(10**15, 10**16)}"),
            _n(i, 3, f"44010{rng.randrange(10**9, 10**10)}"), _n(i, 4, f"0{rng.choice('789')}0{rng.randrange(10**7, 10**8)}"),
            _n(i, 5, rng.choice(_MODULE_TYPES)), _n(i, 6, rng.randrange(0, 5)),
            _n(i, 7, dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(2300))),
            _n(i, 8, (utc_ticks, JST)), _n(i, 9, Decimal(rng.randrange(0, 10**9)) / 1000),
            _n(i, 10, uuid.UUID(int=rng.getrandbits(128), version=4)), _n(i, 11, f"SIM-{i:08d}"),
        ))
    return rows


def _voip_customers(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(1, VOIP_CUSTOMERS + 1):
        fam, _ = rng.choice(_FAMILY)
        bus, _ = rng.choice(_BUSINESS)
        created = datetime_to_ticks(_ts(rng, dt.datetime(2019, 1, 1), 1800)) // 10_000 * 10_000
        rows.append((
            i, f"{fam}{bus}サービス", _n(i, 2, rng.choice(_PLANS)), _n(i, 3, Decimal(rng.randrange(0, 5_000_000)) / 100),
            _n(i, 4, dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(1800))), _n(i, 5, rng.random() < 0.05),
            _n(i, 6, created), None if i % 4 else _n(i, 7, f"備考: 回線{rng.randrange(1, 50)}本"),
        ))
    return rows


def _user_agents(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(1, USER_AGENTS + 1):
        reg = _ts(rng, dt.datetime(2024, 3, 1), 90)
        reg_ticks = datetime_to_ticks(reg) + rng.randrange(10)
        expires = (reg_ticks // TICKS_PER_SECOND + rng.choice([300, 600, 3600])) * TICKS_PER_SECOND
        if rng.random() < 0.2:
            ip = "2001:db8:%x::%x" % (rng.randrange(65536), rng.randrange(65536))
        else:
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        rows.append((
            _n(i, 1, rng.randrange(1, VOIP_CUSTOMERS + 1)), f"sip{100000 + i}", _n(i, 3, rng.choice(_DOMAINS)),
            _n(i, 4, rng.choice(_AGENTS)), _n(i, 5, reg_ticks), _n(i, 6, expires), _n(i, 7, rng.choice(_TRANSPORTS)),
            _n(i, 8, ip), _n(i, 9, rng.choice([5060, 5061, 5080, rng.randrange(10000, 65535)])),
            _n(i, 10, rng.getrandbits(64).to_bytes(8, "big")),
        ))
    return rows


def _module_usage(rng: random.Random) -> list[tuple]:
    rows = []
    for i in range(1, MODULE_USAGE + 1):
        day = dt.date(2024, 4, 1) + dt.timedelta(days=i % 60)
        updated = dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1, seconds=rng.randrange(6 * 3600))
        rows.append((
            i, 10_000_000_000 + rng.randrange(1, MODULES + 1) * 7, day,
            _n(i, 3, Decimal(rng.randrange(0, 5_000_000)) / 1000), _n(i, 4, rng.randrange(0, 40)),
            datetime_to_ticks(updated) // 10_000 * 10_000,  # datetime2(3): milliseconds
        ))
    return rows


_MCTM_DDL = """
CREATE TABLE dbo.customer (
    CustomerID int IDENTITY(1,1) NOT NULL,
    CustomerCode varchar(10) NOT NULL,
    CustomerName nvarchar(100) NOT NULL,
    CustomerNameKana nvarchar(100) NULL,
    PhoneNumber varchar(20) NULL,
    Email varchar(255) NULL,
    Prefecture nvarchar(10) NULL,
    CreatedAt datetime NULL,
    UpdatedAt datetime2(7) NULL,
    IsActive bit NULL,
    CreditLimit money NULL,
    Notes nvarchar(max) NULL,
    CustomerNameSjis varchar(100) NOT NULL,
    CustomerNameKanaHalf varchar(100) NULL,
    Address varchar(200) NULL,
    CONSTRAINT PK_customer PRIMARY KEY CLUSTERED (CustomerID ASC)
);
CREATE TABLE dbo.mctm_module (
    ModuleID bigint NOT NULL,
    CustomerID int NULL,
    ICCID varchar(20) NULL,
    IMSI varchar(15) NULL,
    MSISDN varchar(15) NULL,
    ModuleType nvarchar(20) NULL,
    Status tinyint NULL,
    ActivatedOn date NULL,
    LastSeen datetimeoffset(7) NULL,
    DataUsageMB decimal(18,3) NULL,
    Rowguid uniqueidentifier NULL,
    [SIM No] varchar(20) NULL,
    CONSTRAINT PK_mctm_module PRIMARY KEY CLUSTERED (ModuleID ASC)
);
CREATE TABLE dbo.mctm_module_usage (
    UsageID bigint NOT NULL,
    ModuleID bigint NOT NULL,
    UsageDate date NOT NULL,
    DataMB decimal(12,3) NULL,
    SmsCount int NULL,
    UpdatedAt datetime2(3) NOT NULL,
    CONSTRAINT PK_mctm_module_usage PRIMARY KEY CLUSTERED (UsageID ASC)
);
"""

_VOIP_DDL = """
CREATE TABLE dbo.voipdb_customer (
    CustomerID int NOT NULL,
    AccountName nvarchar(100) NOT NULL,
    ContractPlan varchar(30) NULL,
    MonthlyFee smallmoney NULL,
    StartedOn date NULL,
    IsSuspended bit NULL,
    CreatedAt datetime2(3) NULL,
    Memo nvarchar(500) NULL,
    CONSTRAINT PK_voipdb_customer PRIMARY KEY (CustomerID)
);
CREATE TABLE dbo.voipdb_useragent (
    UserAgentID int IDENTITY(1,1) NOT NULL PRIMARY KEY,
    CustomerID int NULL,
    SipUser varchar(64) NOT NULL,
    Domain varchar(128) NULL,
    UserAgent nvarchar(256) NULL,
    RegisteredAt datetime2(7) NULL,
    ExpiresAt datetime2(0) NULL,
    Transport varchar(8) NULL,
    IP varchar(45) NULL,
    Port int NULL,
    ContactHash varbinary(16) NULL
);
"""

# The non-clustered indexes the SIM management system's lookups rely on (by ICCID, IMSI,
# MSISDN and customer): the replica gets them too (README "Indexes on the replica").
_MCTM_INDEXES = """
CREATE UNIQUE NONCLUSTERED INDEX UX_mctm_module_ICCID ON dbo.mctm_module (ICCID) WHERE ICCID IS NOT NULL;
CREATE NONCLUSTERED INDEX IX_mctm_module_IMSI ON dbo.mctm_module (IMSI);
CREATE NONCLUSTERED INDEX IX_mctm_module_MSISDN ON dbo.mctm_module (MSISDN) INCLUDE (ICCID, Status);
CREATE NONCLUSTERED INDEX IX_mctm_module_CustomerID ON dbo.mctm_module (CustomerID ASC, ActivatedOn DESC);
CREATE UNIQUE NONCLUSTERED INDEX UX_customer_CustomerCode ON dbo.customer (CustomerCode);
CREATE NONCLUSTERED INDEX IX_mctm_module_usage_ModuleID ON dbo.mctm_module_usage (ModuleID, UsageDate DESC);
"""
_VOIP_INDEXES = """
CREATE NONCLUSTERED INDEX IX_voipdb_useragent_CustomerID ON dbo.voipdb_useragent (CustomerID) INCLUDE (SipUser);
CREATE NONCLUSTERED INDEX IX_voipdb_useragent_SipUser ON dbo.voipdb_useragent (SipUser, Domain);
"""


def load_demo_data(engine) -> None:
    """Create and fill the McTM and VoipDB demo databases (idempotent: skips existing ones)."""
    session = engine.connect("master", spid=0, login="sa")
    try:
        if not engine.has_database("McTM"):
            # Production's McTM is Japanese: varchar holds code page 932 (Shift-JIS) bytes.
            list(session.execute("CREATE DATABASE McTM COLLATE Japanese_CI_AS"))
            list(session.execute("USE McTM"))
            list(session.execute(_MCTM_DDL))
            rng = random.Random(SEED)
            cust = _customers(rng)
            session.bulk_insert("dbo.customer", ["CustomerCode", "CustomerName", "CustomerNameKana", "PhoneNumber",
                                                 "Email", "Prefecture", "CreatedAt", "UpdatedAt", "IsActive",
                                                 "CreditLimit", "Notes", "CustomerNameSjis",
                                                 "CustomerNameKanaHalf", "Address"], cust)
            session.bulk_insert("dbo.mctm_module", ["ModuleID", "CustomerID", "ICCID", "IMSI", "MSISDN",
                                                    "ModuleType", "Status", "ActivatedOn", "LastSeen",
                                                    "DataUsageMB", "Rowguid", "SIM No"], _modules(rng))
            session.bulk_insert("dbo.mctm_module_usage", ["UsageID", "ModuleID", "UsageDate", "DataMB",
                                                          "SmsCount", "UpdatedAt"],
                                _module_usage(random.Random(SEED + 2)))
            load_sim_status_history(session)  # the Change Tracking demo table (below)
            list(session.execute(_MCTM_INDEXES))
            load_sim_daily_usage(session, SEED + 4)  # the time-partitioned demo table
        if not engine.has_database("VoipDB"):
            list(session.execute("CREATE DATABASE VoipDB"))
            list(session.execute("USE VoipDB"))
            list(session.execute(_VOIP_DDL))
            rng = random.Random(SEED + 1)
            session.bulk_insert("dbo.voipdb_customer", ["CustomerID", "AccountName", "ContractPlan", "MonthlyFee",
                                                        "StartedOn", "IsSuspended", "CreatedAt", "Memo"],
                                _voip_customers(rng))
            session.bulk_insert("dbo.voipdb_useragent", ["CustomerID", "SipUser", "Domain", "UserAgent",
                                                         "RegisteredAt", "ExpiresAt", "Transport", "IP", "Port",
                                                         "ContactHash"], _user_agents(rng))
            list(session.execute(_VOIP_INDEXES))
    finally:
        session.close()


# ---------------------------------------------------------------- Change Tracking demo (issue 16)
# McTM tracks changes the way a production database would: the database has
# CHANGE_TRACKING on (and ALLOW_SNAPSHOT_ISOLATION, so readers can use a
# snapshot) and dbo.sim_status_history is tracked. The demo registry
# (mctm_replica/local/demo_tables.yaml) replicates it with `mode: change_tracking`.
SIM_STATUS_ROWS = 1200  # a few statuses per demo module, small enough to load in milliseconds
_SIM_STATUSES = ["ordered", "active", "suspended", "roaming", "deactivated"]
_SIM_STATUS_DDL = """
CREATE TABLE dbo.sim_status_history (
    HistoryID bigint NOT NULL,
    ModuleID bigint NOT NULL,
    Status nvarchar(20) NOT NULL,
    ChangedAt datetime2(3) NOT NULL,
    Note nvarchar(200) NULL,
    CONSTRAINT PK_sim_status_history PRIMARY KEY CLUSTERED (HistoryID ASC)
)
"""
_SIM_STATUS_CT = (
    "ALTER DATABASE McTM SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON);"
    " ALTER DATABASE McTM SET ALLOW_SNAPSHOT_ISOLATION ON;"
    " ALTER TABLE dbo.sim_status_history ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = ON)"
)
# What the demo's second run changes in it (see change_sim_status_history).
SIM_STATUS_UPDATES = ("UPDATE dbo.sim_status_history SET Status = N'suspended', Note = N'suspended by the demo' "
                      "WHERE HistoryID % 97 = 0")
SIM_STATUS_DELETES = "DELETE FROM dbo.sim_status_history WHERE HistoryID % 211 = 1"
SIM_STATUS_INSERT = ("INSERT INTO dbo.sim_status_history (HistoryID, ModuleID, Status, ChangedAt, Note) "
                     "VALUES (%s, %s, %s, SYSDATETIME(), NULL)")
SIM_STATUS_NEW_ROWS = 20


def _sim_status_history(rng: random.Random) -> list[tuple]:
    rows = []
    start = dt.datetime(2024, 1, 1, 9, 0)
    for i in range(1, SIM_STATUS_ROWS + 1):
        changed = start + dt.timedelta(minutes=37 * i + rng.randrange(30), seconds=rng.randrange(60))
        rows.append((i, 10_000_000_000 + rng.randrange(1, MODULES + 1) * 7, rng.choice(_SIM_STATUSES),
                     datetime_to_ticks(changed) // 10_000 * 10_000,  # datetime2(3): milliseconds
                     _n(i, 4, f"status change {i}")))
    return rows


def load_sim_status_history(session) -> None:
    """Create and fill McTM's dbo.sim_status_history, then turn Change Tracking on for it.

    Loaded before tracking starts (as a table that existed before a DBA enabled it),
    so the first tracked change is version 1.
    """
    list(session.execute(_SIM_STATUS_DDL))
    session.bulk_insert("dbo.sim_status_history", ["HistoryID", "ModuleID", "Status", "ChangedAt", "Note"],
                        _sim_status_history(random.Random(SEED + 3)))
    list(session.execute(_SIM_STATUS_CT))


def change_sim_status_history(cursor) -> str:
    """Update, delete and insert rows of dbo.sim_status_history through a DB-API cursor on McTM
    (what a demo's second run calls, as demo.change_demo_source does for the incremental table)."""
    cursor.execute(SIM_STATUS_UPDATES)
    updated = cursor.rowcount
    cursor.execute(SIM_STATUS_DELETES)
    deleted = cursor.rowcount
    cursor.executemany(SIM_STATUS_INSERT, [(900_000 + i, 10_000_000_007, _SIM_STATUSES[i % len(_SIM_STATUSES)])
                                           for i in range(SIM_STATUS_NEW_ROWS)])
    return (f"{updated} rows updated, {SIM_STATUS_NEW_ROWS} inserted, {deleted} deleted in McTM "
            "dbo.sim_status_history")


# What the demo's application changes in the incremental table between the demo's two runs
# (mctm_replica.demo.change_demo_source).
DEMO_UPDATES = "UPDATE dbo.mctm_module_usage SET DataMB = DataMB + 1.5, UpdatedAt = SYSDATETIME() WHERE UsageID % 100 = 0"
DEMO_DELETES = "DELETE FROM dbo.mctm_module_usage WHERE UsageID % 500 = 1"
DEMO_INSERT = ("INSERT INTO dbo.mctm_module_usage (UsageID, ModuleID, UsageDate, DataMB, SmsCount, UpdatedAt) "
               "VALUES (%s, %s, %s, %s, %s, SYSDATETIME())")
