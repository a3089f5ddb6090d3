# mlgate image: every mlgate container of docker-compose.yaml runs it (Airflow components,
# the MLflow server, the Spark master and workers), so driver and executors share one Spark
# (the distribution inside pyspark), one Python and one mlgate package.
#
# Base: the official Airflow image, slim flavour (Airflow without the provider bundle). Its
# own Python environment is pinned to Airflow's constraint file, which differs from our lock
# in many versions; installing the lock on top would leave a mix that neither set was tested
# with. So the lock goes, whole and unmodified, into a virtualenv of its own that comes
# first on the PATH: `airflow`, `mlflow`, `spark-class` and `python` are the lock's. The
# image contributes the OS, the `airflow` user, dumb-init and the entrypoint.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:slim-${AIRFLOW_VERSION}-python${PYTHON_VERSION}

USER root
# Java for Spark (driver in the scheduler container, master/workers/executors elsewhere);
# curl for health checks; procps because Spark's scripts call `ps`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17
ENV JAVA_HOME=/usr/lib/jvm/java-17
RUN python -m venv /opt/mlgate/venv && chown -R airflow:0 /opt/mlgate
# Mount points of compose's named volumes: a new volume takes the owner of the image's
# folder, so these must exist and belong to `airflow` here.
RUN mkdir -p /opt/airflow/auth /mlflow/artifacts /mlflow/auth \
 && chown airflow:0 /opt/airflow/auth /mlflow/artifacts /mlflow/auth \
 && chmod 700 /opt/airflow/auth /mlflow/auth

USER airflow
ENV VIRTUAL_ENV=/opt/mlgate/venv \
    PATH=/opt/mlgate/venv/bin:${PATH} \
    PIP_USER=false
COPY --chown=airflow:0 requirements.txt /opt/mlgate/requirements.txt
# uv (pinned in the lock) installs exactly the lock; `sync` also removes anything else.
RUN pip install --no-cache-dir "$(grep '^uv==' /opt/mlgate/requirements.txt)" \
 && uv pip sync --no-cache --python /opt/mlgate/venv/bin/python /opt/mlgate/requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/mlgate/
COPY --chown=airflow:0 include /opt/mlgate/include
COPY --chown=airflow:0 dags /opt/mlgate/dags
COPY --chown=airflow:0 plugins /opt/mlgate/plugins
COPY --chown=airflow:0 scripts /opt/mlgate/scripts
COPY --chown=airflow:0 deploy /opt/mlgate/deploy
# `mlgate pipelines sync`: the DAG file of each pipeline in include/pipelines/ (generated,
# not in git); the pipelines are part of the image, so adding one means rebuilding it.
RUN uv pip install --no-cache --python /opt/mlgate/venv/bin/python --no-deps -e /opt/mlgate \
 && python -c "import airflow, mlflow, pyspark, mlgate; print('airflow', airflow.__version__, 'pyspark', pyspark.__version__)" \
 && mkdir -p /opt/mlgate/state \
 && mlgate pipelines sync

ENV MLGATE_STATE=/opt/mlgate/state \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/mlgate/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/mlgate/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYSPARK_PYTHON=/opt/mlgate/venv/bin/python
WORKDIR /opt/mlgate
