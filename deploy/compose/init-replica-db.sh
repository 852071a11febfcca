#!/bin/bash
# First start of the bundled PostgreSQL (docker-entrypoint-initdb.d): the replica's database,
# owned by its own login role (REPLICA_USER), separate from Dagster's (POSTGRES_USER).
# Values reach SQL only as psql variables (:'v' literal, :"v" identifier), never spliced in.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$REPLICA_DB" -v role="$REPLICA_USER" -v pw="$REPLICA_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
