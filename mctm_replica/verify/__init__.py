"""``rows_match`` by checksums: both servers hash a canonical form of every row and sum the
hashes per segment of the key; only segments whose sums differ are compared row by row
(:mod:`mctm_replica.content_check`). See :mod:`mctm_replica.verify.checksum`.
"""
