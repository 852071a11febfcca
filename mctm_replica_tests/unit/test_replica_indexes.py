"""Pure logic of replica indexes: `indexes:` in tables.yaml, filter translation, names, the index plan."""

from __future__ import annotations

import psycopg2.extensions
import pytest

from mctm_replica.config import ConfigError, TableSpec, parse_config
from mctm_replica.indexes.desired import build_index_plan, index_name
from mctm_replica.indexes.filters import Untranslatable, translate_filter
from mctm_replica.indexes.spec import ExtraIndex, IndexesSpec
from mctm_replica.plan import build_plan
from mctm_replica.resources.mssql import SourceColumn, SourceTable
from mctm_replica.resources.mssql_indexes import SourceIndex
from mctm_replica.typemap import SourceType

COLUMNS = {"status": ("status", "smallint"), "iccid": ("iccid", "character varying(20)"),
           "isactive": ("is_active", "boolean"), "lastseen": ("last_seen", "timestamp(7) with time zone"),
           "activatedon": ("activated_on", "date"), "odd]name": ("odd_name", "integer")}


def text(composed) -> str:
    """A Composed as SQL text; sql.Literal needs an encoding only, so no connection is used."""
    out = []
    for part in composed.seq:
        if isinstance(part, psycopg2.sql.Identifier):
            out.append('"' + part.strings[0] + '"')
        elif isinstance(part, psycopg2.sql.Literal):
            out.append(psycopg2.extensions.adapt(part.wrapped).getquoted().decode())
        else:
            out.append(part.string)
    return "".join(out)


@pytest.mark.parametrize("stored, expected", [
    ("([Status]=(1))", '( "status" = 1 )'),
    ("([ICCID] IS NOT NULL)", '( "iccid" IS NOT NULL )'),
    ("([IsActive]=(1) AND ([Status]=(1) OR [Status]=(2)))",
     '( "is_active" = true AND ( "status" = 1 OR "status" = 2 ) )'),
    ("([IsActive]=(0))", '( "is_active" = false )'),
    ("([ICCID]=N'89''81')", "( \"iccid\" = '89''81' )"),
    ("([ActivatedOn]>='2024-01-01')", "( \"activated_on\" >= '2024-01-01' )"),
    ("([Status]<>(-1) AND NOT [Status]!<(9))", '( "status" <> -1 AND NOT "status" >= 9 )'),
    ("([odd]]name]>(0.5))", '( "odd_name" > 0.5 )'),
])
def test_filters_that_translate(stored, expected):
    assert text(translate_filter(stored, COLUMNS)) == expected


@pytest.mark.parametrize("stored, reason", [
    ("([LastSeen]>getdate())", "`getdate` (a function or keyword) has no translation"),
    ("([LastSeen]>'2024-01-01')", "a timestamp(7) with time zone column is compared with the string '2024-01-01'"),
    ("([Gone]=(1))", "it uses column `Gone`, which is not copied to the replica"),
    ("([IsActive]=(2))", "a bit column is compared with 2"),
    ("([ICCID]=(1))", "a character varying(20) column is compared with the number 1"),
    ("([Status]+(1)>(2))", "cannot read `+(1)>(2))` in the filter"),
    ("([Status] BETWEEN (1) AND (2))", "`BETWEEN` (a function or keyword) has no translation"),
])
def test_filters_that_do_not(stored, reason):
    with pytest.raises(Untranslatable) as e:
        translate_filter(stored, COLUMNS)
    assert str(e.value) == reason


def test_index_names_are_derived_deterministic_and_fit_63_bytes():
    assert index_name("mctm_module", "IX_mctm_module_ICCID") == "mctm_module_ix_mctm_module_iccid"
    long = index_name("a" * 40, "IX_" + "b" * 40)
    assert len(long.encode()) == 63 and long == index_name("a" * 40, "IX_" + "b" * 40)
    assert long != index_name("a" * 40, "IX_" + "b" * 39 + "c")  # cut alike, hashed apart
    assert len(index_name("顧客" * 10, "索引" * 10).encode()) <= 63  # cut on a character boundary
    assert index_name("t", "IX_a", hashed=True) != index_name("t", "ix_A", hashed=True)


def _spec(indexes: IndexesSpec = IndexesSpec(), **kw) -> TableSpec:
    return TableSpec(source="src", source_schema="dbo", source_table="sim", target_schema="public",
                     target_table="sim", indexes=indexes, **kw)


SOURCE = SourceTable("dbo", "sim", [
    SourceColumn("id", SourceType("int"), False, 1), SourceColumn("ICCID", SourceType("varchar", 20), True, 2),
    SourceColumn("Secret", SourceType("varchar", 10), True, 3),
    SourceColumn("Notes", SourceType("nvarchar", -1), True, 4)], ["id"])


def test_index_plan_leaves_out_what_it_cannot_create_with_the_reason():
    spec = _spec(exclude=("Secret",))
    plan = build_index_plan(spec, build_plan(spec, SOURCE), [
        SourceIndex("IX_a", "NONCLUSTERED", False, False, None, False, [("ICCID", True)], ["id", "Notes"]),
        SourceIndex("ix_A", "NONCLUSTERED", True, True, None, False, [("ICCID", False)]),
        SourceIndex("IX_secret", "NONCLUSTERED", False, False, None, False, [("id", False)], ["Secret"]),
        SourceIndex("CX", "CLUSTERED", False, False, None, False, [("ICCID", False)]),
        SourceIndex("IX_off", "NONCLUSTERED", False, False, None, True, [("ICCID", False)]),
        SourceIndex("CS", "NONCLUSTERED_COLUMNSTORE", False, False, None, False, [("ICCID", False)]),
    ])
    a, b = plan.wanted
    assert (a.columns, a.unique, b.columns, b.unique) == ([("iccid", True)], False, [("iccid", False)], True)
    assert a.name != b.name and a.name.startswith("sim_ix_a_") and b.name.startswith("sim_ix_a_")
    assert a.include == ["id"]
    assert plan.notes == ["source index [IX_a]: created without INCLUDE column(s) ['Notes']: a long value of an "
                          "unbounded type would exceed PostgreSQL's index row size and fail a refresh"]
    assert plan.not_created == [
        "source index [IX_secret]: column(s) ['Secret'] are not copied to the replica",
        "source index [CX]: a CLUSTERED index; only non-clustered (rowstore) indexes are created (the replica's "
        "primary key comes from the source's)",
        "source index [IX_off]: disabled on the source",
        "source index [CS]: a NONCLUSTERED_COLUMNSTORE index; only non-clustered (rowstore) indexes are created "
        "(the replica's primary key comes from the source's)",
    ]


def test_extra_indexes_resolve_source_or_replica_names_and_refuse_unknown_ones():
    spec = _spec(IndexesSpec(extra=(ExtraIndex((("ICCID", False), ("id", True))), ExtraIndex((("iccid", False),),
                                                                                             name="mine"))))
    plan = build_index_plan(spec, build_plan(spec, SOURCE), [])
    assert [(i.name, i.columns) for i in plan.wanted] == [
        ("sim_iccid_id_extra", [("iccid", False), ("id", True)]), ("mine", [("iccid", False)])]
    spec = _spec(IndexesSpec(extra=(ExtraIndex((("nope", False),)),)))
    with pytest.raises(ConfigError, match=r"`indexes.extra` entry 1: column `nope` is not a column of the replica"):
        build_index_plan(spec, build_plan(spec, SOURCE), [])
    spec = _spec(IndexesSpec(extra=(ExtraIndex((("id", False),), name="x"), ExtraIndex((("iccid", False),),
                                                                                         name="x"))))
    with pytest.raises(ConfigError, match="both be named `x`"):
        build_index_plan(spec, build_plan(spec, SOURCE), [])
    assert build_index_plan(_spec(IndexesSpec(enabled=False)), build_plan(_spec(), SOURCE), []).enabled is False


def _yaml(indexes) -> dict:
    return {"sources": {"s": {"env_prefix": "S"}},
            "tables": [{"source": "s", "source_table": "dbo.sim", "target_table": "public.sim", "indexes": indexes}]}


def test_indexes_in_tables_yaml(tmp_path):
    path = tmp_path / "tables.yaml"
    assert parse_config(_yaml("none"), path=path).tables[0].indexes == IndexesSpec(enabled=False)
    got = parse_config(_yaml({"extra": [{"columns": ["a", "b DESC"], "include": "c", "unique": True,
                                         "where": "a > 0", "name": "n"}]}), path=path).tables[0].indexes
    assert got == IndexesSpec(extra=(ExtraIndex((("a", False), ("b", True)), ("c",), True, "a > 0", "n"),))
    for bad, message in [("all", "`indexes` must be `none` or `{extra: [...]}`"),
                         ({"extra": [{"columns": []}]}, "`indexes.extra` entry 1: `columns` must be a non-empty"),
                         ({"extra": [{"columns": ["a"], "unique": "yes"}]}, "`unique` must be true or false"),
                         ({"extra": [{"columns": ["a"], "kind": "gin"}]}, "unknown key(s) ['kind']")]:
        with pytest.raises(ConfigError) as e:
            parse_config(_yaml(bad), path=path)
        assert message in str(e.value) and "table entry 1 (`dbo.sim`)" in str(e.value)


def test_unique_source_indexes_become_deferred_constraints_where_they_can():
    spec = _spec()
    plan = build_index_plan(spec, build_plan(spec, SOURCE), [
        SourceIndex("UX_nn", "NONCLUSTERED", True, False, "([ICCID] IS NOT NULL)", False, [("ICCID", False)]),
        SourceIndex("UX_desc", "NONCLUSTERED", True, False, None, False, [("ICCID", True), ("id", False)]),
        SourceIndex("UX_part", "NONCLUSTERED", True, False, "([id]>(0))", False, [("ICCID", False)]),
        SourceIndex("IX_nn", "NONCLUSTERED", False, False, "([ICCID] IS NOT NULL)", False, [("ICCID", False)]),
    ])
    nn, desc, part, plain = plan.wanted
    assert (nn.unique, nn.deferred, nn.where) == (True, True, None)
    assert (desc.deferred, desc.columns) == (True, [("iccid", False), ("id", False)])
    assert (part.unique, part.deferred, text(part.where)) == (False, False, '( "id" > 0 )')
    assert (plain.unique, plain.deferred, text(plain.where)) == (False, False, '( "iccid" IS NOT NULL )')
    assert plan.notes == [
        "source index [UX_desc]: created ascending (a deferrable unique constraint has no DESC; an index is read "
        "in either direction)",
        "source index [UX_part]: created non-unique (a filtered unique index cannot be a deferred constraint, and "
        "checked row by row it would fail refreshes that move values between rows)"]
