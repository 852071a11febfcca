"""Pure logic: a source's TLS keys in tables.yaml, the FreeTDS section and the PRELOGIN probe."""

from pathlib import Path

import pytest
import yaml

from mctm_replica.config import ConfigError, load_config
from mctm_replica.definitions import mssql_resource
from mctm_replica.resources.freetds import connect_kwargs, section_text
from mctm_replica.resources.prelogin import ENCRYPT_OFF, ENCRYPT_REQ, encryption_option, prelogin_request

TABLE = {"source": "mctm", "source_table": "dbo.customer", "target_table": "public.customer"}


def load(tmp_path: Path, **source):
    p = tmp_path / "tables.yaml"
    p.write_text(yaml.safe_dump({"sources": {"mctm": {"env_prefix": "SQL_SERVER_MCTM", **source}},
                                 "tables": [TABLE]}))
    return load_config(p).sources["mctm"]


def test_defaults_are_freetds_defaults(tmp_path):
    conn = load(tmp_path).connection
    assert (conn.encryption, conn.ca_file, conn.trust_server_certificate, conn.read_only_intent) == (
        "request", None, None, False)
    assert conn.describe() == ("TLS for the login (the session too if the server forces it), "
                               "certificate not validated")


def test_keys_reach_the_resource(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    source = load(tmp_path, encryption="require", ca_file="ca.pem", read_only_intent=True)
    resource = mssql_resource(source)
    assert resource.encryption == "require"
    assert resource.ca_file == str((tmp_path / "ca.pem").resolve())  # relative to tables.yaml
    assert resource.read_only_intent is True
    assert resource.source == "mctm"


@pytest.mark.parametrize(("keys", "named"), [
    ({"encryption": "yes"}, "`encryption` must be one of off, request, require, strict"),
    ({"encryption": "off", "ca_file": "/x.pem"}, "`ca_file` needs an encrypted connection"),
    ({"encryption": "off", "trust_server_certificate": True}, "`trust_server_certificate` needs an encrypted"),
    ({"ca_file": "/x.pem", "trust_server_certificate": True}, "keep one of them"),
    ({"trust_server_certificate": False}, "`trust_server_certificate: false` needs `ca_file`"),
    ({"encryption": "strict"}, "`encryption: strict` always validates"),
    ({"read_only_intent": "yes"}, "`read_only_intent` must be true or false"),
    ({"ca_file": ""}, "`ca_file` must be the path"),
])
def test_contradictions_fail_at_load_naming_source_and_key(tmp_path, keys, named):
    with pytest.raises(ConfigError, match="source `mctm`") as e:
        load(tmp_path, **keys)
    assert named in str(e.value)


def test_plain_levels_go_to_pymssql_directly(tmp_path):
    conn = load(tmp_path, encryption="require", read_only_intent=True).connection
    kwargs = connect_kwargs(conn, host="db.example", port=1444)
    assert kwargs == {"server": "db.example", "port": "1444", "encryption": "require",
                      "read_only": True, "tds_version": "7.4"}


def test_strict_and_ca_file_go_through_a_freetds_section(tmp_path, monkeypatch):
    monkeypatch.delenv("FREETDSCONF", raising=False)
    conn = load(tmp_path, encryption="strict", ca_file="system").connection
    kwargs = connect_kwargs(conn, host="db.example", port=1444)
    section = kwargs["server"].split(":")[0]
    assert "encryption" not in kwargs  # pymssql has no `strict`; the section carries it
    conf = Path(__import__("os").environ["FREETDSCONF"]).read_text()
    assert section_text(conn, name=section, host="db.example", port=1444) in conf
    assert "encryption = strict" in conf and "ca file = system" in conf
    assert "password" not in conf.lower()


def test_prelogin_request_and_reply_parse():
    packet = prelogin_request()
    assert packet[0] == 0x12 and int.from_bytes(packet[2:4], "big") == len(packet)
    assert encryption_option(b"\x04" + packet[1:]) == ENCRYPT_OFF  # the same layout as a reply
    reply = bytearray(b"\x04" + packet[1:])
    reply[-1] = ENCRYPT_REQ
    assert encryption_option(bytes(reply)) == ENCRYPT_REQ
    assert encryption_option(b"garbage") is None
