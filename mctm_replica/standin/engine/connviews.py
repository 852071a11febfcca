"""``sys.dm_exec_connections`` from the transport's per-connection facts.

The TDS server records each logged-in connection in ``engine.connections``
(mctm_replica.standin.connections); this view reads it, so ``encrypt_option``
and ``protocol_version`` say what the connection really negotiated.
"""

from __future__ import annotations

from mctm_replica.standin.engine.decl import Decl

INT = Decl("int")
NV40 = Decl("nvarchar", length=40)
ADDR = Decl("varchar", length=48)
# endpoint_id of SQL Server's "TSQL Default TCP" endpoint.
TSQL_DEFAULT_TCP = 4


def dm_exec_connections(session) -> tuple[list[tuple[str, Decl]], list[tuple]]:
    cols = [("session_id", INT), ("most_recent_session_id", INT), ("connect_time", Decl("datetime")),
            ("net_transport", NV40), ("protocol_type", NV40), ("protocol_version", INT), ("endpoint_id", INT),
            ("encrypt_option", NV40), ("auth_scheme", NV40), ("node_affinity", Decl("smallint")),
            ("net_packet_size", INT), ("client_net_address", ADDR), ("client_tcp_port", INT),
            ("local_net_address", ADDR), ("local_tcp_port", INT)]
    registry = getattr(session.engine, "connections", None)
    infos = registry.all() if registry is not None else []
    rows = [(c.spid, c.spid, c.connect_time.replace(microsecond=c.connect_time.microsecond // 1000 * 1000), "TCP",
             "TSQL", c.protocol_version, TSQL_DEFAULT_TCP, "TRUE" if c.encrypted else "FALSE", "SQL", 0,
             c.packet_size, c.client_address, c.client_port, c.local_address, c.local_port)
            for c in infos]
    return cols, rows
