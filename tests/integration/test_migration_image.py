"""The migration job's container, built from the Dockerfile and run as the Cloud Run job
runs it, against Cloud SQL's role shape (tests/integration/cloudsql.py).

`make check-infra` runs this (PLANT_CONTAINER_TESTS=1, after installing podman where it
can); elsewhere, and wherever podman is absent, it skips and says why. The image is
built by tools/migration_image.sh (daemonless podman; a labelled stand-in for the
Dockerfile's base image where Docker Hub is unreachable). The container runs with the
image's own entry point, the job's user and the job's environment variables
(infra/modules/migration_job); the one difference is the connection: the Cloud Run job
reaches Cloud SQL through the Python Connector with an IAM token, here
MIGRATION_DATABASE_URL points at the simulated instance's socket.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.schema import OWNER_ROLE, RUNTIME_ROLE
from tests.integration.cloudsql import (
    IAM_MARKER,
    ROLE_ADMIN,
    SimulatedCloudSql,
    simulated_cloud_sql,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("PLANT_CONTAINER_TESTS") != "1",
        reason="container test: run by `make check-infra` (PLANT_CONTAINER_TESTS=1)",
    ),
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/plant-registry-migrate:test"
SOCKET_IN_CONTAINER = "/cloudsql/.s.PGSQL.5432"


def podman_flags() -> list[str]:
    out = subprocess.run(
        ["bash", "tools/migration_image.sh", "flags"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.fixture(scope="module")
def image() -> str:
    build = subprocess.run(
        ["bash", "tools/migration_image.sh", "build"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if build.returncode == 3:
        pytest.skip(f"cannot build the image here: {build.stderr.strip()}")
    assert build.returncode == 0, build.stdout + build.stderr
    print(build.stdout)
    return IMAGE


@pytest.fixture(scope="module")
def instance() -> Iterator[SimulatedCloudSql]:
    workdir = Path(tempfile.mkdtemp(prefix="registry-image-pg16-"))
    try:
        with simulated_cloud_sql(workdir, postgres_version=16) as sim:
            yield sim
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def job_environment(instance: SimulatedCloudSql, login: str) -> dict[str, str]:
    """The job's variables (infra/modules/migration_job job_env) plus the connection."""
    url = sa.URL.create(
        "postgresql+pg8000",
        username=login,
        password=instance.passwords[login],
        database="registry",
        query={"unix_sock": SOCKET_IN_CONTAINER},
    ).render_as_string(hide_password=False)
    return {
        "INSTANCE_CONNECTION_NAME": "plant-sim:europe-west1:registry-sim-pg",
        "DB_USER": login,
        "DB_NAME": "registry",
        "DB_IAM_AUTH": "true",
        "DB_IP_TYPE": "private",
        "DB_RUNTIME_LOGINS": ",".join(instance.runtime_logins),
        "LOG_LEVEL": "INFO",
        "MIGRATION_DATABASE_URL": url,
    }


def run_container(
    image: str, instance: SimulatedCloudSql, login: str
) -> subprocess.CompletedProcess[str]:
    socket = instance.socket_dir / f".s.PGSQL.{instance.port}"
    command = [
        "podman",
        *podman_flags(),
        "run",
        "--rm",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--network",
        "host",
        "-v",
        f"{socket}:{SOCKET_IN_CONTAINER}",
    ]
    for name, value in job_environment(instance, login).items():
        command += ["-e", f"{name}={value}"]
    # No command and no entrypoint override: Cloud Run runs the image's entry point.
    command.append(image)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_image_config_is_what_the_job_expects(image: str) -> None:
    out = subprocess.run(
        ["podman", *podman_flags(), "image", "inspect", image],
        capture_output=True,
        text=True,
        check=True,
    )
    (config,) = json.loads(out.stdout)
    assert config["Config"]["Entrypoint"] == ["python", "-m", "tools.migrate"]
    assert not config["Config"].get("Cmd")
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["WorkingDir"] == "/app"


def test_the_container_migrates_a_cloud_sql_shaped_instance(
    image: str, instance: SimulatedCloudSql
) -> None:
    result = run_container(image, instance, instance.migrator)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"roles created through {ROLE_ADMIN}: {OWNER_ROLE}, {RUNTIME_ROLE}" in result.stdout
    assert f"as {instance.migrator}" in result.stdout
    for login in instance.runtime_logins:
        assert instance.memberships(login) == {RUNTIME_ROLE, IAM_MARKER}
    assert not instance.can(instance.migrator, OWNER_ROLE, "SET")
    with instance.superuser().connect() as conn:
        owners = conn.execute(
            sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'registry'")
        ).all()
        revision = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert owners == [(OWNER_ROLE,)]
    assert revision in result.stdout
    # A second execution (every release runs the job again) is a clean no-op.
    again = run_container(image, instance, instance.migrator)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"roles created through {ROLE_ADMIN}: none" in again.stdout


def test_the_container_fails_cleanly_without_cloudsqlsuperuser(
    image: str, instance: SimulatedCloudSql
) -> None:
    plain = "registry-image-plain@plant-sim.iam"
    instance.add_login(plain)
    result = run_container(image, instance, plain)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot SET ROLE to cloudsqlsuperuser" in result.stderr
    assert "Traceback" not in result.stderr
