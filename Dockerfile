# The autoscaler on the official Airflow 3.3 image.
#   docker build -t airflow-meta-autoscaler .
# The package is installed (not copied into dags/), so `import autoscaler` works in every
# Airflow component, including the triggerer, which does not import from the DAG bundle.
FROM apache/airflow:3.3.2-python3.11

USER root
WORKDIR /opt/autoscaler
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root sql ./sql

USER airflow
# Same locked versions as the tests; the embedded PostgreSQL (a development aid) is not
# installed: deployments point AUTOSCALER_DB_URL or the autoscaler_db connection at a real one.
RUN pip install --no-cache-dir -c constraints.txt /opt/autoscaler

COPY --chown=airflow:root dags/ ${AIRFLOW_HOME}/dags/
COPY --chown=airflow:root plugins/ ${AIRFLOW_HOME}/plugins/
WORKDIR ${AIRFLOW_HOME}
