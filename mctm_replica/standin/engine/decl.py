"""Declared SQL Server types: what a column *is* versus how DuckDB stores it.

DuckDB knows neither money, nvarchar lengths nor 100-ns time, so every column
carries a ``Decl`` (the T-SQL declaration) next to a DuckDB storage type chosen
so that the stored value *is* the contract's wire-ready representation (ticks
as BIGINT, tinyint as UTINYINT, ...). Reading a column then needs no Python
conversion at all for almost every type.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlglot import exp

from mctm_replica.standin.contract import Column

INT_TYPES = ("bit", "tinyint", "smallint", "int", "bigint")  # in precedence order
EXACT_TYPES = frozenset({"decimal", "numeric", "money", "smallmoney"})
APPROX_TYPES = frozenset({"float", "real"})
NUMERIC_TYPES = frozenset(INT_TYPES) | EXACT_TYPES | APPROX_TYPES
STRING_TYPES = frozenset({"char", "varchar", "text", "nchar", "nvarchar", "ntext", "xml"})
UNICODE_TYPES = frozenset({"nchar", "nvarchar", "ntext", "xml"})
COLLATED_TYPES = frozenset({"char", "varchar", "text", "nchar", "nvarchar", "ntext"})
CODE_PAGE_TYPES = frozenset({"char", "varchar", "text"})  # stored in the collation's code page
BINARY_TYPES = frozenset({"binary", "varbinary", "image", "rowversion"})
TICK_TYPES = frozenset({"time", "datetime2"})  # stored as BIGINT 100-ns ticks
TIMESTAMP_TYPES = frozenset({"datetime", "smalldatetime"})  # stored as DuckDB TIMESTAMP
DATE_TYPES = frozenset({"date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"})

# datetimeoffset is stored as one HUGEINT: utc_ticks * DTO_BASE + (offset + DTO_BIAS),
# so ORDER BY / MIN / MAX sort by the UTC instant. 2048 > 2 * 840 + 1 offsets.
DTO_BASE = 2048
DTO_BIAS = 1024

INT_RANGES = {
    "bit": (0, 1),
    "tinyint": (0, 255),
    "smallint": (-32768, 32767),
    "int": (-2147483648, 2147483647),
    "bigint": (-9223372036854775808, 9223372036854775807),
}


@dataclass(frozen=True)
class Decl:
    """A T-SQL type declaration (length in chars for n-types, bytes otherwise; -1 = max)."""

    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    # char/varchar/text/nchar/nvarchar/ntext: the collation (canonical name); None = the
    # current database's. Not part of equality: it changes bytes and comparison, not the type.
    collation: str | None = field(default=None, compare=False)

    def with_collation(self, name: str | None) -> Decl:
        return replace(self, collation=name) if self.type in COLLATED_TYPES else self

    def __str__(self) -> str:
        t = self.type
        if t in ("decimal", "numeric"):
            return f"{t}({self.precision},{self.scale})"
        if self.length is not None:
            return f"{t}({'max' if self.length == -1 else self.length})"
        if t in ("time", "datetime2", "datetimeoffset") and self.scale is not None:
            return f"{t}({self.scale})"
        return t

    @property
    def is_max(self) -> bool:
        return self.length == -1


def storage_type(d: Decl) -> str:
    """The DuckDB column type that stores ``d`` exactly."""
    t = d.type
    simple = {
        "bit": "BOOLEAN", "tinyint": "UTINYINT", "smallint": "SMALLINT", "int": "INTEGER",
        "bigint": "BIGINT", "money": "DECIMAL(19,4)", "smallmoney": "DECIMAL(10,4)",
        "float": "DOUBLE", "real": "FLOAT", "date": "DATE", "time": "BIGINT", "datetime2": "BIGINT",
        "datetime": "TIMESTAMP", "smalldatetime": "TIMESTAMP", "datetimeoffset": "HUGEINT",
        "rowversion": "BIGINT", "uniqueidentifier": "UUID",
    }
    if t in simple:
        return simple[t]
    if t in ("decimal", "numeric"):
        return f"DECIMAL({d.precision},{d.scale})"
    if t in STRING_TYPES:
        return "VARCHAR"
    if t in BINARY_TYPES:
        return "BLOB"
    raise ValueError(f"no storage for {d}")


def parse_decl(text: str) -> Decl:
    """Parse a T-SQL type spelling such as ``nvarchar(max)`` or ``decimal(18,3)``."""
    text = text.strip().lower()
    name, _, rest = text.partition("(")
    name = name.strip()
    args = [a.strip() for a in rest.rstrip(")").split(",")] if rest else []
    return make_decl(name, args, ddl=True)


def make_decl(name: str, args: list[str], *, ddl: bool) -> Decl:
    """Build a Decl with SQL Server's defaults (``varchar`` alone is 1 in DDL, 30 in CAST)."""
    name = {"timestamp": "rowversion", "integer": "int", "double precision": "float",
            "dec": "decimal", "character": "char", "national char": "nchar"}.get(name, name)
    if name == "float":
        n = int(args[0]) if args else 53
        return Decl("real") if n <= 24 else Decl("float")
    if name in ("decimal", "numeric"):
        p = int(args[0]) if args else 18
        s = int(args[1]) if len(args) > 1 else 0
        return Decl(name, precision=p, scale=s)
    if name in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
        if args:
            length = -1 if args[0] == "max" else int(args[0])
        else:
            length = 1 if ddl else 30
        return Decl(name, length=length)
    if name in ("time", "datetime2", "datetimeoffset"):
        return Decl(name, scale=int(args[0]) if args else 7)
    if name in ("text", "ntext", "image", "xml"):
        return Decl(name, length=-1) if name == "xml" else Decl(name, length=-1)
    return Decl(name)


_DTYPE_NAMES = {
    "INT": "int", "BIGINT": "bigint", "SMALLINT": "smallint", "TINYINT": "tinyint",
    "UTINYINT": "tinyint", "BIT": "bit", "BOOLEAN": "bit", "DECIMAL": "decimal",
    "BIGDECIMAL": "numeric", "MONEY": "money", "SMALLMONEY": "smallmoney", "FLOAT": "float",
    "UDOUBLE": "real", "DOUBLE": "float", "DATE": "date", "TIME": "time", "DATETIME": "datetime",
    "DATETIME2": "datetime2", "SMALLDATETIME": "smalldatetime", "TIMESTAMPTZ": "datetimeoffset",
    "DATETIMEOFFSET": "datetimeoffset", "ROWVERSION": "rowversion", "CHAR": "char",
    "VARCHAR": "varchar", "NCHAR": "nchar", "NVARCHAR": "nvarchar", "TEXT": "text",
    "LONGTEXT": "ntext", "XML": "xml", "IMAGE": "image", "BINARY": "binary",
    "VARBINARY": "varbinary", "UUID": "uniqueidentifier", "TIMESTAMP": "datetime",
}


def decl_from_datatype(dt: exp.DataType, *, ddl: bool) -> Decl:
    """Map a DataType parsed by the stand-in's T-SQL dialect to a Decl."""
    from mctm_replica.standin.contract import SqlError

    key = dt.this.name
    name = _DTYPE_NAMES.get(key)
    if name is None:
        raise SqlError(2715, f"Column, parameter, or variable #1: Cannot find data type {dt.sql('tsql')}.")
    args = [p.name.lower() if isinstance(p, exp.DataTypeParam) else p.sql().lower() for p in dt.expressions]
    if name == "datetimeoffset" and not args and dt.args.get("expressions") is None:
        args = []
    return make_decl(name, args, ddl=ddl)


def octet_length(d: Decl) -> int:
    """sys.columns.max_length: bytes (-1 for max, 16 for legacy LOB pointers)."""
    t = d.type
    fixed = {
        "bit": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "money": 8,
        "smallmoney": 4, "float": 8, "real": 4, "date": 3, "datetime": 8, "smalldatetime": 4,
        "rowversion": 8, "uniqueidentifier": 16, "text": 16, "ntext": 16, "image": 16, "xml": -1,
    }
    if t in fixed:
        return fixed[t]
    if t in ("decimal", "numeric"):
        p = d.precision or 18
        return 5 if p <= 9 else 9 if p <= 19 else 13 if p <= 28 else 17
    if t in ("time", "datetime2", "datetimeoffset"):
        s = 7 if d.scale is None else d.scale
        base = 3 if s <= 2 else 4 if s <= 4 else 5
        return base + {"time": 0, "datetime2": 3, "datetimeoffset": 5}[t]
    if d.length == -1:
        return -1
    return (d.length or 0) * (2 if t in UNICODE_TYPES else 1)


def to_column(name: str, d: Decl, *, nullable: bool = True, identity: bool = False) -> Column:
    """The contract Column for a result column declared as ``d``."""
    length = d.length
    if d.type in ("text", "ntext", "image", "xml"):
        length = -1
    precision = d.precision
    scale = d.scale
    if d.type in ("time", "datetime2", "datetimeoffset") and scale is None:
        scale = 7
    collation = None
    if d.type in COLLATED_TYPES:
        from mctm_replica.standin.engine import collations

        collation = collations.of(d.collation).name
    return Column(name=name, type=d.type, length=length, precision=precision, scale=scale,
                  nullable=nullable, identity=identity, collation=collation)


def decl_from_duckdb(type_name: str) -> Decl:
    """Fallback declaration for an expression typed only by DuckDB."""
    t = type_name.upper()
    if t.startswith("DECIMAL"):
        p, s = t[8:-1].split(",")
        return Decl("decimal", precision=int(p), scale=int(s))
    mapping = {
        "BOOLEAN": Decl("bit"), "UTINYINT": Decl("tinyint"), "TINYINT": Decl("smallint"),
        "SMALLINT": Decl("smallint"), "USMALLINT": Decl("int"), "INTEGER": Decl("int"),
        "UINTEGER": Decl("bigint"), "BIGINT": Decl("bigint"),
        "HUGEINT": Decl("decimal", precision=38, scale=0),
        "UBIGINT": Decl("decimal", precision=20, scale=0), "DOUBLE": Decl("float"),
        "FLOAT": Decl("real"), "DATE": Decl("date"), "TIMESTAMP": Decl("datetime2", scale=7),
        "TIMESTAMP_NS": Decl("datetime2", scale=7), "TIMESTAMP_MS": Decl("datetime2", scale=7),
        "TIMESTAMP_S": Decl("datetime2", scale=7),
        "TIMESTAMP WITH TIME ZONE": Decl("datetimeoffset", scale=7), "TIME": Decl("time", scale=7),
        "BLOB": Decl("varbinary", length=-1), "UUID": Decl("uniqueidentifier"),
        "VARCHAR": Decl("nvarchar", length=-1), '"NULL"': Decl("int"), "NULL": Decl("int"),
    }
    if t in mapping:
        return mapping[t]
    from mctm_replica.standin.contract import SqlError

    raise SqlError(50000, f"The SQL Server stand-in does not support result columns of DuckDB type {type_name}.")
