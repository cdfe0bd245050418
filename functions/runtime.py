"""Per-process resources: settings, the registry and the token verifier, built once.

Cloud Functions reuses a process for many requests (and gunicorn serves them from
several threads), so the expensive pieces — the database engine or Cloud SQL connector,
the signing key, the JWKS client — are built on the first request that needs them and
shared afterwards. A failed build is not cached: the next request tries again, so a
database that was down at cold start does not poison the instance.

Example::

    runtime = current()
    runtime.registry.get(principal, queries.get_entity(entity_id))
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from functions import logs
from shared.auth import TokenVerifier
from shared.core.errors import ConfigurationError
from shared.registry_api import RegistryAPI
from shared.scheduler_auth import SchedulerTokenVerifier
from shared.service import Registry
from shared.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    registry: RegistryAPI
    tokens: TokenVerifier
    # Cloud Scheduler's ID token verifier, for the checkpoint sweep only; None when the
    # SCHEDULER_* settings are not set.
    scheduler: SchedulerTokenVerifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        # Every missing variable at once, before anything is built: a missing signing key
        # is a configuration error for the operator, not a 503 that invites retries.
        settings.require_service()
        # The verifier first: it is cheap and its configuration errors are the likelier.
        tokens = TokenVerifier.from_settings(settings)
        return cls(
            settings=settings,
            registry=Registry.from_settings(settings),
            tokens=tokens,
            scheduler=SchedulerTokenVerifier.from_settings(settings),
        )


_log = logging.getLogger(__name__)
_lock = threading.Lock()
_current: Runtime | None = None


def current() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _current
    runtime = _current
    if runtime is not None:
        return runtime
    with _lock:
        if _current is None:
            _current = Runtime.from_settings(Settings.from_env(os.environ))
        return _current


def preflight(env: Mapping[str, str]) -> ConfigurationError | None:
    """Check the configuration at cold start; log every problem at once and return it.

    The process still starts, so that each function's ``GET /healthz`` (and every other
    request) answers with the same configuration error, naming the variables to set.
    """
    try:
        Settings.from_env(env).require_service()
    except ConfigurationError as exc:
        _log.error(
            "the configuration is incomplete: %s",
            exc.detail,
            extra={logs.FIELDS: {"variables": exc.evidence.get("variables", [])}},
        )
        return exc
    return None


def install(runtime: Runtime | None) -> None:
    """Replace the process's runtime (the dev server and tests build their own)."""
    global _current
    with _lock:
        _current = runtime
