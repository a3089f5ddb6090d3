#!/usr/bin/env bash
# One-shot set-up of the compose stack (service airflow-init), before any other Airflow
# service starts: the metadata schema, the admin's password from .env, the shared state
# folders, and the demo source database (skipped when it already has data).
set -euo pipefail
airflow db migrate
install -d -m 700 "$(dirname "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")"
umask 077
python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as handle:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, handle)
PY
umask 022
mkdir -p "$MLGATE_STATE/lake" "$MLGATE_STATE/runs" "$MLGATE_STATE/features" "$MLFLOW_DFS_TMP"
# Data up to yesterday (UTC): the day the scheduler's first run covers once unpaused.
mlgate generate --if-missing --quiet --end-date "$(date -u -d yesterday +%F)"
