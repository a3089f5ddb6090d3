#!/usr/bin/env bash
# One-shot set-up of the compose stack (service airflow-init), before any other Airflow
# service starts: the metadata schema, the admin's password from .env, the shared state
# folders, and the demo pipelines' source tables (skipped when they already have data).
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
mkdir -p "$MLGATE_STATE/pipelines" "$MLFLOW_DFS_TMP"
# Each shipped demo pipeline's data, up to yesterday (UTC): the day the scheduler's first
# run covers once unpaused. Both demos write their own tables into the one source database.
for pipeline in $(python -c "from mlgate.demo import DEMOS; print(*DEMOS)"); do
  mlgate generate --pipeline "$pipeline" --if-missing --quiet --end-date "$(date -u -d yesterday +%F)"
done
