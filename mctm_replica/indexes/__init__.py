"""The source's indexes on the replica (README "Indexes on the replica").

:mod:`.spec` parses ``indexes:`` in tables.yaml; :mod:`.filters` translates a filtered
index's predicate; :mod:`.desired` turns the source's indexes (read by
:mod:`mctm_replica.resources.mssql_indexes`) and the extra ones into the replica's index
list; :mod:`.replica` reads, creates and drops them on PostgreSQL.
"""
