"""The source's side of ``rows_match: checksum`` (:mod:`mctm_replica.verify.checksum`):
segment sums and the conditions that narrow a read to differing segments. The row's
canonical text and hash come from :mod:`mctm_replica.tsql.canonical`.

Segment parameters: ``base, width`` for the range layout (``(k - base) / width``, integer
division truncating toward zero, as PostgreSQL's); ``buckets, buckets`` for the bucket
layout (the first 4 bytes of a hash, unsigned, modulo ``buckets``)."""

from __future__ import annotations

from mctm_replica.tsql.canonical import tsql_part


def segment(k: str, layout: str) -> str:
    """The segment number of key expression ``k`` (two ``%s``)."""
    if layout == "range":
        return f"({k} - %s) / %s"
    u = f"CAST(CAST({k} AS binary(4)) AS bigint)"  # first 4 hash bytes, unsigned
    return f"({u} - ({u} / %s) * %s)"


def sums_sql(*, layout: str, key: str, row_hash: str, table: str, where: str, keyed: bool) -> str:
    """One row per segment: its number, row count, sum of the rows' hash values and, for the
    range layout, its lowest and highest key. ``key`` is the key expression (a column, or a
    hash for buckets; ignored for a keyless table, which buckets by ``row_hash``), ``table``
    a table reference, ``where`` a condition clause or empty."""
    span = ", MIN(k), MAX(k)" if layout == "range" else ", 0, 0"
    # the hash's value next to the hash (the stand-in then reads the digest's bytes as a
    # number instead of printing them back to hex)
    if keyed:
        rows = f"SELECT {key} AS k, {tsql_part(row_hash)} AS v FROM {table}{where}"
    else:  # a keyless table buckets by the row's own hash: compute it once
        rows = f"SELECT h AS k, {tsql_part('h')} AS v FROM (SELECT {row_hash} AS h FROM {table}{where}) AS z"
    return (f"SELECT seg, COUNT_BIG(*), SUM(v){span} FROM (SELECT {segment('k', layout)} AS seg, k, v "
            f"FROM ({rows}) AS y) AS x GROUP BY seg")


def key_between(k: str) -> str:
    """`` WHERE k BETWEEN %s AND %s``."""
    return f" WHERE {k} BETWEEN %s AND %s"


def segment_in(k: str, layout: str, count: int) -> str:
    """`` WHERE <segment of k> IN (%s, ...)``: the segment's own two parameters come first."""
    return f" WHERE {segment(k, layout)} IN ({', '.join(['%s'] * count)})"
