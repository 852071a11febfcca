"""Tools nobody on the project wrote, run as their users run them against the stand-in.

Used by the peer tests (mctm_replica_tests/integration/test_peers.py) and by the
benchmark, so both measure the same thing.
"""
