#!/usr/bin/env bash
# Build the migration job's image (the repository's Dockerfile) with podman, daemonless,
# for tests/integration/test_migration_image.py (run by `make check-infra`).
#
#   bash tools/migration_image.sh build     build localhost/plant-registry-migrate:test
#   bash tools/migration_image.sh flags     print the podman flags this machine needs
#
# The Dockerfile's base, python:3.12.12-slim-bookworm, comes from Docker Hub. When it is
# not in podman's local storage and cannot be pulled (this sandbox reaches only package
# registries), a stand-in is built under that name and labelled as one: Debian bookworm
# minbase from the Debian archive (mmdebstrap), a CPython 3.12 from the build machine
# installed under /usr/local like the official image, and the build machine's CA bundle
# (its TLS interception) for pip. Everything the Dockerfile itself does then runs as
# written: both stages, pip install -r requirements.txt, the user, the COPYs, the
# entry point.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="localhost/plant-registry-migrate:test"
BASE="docker.io/library/python:3.12.12-slim-bookworm"
MINBASE="localhost/plant-bookworm-minbase:latest"
WORK="${MIGRATION_IMAGE_WORKDIR:-build/migration-image}"

# crun 1.8 refuses hybrid cgroup hierarchies; runc works there. The default
# RLIMIT_NOFILE/NPROC podman asks for (1048576) exceeds what a sandbox may grant.
podman_flags() {
    local runtime="${PODMAN_RUNTIME:-}"
    if [[ -z "$runtime" ]] && command -v runc >/dev/null 2>&1; then
        runtime=runc
    fi
    if [[ -n "$runtime" ]]; then
        printf -- '--runtime\n%s\n' "$runtime"
    fi
}
run_flags() { printf -- '--ulimit\nnofile=1024:1024\n--ulimit\nnproc=1024:1024\n--network\nhost\n'; }

mapfile -t GLOBAL < <(podman_flags)
mapfile -t RUN < <(run_flags)

find_python312() {
    local candidate
    for candidate in "${PYTHON312_PREFIX:-}" /root/.pyenv/versions/3.12.* /usr/local/python3.12 /opt/python/3.12*; do
        if [[ -n "$candidate" && -x "$candidate/bin/python3.12" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v python3.12 >/dev/null 2>&1; then
        python3.12 -c 'import sys; print(sys.base_prefix)'
        return 0
    fi
    return 1
}

build_stand_in_base() {
    local prefix version
    prefix=$(find_python312) || {
        echo "no CPython 3.12 on this machine to build a stand-in for $BASE" >&2
        exit 3
    }
    version=$("$prefix/bin/python3.12" -c 'import platform; print(platform.python_version())')
    mkdir -p "$WORK"
    if ! podman "${GLOBAL[@]}" image exists "$MINBASE"; then
        echo "building Debian bookworm minbase with mmdebstrap"
        mmdebstrap --quiet --variant=minbase \
            --include=ca-certificates,libssl3,libffi8,zlib1g,libbz2-1.0,liblzma5,libsqlite3-0,libreadline8,libncursesw6,libexpat1,libuuid1,libgdbm6 \
            --format=tar bookworm "$WORK/minbase.tar"
        podman "${GLOBAL[@]}" import "$WORK/minbase.tar" "$MINBASE" >/dev/null
        rm -f "$WORK/minbase.tar"
    fi
    local ctx="$WORK/base-context"
    rm -rf "$ctx"
    mkdir -p "$ctx/python"
    tar -C "$prefix" --exclude=lib/python3.12/test --exclude=lib/python3.12/idlelib \
        --exclude=lib/python3.12/tkinter --exclude='__pycache__' -cf - . | tar -C "$ctx/python" -xf -
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
    cat >"$ctx/Containerfile" <<EOF
FROM $MINBASE
LABEL org.plant-registry.stand-in="Debian bookworm minbase + CPython $version from the build machine + its CA bundle; not the official $BASE"
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
COPY python/ /usr/local/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ldconfig && printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n' > /etc/pip.conf \\
    && python --version && python -c 'import ssl, sqlite3, venv, ensurepip'
EOF
    echo "building the stand-in $BASE (CPython $version)"
    podman "${GLOBAL[@]}" build --quiet "${RUN[@]}" --pull=never -t "$BASE" "$ctx" >/dev/null
    rm -rf "$ctx"
}

build() {
    local started=$SECONDS
    if ! podman "${GLOBAL[@]}" image exists "$BASE"; then
        if [[ "${MIGRATION_IMAGE_PULL:-0}" == 1 ]] && podman "${GLOBAL[@]}" pull "$BASE"; then
            :
        else
            build_stand_in_base
        fi
    fi
    echo "building $IMAGE from Dockerfile"
    podman "${GLOBAL[@]}" build --quiet --format docker "${RUN[@]}" --pull=never \
        -t "$IMAGE" -f Dockerfile . >/dev/null
    echo "built $IMAGE in $((SECONDS - started)) s"
}

case "${1:-build}" in
    build) build ;;
    flags) printf '%s\n' "${GLOBAL[@]}" ;;
    *) echo "usage: $0 [build|flags]" >&2; exit 2 ;;
esac
