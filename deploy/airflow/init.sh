#!/usr/bin/env bash
# One-shot set-up of the compose stack (service airflow-init), before any other Airflow
# service starts: the metadata schema, the admin's password from .env, the shared state
# folders, Spark's secret, and the demo pipelines' source tables (skipped when they already have data).
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
# Spark's shared secret (spark.authenticate): the committed defaults plus the secret from
# .env, readable by the `airflow` user only; the master, workers and drivers all read it.
install -d -m 700 "$MLGATE_STATE" "$SPARK_CONF_DIR"
{
  cat /opt/mlgate/deploy/spark/spark-defaults.conf
  echo "spark.authenticate             true"
  echo "spark.authenticate.secret      $SPARK_AUTH_SECRET"
  echo "spark.ui.killEnabled           false"
} > "$SPARK_CONF_DIR/spark-defaults.conf.tmp"
mv "$SPARK_CONF_DIR/spark-defaults.conf.tmp" "$SPARK_CONF_DIR/spark-defaults.conf"
umask 022
mkdir -p "$MLGATE_STATE/pipelines" "$MLFLOW_DFS_TMP"
# Each shipped demo pipeline's data, up to yesterday (UTC): the day the scheduler's first
# run covers once unpaused. Both demos write their own tables into the one source database.
for pipeline in $(python -c "from mlgate.demo import DEMOS; print(*DEMOS)"); do
  mlgate generate --pipeline "$pipeline" --if-missing --quiet --end-date "$(date -u -d yesterday +%F)"
done
