# mlgate image: the official Airflow image plus Java (for spark-submit) and the pinned lock.
# Minimal for now: the full multi-service stack (Spark cluster, MLflow server, Mailpit)
# comes with the deployment issue.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

USER airflow
COPY --chown=airflow:root requirements.txt /opt/mlgate/requirements.txt
RUN pip install --no-cache-dir -r /opt/mlgate/requirements.txt
COPY --chown=airflow:root pyproject.toml README.md /opt/mlgate/
COPY --chown=airflow:root include /opt/mlgate/include
COPY --chown=airflow:root dags /opt/mlgate/dags
COPY --chown=airflow:root plugins /opt/mlgate/plugins
COPY --chown=airflow:root scripts /opt/mlgate/scripts
RUN pip install --no-cache-dir --no-deps -e /opt/mlgate

ENV MLGATE_STATE=/opt/mlgate/state \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/mlgate/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/mlgate/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
WORKDIR /opt/mlgate
