# mctm_replica: one image, three roles (chosen by the command; see docker-compose.yaml):
#   code server  dagster code-server start -h 0.0.0.0 -p 4000 -m mctm_replica.definitions --location-name mctm_replica
#   webserver    dagster-webserver -h 0.0.0.0 -p 3000 -w deploy/workspace.yaml
#   daemon       dagster-daemon run -w deploy/workspace.yaml
# The lean install only: no stand-in, no embedded PostgreSQL, no test tools (those are the
# `local` and `dev` extras). No secret is baked in: every connection setting comes from the
# environment at run time (.env.example lists them), and dagster.yaml reads its own from there.
# Not built in this project's CI (no container engine there); the processes it runs are
# tested as such by mctm_replica_tests/topology/.

ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with the project and its runtime dependencies -----------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# Every runtime dependency ships manylinux wheels (pymssql bundles FreeTDS, psycopg2-binary
# bundles libpq); the compiler is here only for a platform without a wheel, and it stays
# in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY mctm_replica ./mctm_replica
# `.` without extras: the production install (not editable; the source is not copied on).
RUN pip install --upgrade pip && pip install .

# --- runtime: Python, the virtualenv, two config files, an unprivileged user ----------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_CODE_SERVER_HOST=code-server \
    DAGSTER_CODE_SERVER_PORT=4000
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster
COPY --from=build /opt/venv /opt/venv
WORKDIR /opt/dagster/app
# The instance (storage on PostgreSQL from DAGSTER_PG_* variables) and the gRPC workspace
# (DAGSTER_CODE_SERVER_HOST/PORT); both read only the environment.
COPY --chown=root:root dagster.yaml /opt/dagster/home/dagster.yaml
COPY --chown=root:root deploy/workspace.yaml ./deploy/workspace.yaml
# DAGSTER_HOME is also where Dagster writes local artifacts (compute logs, .telemetry):
# owned by the service user; the config file itself stays read-only to it.
RUN chown dagster:dagster /opt/dagster/home
USER 10001:10001
EXPOSE 3000 4000
# The code server is the default role; compose and the cluster manifests pass the others.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "mctm_replica.definitions", "--location-name", "mctm_replica"]
