#!/usr/bin/env bash
# Run docker-compose.yaml where there is no Docker engine and no registry: podman (Debian's,
# rootful, daemonless) runs the compose file as `docker-compose config` resolves it
# (deploy/compose_podman.py), on images built here with buildah:
#   - the autoscaler image from ./Dockerfile, FROM a stand-in for apache/airflow:3.3.2-python3.11
#     (deploy/buildah-check.sh's base, plus curl and an /entrypoint that runs `airflow ARGS`,
#     as the official image's does);
#   - a stand-in for postgres:17: Debian bookworm's PostgreSQL 15 with the official image's
#     POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and a UTF-8 cluster.
# Then the path of docs/getting-started.md in it: the kill switch on, unpause (a shadow run
# starts at once), a 3-hour backfill, the kill switch off and a live run, which must write to
# the sandbox. Opt-in, as root, a few minutes once the base exists; not part of make test.
#
#   sudo bash deploy/compose-check.sh          (KEEP=1 leaves the stack running)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${WORK:-/tmp/autoscaler-buildah}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$WORK/compose"
export CONTAINERS_CONF=$WORK/compose/containers.conf
# No CAP_SYS_RESOURCE here: lower rlimits than podman's defaults; crun refuses this machine's
# hybrid cgroups, runc does not.
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
command -v podman >/dev/null && command -v docker-compose >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman docker-compose >/dev/null
buildah inspect --type image localhost/airflow-standin:3.3.2-python3.11 >/dev/null 2>&1 || bash deploy/buildah-check.sh

cd "$WORK/compose"
cat >entrypoint <<'EOF'
#!/bin/sh
case "$1" in
  bash|sh|python|python3|autoscaler|airflow) exec "$@" ;;
  *) exec airflow "$@" ;;
esac
EOF
cat >Containerfile.airflow <<'EOF'
FROM localhost/airflow-standin:3.3.2-python3.11
USER root
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl >/dev/null && rm -rf /var/lib/apt/lists/*
COPY entrypoint /entrypoint
RUN chmod 755 /entrypoint
USER airflow
ENTRYPOINT ["/entrypoint"]
EOF
cat >pg-entrypoint <<'EOF'
#!/bin/sh
set -e
PGDATA=/var/lib/postgresql/data BIN=/usr/lib/postgresql/15/bin
mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres "$PGDATA" /run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "$POSTGRES_PASSWORD" >/tmp/pw && chown postgres /tmp/pw
  su postgres -c "$BIN/initdb -D $PGDATA -E UTF8 --locale=C.UTF-8 -U $POSTGRES_USER --pwfile=/tmp/pw -A md5" >/dev/null
  echo "host all all 0.0.0.0/0 md5" >>"$PGDATA/pg_hba.conf"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -o '-c listen_addresses=' -w start" >/dev/null
  PGPASSWORD=$POSTGRES_PASSWORD su postgres -c "psql -U $POSTGRES_USER -d postgres -c 'CREATE DATABASE $POSTGRES_DB'" >/dev/null
  su postgres -c "$BIN/pg_ctl -D $PGDATA -w stop" >/dev/null
fi
exec su postgres -c "$BIN/postgres -D $PGDATA -c listen_addresses='*'"
EOF
cat >Containerfile.postgres <<'EOF'
FROM localhost/airflow-standin:3.3.2-python3.11
USER root
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 >/dev/null && rm -rf /var/lib/apt/lists/*
COPY pg-entrypoint /usr/local/bin/pg-entrypoint
RUN chmod 755 /usr/local/bin/pg-entrypoint
ENTRYPOINT ["/usr/local/bin/pg-entrypoint"]
EOF
echo "== stand-in images"
buildah inspect --type image localhost/airflow-official-standin:3.3.2-python3.11 >/dev/null 2>&1 ||
    buildah bud --isolation chroot --pull-never -f Containerfile.airflow -t localhost/airflow-official-standin:3.3.2-python3.11 . >build-airflow.log
buildah inspect --type image docker.io/library/postgres:17 >/dev/null 2>&1 ||
    buildah bud --isolation chroot --pull-never -f Containerfile.postgres -t docker.io/library/postgres:17 . >build-postgres.log
echo "== the autoscaler image from ./Dockerfile"
(cd "$ROOT" && buildah bud --isolation chroot --pull-never \
    --build-arg AIRFLOW_IMAGE=localhost/airflow-official-standin:3.3.2-python3.11 \
    -t localhost/airflow-meta-autoscaler:local .) >build-image.log

echo "== up"
(cd "$ROOT" && docker-compose config) >resolved.yaml
"$PYTHON" "$ROOT/deploy/compose_podman.py" down resolved.yaml >/dev/null
trap '[ "${KEEP:-}" = 1 ] || "$PYTHON" "$ROOT/deploy/compose_podman.py" down resolved.yaml' EXIT
"$PYTHON" "$ROOT/deploy/compose_podman.py" up resolved.yaml
for _ in $(seq 90); do
    curl -sf http://127.0.0.1:8080/api/v2/monitor/health | grep -q '"dag_processor":{"status":"healthy"' && break
    sleep 2
done
curl -sf http://127.0.0.1:8080/api/v2/monitor/health && echo

airflow() { podman exec autoscaler_airflow-scheduler airflow "$@" 2>/dev/null; }
sql() { podman exec -e PGPASSWORD=airflow autoscaler_postgres psql -h 127.0.0.1 -U airflow -d airflow -At -c "$1"; }
runs_done() {  # wait until N runs of the hourly DAG of run type $2 have finished
    for _ in $(seq 150); do
        [ "$(sql "SELECT count(*) FROM dag_run WHERE dag_id = 'autoscaler_hourly' AND run_type = '$2' AND state IN ('success', 'failed')")" -ge "$1" ] && return
        sleep 2
    done
    echo "runs not finished"; return 1
}
for _ in $(seq 60); do airflow dags list | grep -q autoscaler_hourly && break; sleep 2; done

echo "== the users: ops (user) gets a token and reads the accounts"
token=$(curl -sf -X POST http://127.0.0.1:8080/auth/token -H 'Content-Type: application/json' \
    -d '{"username": "ops", "password": "ops"}' | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
curl -sf http://127.0.0.1:8080/api/auto-scaler/accounts -H "Authorization: Bearer $token" && echo

echo "== kill switch on, unpause: a shadow run for the last complete hour starts at once"
airflow variables set autoscaler_paused true
airflow dags unpause autoscaler_hourly >/dev/null
runs_done 1 scheduled
sql "SELECT run_hour, account_id, run_type, mode, shadow_reason, status FROM autoscaler.scaling_runs ORDER BY run_hour, account_id"
[ "$(sql "SELECT count(*) FROM autoscaler.scaling_runs WHERE mode = 'live'")" = 0 ] || { echo "a live run with the kill switch on"; exit 1; }

echo "== backfill the 3 hours before it"
first=$(date -u -d '-4 hours' +%Y-%m-%dT%H:00+00:00) last=$(date -u -d '-2 hours' +%Y-%m-%dT%H:00+00:00)
airflow backfill create --dag-id autoscaler_hourly --from-date "$first" --to-date "$last" >/dev/null
runs_done 3 backfill
sql "SELECT run_type, mode, shadow_reason, status, count(*) FROM autoscaler.scaling_runs GROUP BY 1, 2, 3, 4 ORDER BY 1"

echo "== kill switch off, a live run"
airflow variables set autoscaler_paused false
airflow dags trigger autoscaler_hourly >/dev/null
runs_done 1 manual
sql "SELECT run_hour, account_id, run_type, mode, status, evaluated, actions_proposed, executed FROM autoscaler.scaling_runs WHERE run_type = 'manual' ORDER BY account_id"
sql "SELECT action_id, account_id, entity_id, action_type, status, budget_before, budget_after FROM autoscaler.scaling_actions WHERE mode = 'live' ORDER BY action_id"
[ "$(sql "SELECT count(*) FROM dag_run WHERE dag_id = 'autoscaler_hourly' AND state = 'failed'")" = 0 ] || { echo "a failed run"; exit 1; }
[ "$(sql "SELECT count(*) FROM autoscaler.scaling_runs WHERE run_type = 'manual' AND mode = 'live' AND status = 'success'")" = 3 ] ||
    { echo "the live run did not succeed for the three accounts"; exit 1; }
echo "ok: the compose file runs the getting-started path end to end (podman, stand-in images)"
