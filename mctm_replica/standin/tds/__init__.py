"""TDS 7.4 wire format for the SQL Server stand-in.

Split by concern: ``packets`` frames messages, ``handshake`` parses PRELOGIN and
LOGIN7, ``tokens`` writes the non-row tokens, ``colmeta``/``rowenc`` encode
result sets per declared type and ``params`` decodes RPC parameters.
"""

from __future__ import annotations
