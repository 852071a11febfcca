"""Parallel key-range reads for full loads (``parallel_readers`` in tables.yaml).

A full load of a table with a single integer key may read the source through N reader
processes, each with its own connection and key range, feeding the one staging COPY of
the load (:mod:`.fanin`). Everything after the read -- staging, the atomic apply, retries
of the whole refresh -- is the single reader's, unchanged.

* :mod:`.settings` -- parsing and checking ``parallel_readers`` / ``max_connections``.
* :mod:`.ranges` -- splitting MIN..MAX into ranges whose ends are open.
* :mod:`.reader` -- the reader process (``python -m mctm_replica.parallel.reader``).
* :mod:`.fanin` -- starting, multiplexing and stopping the readers.
* :mod:`.opener` -- the load's ``open``: the key check, the key span, the readers' job.

This package imports nothing at import time, so a reader process does not load Dagster.
"""
