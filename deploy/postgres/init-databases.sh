#!/usr/bin/env bash
# Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d):
# one database per concern, all owned by $POSTGRES_USER. `airflow` is POSTGRES_DB itself.
set -euo pipefail
for db in mlflow source; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE "$db" OWNER "$POSTGRES_USER";
SQL
done
