"""Collations: the code page char/varchar/text are stored in, and the TDS bytes.

A SQL Server collation name is ``<locale>[_<version>]_<flags>`` (Windows
collations such as ``Japanese_XJIS_140_CI_AS``, ``Latin1_General_100_CI_AS_SC_UTF8``)
or one of the legacy ``SQL_*`` names. What matters to a client is the 5-byte
collation in COLMETADATA and ENVCHANGE (MS-TDS 2.2.5.1.2): 20 bits of LCID, the
comparison flags (ignore case/accent/width/kana, binary, binary2, UTF-8), 4 bits
of version and a sort id (non-zero only for SQL collations). FreeTDS, pytds and
tedious pick the code page to decode varchar bytes from the LCID (or sort id),
and UTF-8 from the flag.

The stand-in stores char/varchar/text values in DuckDB as Unicode text already
reduced to what the code page can hold (``fit``), and counts and limits their
length in that code page's bytes (``byte_length``).
"""

from __future__ import annotations

import functools
import struct
from contextvars import ContextVar
from dataclasses import dataclass

from mctm_replica.standin.contract import SqlError

# Windows locales the stand-in knows: name -> (LCID, code page).
_LOCALES = {
    "latin1_general": (0x0409, 1252),
    "japanese": (0x0411, 932),
    "japanese_xjis": (0x0411, 932),
}
# Collation version suffix -> the TDS version nibble.
_VERSIONS = {"": 0, "90": 1, "100": 2, "140": 3}
_FLAG_TOKENS = {"ci", "cs", "ai", "as", "ks", "ws", "vss", "sc", "utf8", "bin", "bin2"}
# SQL collations: lower name -> (canonical name, LCID, sort id). Code page 1252.
_SQL_COLLATIONS = {
    "sql_latin1_general_cp1_ci_as": ("SQL_Latin1_General_CP1_CI_AS", 0x0409, 52),
}


@dataclass(frozen=True)
class Collation:
    name: str
    lcid: int
    code_page: int  # 1252, 932 or 65001 (UTF-8)
    case_sensitive: bool = False
    accent_sensitive: bool = True
    kana_sensitive: bool = False
    width_sensitive: bool = False
    binary: bool = False  # _BIN or _BIN2: compares code points
    version: int = 0
    sort_id: int = 0

    @property
    def codec(self) -> str:
        return {1252: "cp1252", 932: "cp932", 65001: "utf-8"}[self.code_page]

    @property
    def comparison_style(self) -> int:
        """COLLATIONPROPERTY(..., 'ComparisonStyle'): the Windows NORM_IGNORE* bits."""
        if self.binary:
            return 0
        return ((0 if self.case_sensitive else 1) | (0 if self.accent_sensitive else 2)
                | (0 if self.kana_sensitive else 0x10000) | (0 if self.width_sensitive else 0x20000))

    def tds_bytes(self) -> bytes:
        """The 5-byte TDS COLLATION: LCID + flags + version (little-endian), sort id."""
        flags = 0
        if self.binary:
            flags |= 0x10 if not self.name.lower().endswith("bin2") else 0x20
        else:
            flags |= (0 if self.case_sensitive else 0x01) | (0 if self.accent_sensitive else 0x02)
            flags |= (0 if self.width_sensitive else 0x04) | (0 if self.kana_sensitive else 0x08)
        if self.code_page == 65001:
            flags |= 0x40
        word = (self.lcid & 0xFFFFF) | (flags << 20) | (self.version << 28)
        return struct.pack("<IB", word, self.sort_id)

    def fit(self, text: str) -> str:
        """``text`` as this code page holds it: '?' for each character it lacks."""
        if text.isascii() or self.code_page == 65001:
            return text
        return text.encode(self.codec, "replace").decode(self.codec)

    def encode(self, text: str) -> bytes:
        return text.encode() if text.isascii() else text.encode(self.codec, "replace")

    def byte_length(self, text: str) -> int:
        if text.isascii() or self.code_page == 1252:
            return len(text)
        return len(text.encode(self.codec, "replace"))

    def byte_prefix(self, text: str, n: int) -> str:
        """The longest prefix of whole characters that fits in ``n`` bytes."""
        if self.byte_length(text) <= n:
            return text
        out, used = [], 0
        for ch in text:
            w = self.byte_length(ch)
            if used + w > n:
                break
            out.append(ch)
            used += w
        return "".join(out)


SERVER_COLLATION = Collation("SQL_Latin1_General_CP1_CI_AS", 0x0409, 1252, sort_id=52)

def _unsupported(name: str, why: str) -> SqlError:
    return SqlError(
        50000,
        f"The SQL Server stand-in does not support collation '{name}' ({why}). It has "
        "SQL_Latin1_General_CP1_CI_AS, the Latin1_General, Japanese and Japanese_XJIS Windows "
        "collations (_CI_AS, optionally _KS/_WS/_SC/_UTF8, with version 90/100/140 where SQL Server "
        "has one) and their _BIN/_BIN2 forms on expressions.",
    )


@functools.lru_cache(maxsize=256)  # names repeat on every statement and result set
def lookup(name: str) -> Collation:
    """The collation called ``name`` (any case), or error 50000 naming it."""
    low = name.lower()
    if low in _SQL_COLLATIONS:
        canon, lcid, sort_id = _SQL_COLLATIONS[low]
        return Collation(canon, lcid, 1252, sort_id=sort_id)
    if low.startswith("sql_"):
        raise _unsupported(name, "of the SQL collations only SQL_Latin1_General_CP1_CI_AS exists here")
    locale = next((loc for loc in sorted(_LOCALES, key=len, reverse=True) if low.startswith(loc + "_")), None)
    if locale is None:
        raise _unsupported(name, "unknown locale")
    tokens = low[len(locale) + 1:].split("_")
    version = tokens.pop(0) if tokens and tokens[0] in _VERSIONS else ""
    if not tokens or any(t not in _FLAG_TOKENS for t in tokens):
        raise _unsupported(name, "unknown option")
    if locale == "japanese_xjis" and version not in ("100", "140"):
        raise _unsupported(name, "Japanese_XJIS exists only as _100 and _140")
    lcid, cp = _LOCALES[locale]
    binary = "bin" in tokens or "bin2" in tokens
    utf8 = "utf8" in tokens
    if utf8 and version not in ("100", "140"):
        raise _unsupported(name, "_UTF8 needs a version 100 or 140 collation")
    canon = _canonical(name, locale, version, tokens)
    return Collation(canon, lcid, 65001 if utf8 else cp,
                     case_sensitive="cs" in tokens, accent_sensitive="ai" not in tokens,
                     kana_sensitive="ks" in tokens, width_sensitive="ws" in tokens,
                     binary=binary, version=_VERSIONS[version])


def _canonical(name: str, locale: str, version: str, tokens: list[str]) -> str:
    """SQL Server's own spelling (catalog views show it whatever the DDL wrote)."""
    loc = {"latin1_general": "Latin1_General", "japanese": "Japanese", "japanese_xjis": "Japanese_XJIS"}[locale]
    parts = [loc] + ([version] if version else []) + [t.upper() for t in tokens]
    return "_".join(parts)


def try_lookup(name: str | None) -> Collation | None:
    if name is None:
        return None
    try:
        return lookup(name)
    except SqlError:
        return None


#: The collation of the database a session is using, for values whose type names no
#: collation (literals, CAST to varchar): set by the engine session before translating.
CURRENT_DEFAULT: ContextVar[Collation] = ContextVar("standin_default_collation", default=SERVER_COLLATION)


def of(name: str | None) -> Collation:
    """A declared collation (None = the current database's)."""
    if name is None:
        return CURRENT_DEFAULT.get()
    return lookup(name)


# DuckDB SQL for a string's length in its code page's bytes.
def byte_length_sql(x: str, coll: Collation) -> str:
    if coll.code_page == 1252:
        return f"length({x})"
    if coll.code_page == 65001:
        return f"strlen({x})"
    # cp932: ASCII and half-width katakana are one byte, every other character two
    return f"(length({x}) + length(regexp_replace({x}, '[\\x{{00}}-\\x{{7F}}\\x{{FF61}}-\\x{{FF9F}}]', '', 'g')))"


def register_udfs(con) -> None:
    """Python functions DuckDB calls for code pages without a regular-expression form."""
    import duckdb

    def fit(x: str, cp: int) -> str:
        return _BY_CP[cp].fit(x)

    def prefix(x: str, n: int, cp: int) -> str:
        return _BY_CP[cp].byte_prefix(x, n)

    def text_bytes(x: str, cp: int) -> bytes:
        # CAST(string AS varbinary): nvarchar gives UTF-16LE (cp 1200), varchar its code page's bytes
        return x.encode("utf-16-le") if cp == UTF16_CODE_PAGE else _BY_CP[cp].encode(x)

    try:
        con.create_function("__text_bytes", text_bytes, ["VARCHAR", "INTEGER"], "BLOB",
                            null_handling="default", side_effects=False)
        con.create_function("__cp_fit", fit, ["VARCHAR", "INTEGER"], "VARCHAR",
                            null_handling="default", side_effects=False)
        con.create_function("__cp_left", prefix, ["VARCHAR", "BIGINT", "INTEGER"], "VARCHAR",
                            null_handling="default", side_effects=False)
    except duckdb.Error:  # already registered on this instance
        pass


_BY_CP = {1252: SERVER_COLLATION, 932: Collation("Japanese_CI_AS", 0x0411, 932),
          65001: Collation("Latin1_General_100_CI_AS_SC_UTF8", 0x0409, 65001, version=2)}


# Windows' number for UTF-16LE, the encoding of nchar/nvarchar/ntext
UTF16_CODE_PAGE = 1200


def text_bytes_sql(x: str, unicode: bool, collation: str | None) -> str:
    """DuckDB SQL: the bytes SQL Server holds for string ``x`` (CAST(x AS varbinary))."""
    if unicode:
        return f"__text_bytes({x}, {UTF16_CODE_PAGE})"
    cp = of(collation).code_page
    return f"encode({x})" if cp == 65001 else f"__text_bytes({x}, {cp})"


def code_page_changes(src, dst) -> bool:
    """Whether converting Decl ``src`` to Decl ``dst`` moves char/varchar/text between code pages."""
    code_page_types = ("char", "varchar", "text")
    if src is None or src.type not in code_page_types or dst.type not in code_page_types:
        return False
    return of(src.collation).code_page != of(dst.collation).code_page


def fit_sql(x: str, coll: Collation) -> str:
    """DuckDB SQL: ``x`` reduced to what ``coll``'s code page holds."""
    if coll.code_page == 1252:
        return f"__cp1252({x})"
    if coll.code_page == 65001:
        return x
    return f"__cp_fit({x}, {coll.code_page})"


def left_sql(x: str, n: int, coll: Collation) -> str:
    """DuckDB SQL: the longest prefix of ``x`` within ``n`` bytes of ``coll``'s code page."""
    if coll.code_page == 1252:
        return f"left({x}, {n})"
    return f"__cp_left({x}, {n}, {coll.code_page})"


def codec_for_tds(raw: bytes) -> str:
    """The codec of varchar bytes a client tagged with these 5 TDS collation bytes."""
    if len(raw) < 5:
        return "cp1252"
    word, sort_id = struct.unpack("<IB", raw[:5])
    if word & (0x40 << 20):
        return "utf-8"
    if sort_id:  # SQL collations: the ones here are all code page 1252
        return "cp1252"
    return {0x0411: "cp932"}.get(word & 0xFFFF, "cp1252")
