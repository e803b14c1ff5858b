#!/usr/bin/env bash
# Build ./Dockerfile with buildah (daemonless, as root, chroot isolation) where there is no
# Docker engine and no registry to pull apache/airflow from: on a stand-in base image made
# from Debian bookworm (its Python is 3.11, as the official -python3.11 image's) with the
# official image's conventions: user airflow = 50000:0, AIRFLOW_HOME=/opt/airflow, Airflow
# and this project's providers already installed.  The stand-in ships six 1.16.0 where
# constraints.txt pins 1.17.0, to show that the build keeps what the image ships.
#
#   sudo bash deploy/buildah-check.sh      (Debian/Ubuntu; a few minutes; not part of make test)
#
# What it checks: the build succeeds; as uid 50000 the package imports from site-packages,
# the console script runs, Airflow lists the plugin, and six is still 1.16.0.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=localhost/airflow-standin:3.3.2-python3.11
WORK=${WORK:-/tmp/autoscaler-buildah}
mkdir -p "$WORK"

command -v buildah >/dev/null && command -v debootstrap >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah debootstrap >/dev/null

if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    echo "== the stand-in base image (debootstrap bookworm, then Airflow 3.3.2 from PyPI)"
    [ -d "$WORK/rootfs/usr" ] || debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$WORK/rootfs" \
        http://deb.debian.org/debian >"$WORK/debootstrap.log"
    sed 's/^six==.*/six==1.16.0/' constraints.txt >"$WORK/base-constraints.txt"
    c=$(buildah from scratch)
    cp -a "$WORK/rootfs/." "$(buildah mount "$c")/"
    buildah umount "$c" >/dev/null
    buildah copy "$c" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
    buildah copy "$c" "$WORK/base-constraints.txt" /tmp/base-constraints.txt >/dev/null
    buildah run --isolation chroot "$c" -- sh -c \
        'useradd -u 50000 -g 0 -m -d /home/airflow airflow && install -d -o 50000 -g 0 /opt/airflow'
    buildah run --isolation chroot --user airflow --env HOME=/home/airflow "$c" -- sh -c \
        'python3 -m venv /home/airflow/.venv && /home/airflow/.venv/bin/pip install -q --upgrade "pip>=25" &&
         /home/airflow/.venv/bin/pip install -q --no-cache-dir apache-airflow==3.3.2 six \
           apache-airflow-providers-postgres apache-airflow-providers-standard apache-airflow-providers-smtp \
           -c /tmp/base-constraints.txt'
    buildah config --user airflow --workingdir /opt/airflow --env AIRFLOW_HOME=/opt/airflow \
        --env PATH=/home/airflow/.venv/bin:/usr/local/bin:/usr/bin:/bin "$c"
    buildah commit "$c" "$BASE" >/dev/null
    buildah rm "$c" >/dev/null
fi

echo "== buildah bud (the Dockerfile as it is, FROM the stand-in)"
buildah bud --isolation chroot --pull-never --build-arg AIRFLOW_IMAGE="$BASE" \
    -t localhost/airflow-meta-autoscaler:check . >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log"; exit 1; }
grep -E "^STEP|^Successfully installed" "$WORK/build.log"

echo "== inside the image"
c=$(buildah from --pull-never localhost/airflow-meta-autoscaler:check)
trap 'buildah rm "$c" >/dev/null' EXIT
buildah run --isolation chroot "$c" -- sh -c '
    set -e
    id
    python -c "import autoscaler, six; print(autoscaler.__file__); assert six.__version__ == \"1.16.0\", six.__version__"
    autoscaler --version
    AIRFLOW__CORE__LOAD_EXAMPLES=False airflow plugins 2>/dev/null | grep -o "autoscaler_plugin.py"'
echo "ok: the Dockerfile builds, and the image keeps the versions its base ships"
