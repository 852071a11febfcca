"""Every T-SQL text mctm_replica sends to SQL Server, or shows a DBA to run, is built here.

By concern:

* :mod:`~mctm_replica.tsql.quoting`: identifiers (brackets, ``]`` doubled) and table references;
* :mod:`~mctm_replica.tsql.reads`: the copy's and the checks' reads -- SELECT, counts, key
  spans, watermark and partition predicates;
* :mod:`~mctm_replica.tsql.catalog`: what the source says about itself -- columns, keys,
  indexes, row estimates, version, collation, encryption, isolation, permissions;
* :mod:`~mctm_replica.tsql.change_tracking`: CHANGETABLE reads and Change Tracking's state;
* :mod:`~mctm_replica.tsql.csv_lines`: rows formatted as CSV lines by SQL Server;
* :mod:`~mctm_replica.tsql.canonical`: ``rows_match``'s canonical row text, with the
  PostgreSQL twin of each form beside it (the two must print the same string), and
  :mod:`~mctm_replica.tsql.checksums`: the source's segment sums;
* :mod:`~mctm_replica.tsql.probes`: the read check's literal values of every type.

Values always travel as parameters (``%s``), never inside the text.
``mctm_replica_tests/unit/test_tsql_one_place.py`` fails when T-SQL is built anywhere else
(outside this package and the SQL Server stand-in).
"""
