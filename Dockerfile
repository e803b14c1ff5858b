# The autoscaler on the official Airflow 3.3 image.
#   docker build -t airflow-meta-autoscaler .
#   docker build --build-arg AIRFLOW_IMAGE=my-registry/airflow:3.3.2 -t ... .   (your own base)
# The package is installed (not copied into dags/), so `import autoscaler` works in every
# Airflow component, including the triggerer, which does not import from the DAG bundle.
# Checked without a Docker engine by tests/integration/test_dockerfile.py, which runs these
# steps as uid 50000 in a copy of the tree (see docs/deploy.md).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
# pip builds the package in its source directory (setuptools writes its egg-info and build/
# there), so the directory itself, not only the files copied into it, must belong to the user
# who runs pip: a WORKDIR created by root left it root-owned and the install failed with
# "could not create 'airflow_meta_autoscaler.egg-info': Permission denied".
# 50000:0 is the image's airflow user and root group.
RUN install -d -o 50000 -g 0 /opt/autoscaler
WORKDIR /opt/autoscaler
COPY --chown=airflow:root pyproject.toml README.md constraints.txt ./
COPY --chown=airflow:root deploy/image_constraints.py ./deploy/
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root sql ./sql

USER airflow
# Constraints: what the image already ships (Airflow and its other providers) stays at the
# version it ships; constraints.txt pins only what the image lacks (facebook-business, ...).
# Applying constraints.txt as it is would move shared packages to this project's versions.
# The embedded PostgreSQL (a development aid) is not installed: deployments point
# AUTOSCALER_DB_URL or the autoscaler_db connection at a real one.
RUN pip freeze | python deploy/image_constraints.py constraints.txt > image-constraints.txt \
    && pip install --no-cache-dir -c image-constraints.txt /opt/autoscaler \
    && rm -rf build

COPY --chown=airflow:root dags/ ${AIRFLOW_HOME}/dags/
COPY --chown=airflow:root plugins/ ${AIRFLOW_HOME}/plugins/
WORKDIR ${AIRFLOW_HOME}
