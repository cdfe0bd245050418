# The migration job's image: `python -m tools.migrate` (alembic upgrade head inside the
# role protocol of docs/adr/0007-cloud-sql-role-model.md) with alembic.ini, migrations/,
# shared/ and tools/migrate.py, as a non-root user. Build and push it as infra/README.md
# describes; the job runs it by digest. tests/integration/test_migration_image.py builds
# it and runs it the way the Cloud Run job does.
#
# Both stages use the same base, pinned to an exact Python patch release (the functions'
# runtime is python312). To pin it fully, append its digest (`docker buildx imagetools
# inspect python:3.12.12-slim-bookworm`) to both FROM lines: python:3.12.12-slim-bookworm@sha256:...

FROM python:3.12.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt

FROM python:3.12.12-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 registry \
    && useradd --system --uid 10001 --gid registry --no-create-home --shell /usr/sbin/nologin registry
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
COPY shared ./shared
COPY tools/__init__.py tools/migrate.py ./tools/
USER 10001:10001
# A one-shot job, not a server: there is nothing to probe. Cloud Run reports the
# task's exit code instead.
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "tools.migrate"]
