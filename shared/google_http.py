"""Authorised HTTP sessions for the Google REST APIs we call (Cloud KMS, Cloud Storage).

google-auth and requests already come with the Cloud SQL connector, so calling the REST
APIs directly keeps the deployed bundle free of the gRPC client libraries.

Every call has a total deadline (``GOOGLE_API_TIMEOUT_S``), connect to last byte.
requests' own ``timeout`` bounds each socket operation only, so a server that answers a
byte at a time could hold a caller (and the tenant's append lock) for ever; ``call``
waits for the request in a worker thread for at most the deadline instead.

Example::

    session = authorized_session(KMS_SCOPE, KeyServiceError, "Cloud KMS")
    response = call(session, "get", url, deadline_s=10, error=KeyServiceError,
                    service="Cloud KMS")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any, Protocol, TypeVar, cast

from shared.core.errors import RegistryError

# Calls in flight at once per process. A call abandoned at its deadline keeps its worker
# until its socket times out (the per-operation timeout is the deadline too), so a
# stalled service can hold at most this many threads; further calls wait for a worker
# within their own deadline and fail at it, never unboundedly.
MAX_CONCURRENT_CALLS = 16
# Seconds a client is told to wait before retrying after a timed-out call.
RETRY_AFTER_SECONDS = 2

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class HttpSession(Protocol):
    """The part of ``requests.Session`` we use; tests pass an in-memory fake."""

    def get(self, url: str, **kwargs: Any) -> Any: ...

    def post(self, url: str, **kwargs: Any) -> Any: ...


def authorized_session(scope: str, error: type[RegistryError], service: str) -> HttpSession:
    """A session with the process's default credentials, or ``error`` naming ``service``."""
    try:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _project = google.auth.default(scopes=[scope])
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        return cast(HttpSession, session)
    except Exception as exc:  # google-auth raises several unrelated types here.
        raise error(f"cannot obtain Google credentials for {service}: {exc}") from exc


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_CONCURRENT_CALLS, thread_name_prefix="google-api")
        return _pool


def within_deadline(
    work: Callable[[], T], *, deadline_s: float, error: type[RegistryError], service: str
) -> T:
    """``work()`` in a worker thread, waited for at most ``deadline_s`` seconds.

    A missed deadline is ``error`` (a 503 with Retry-After when ``error`` maps to one);
    anything ``work`` raises is raised here unchanged.
    """
    future: Future[T] = _executor().submit(work)
    try:
        return future.result(timeout=deadline_s)
    except FutureTimeoutError:
        future.cancel()  # still queued: it never starts
        raise error(
            f"{service} did not answer within {deadline_s:g} s",
            timeout_s=deadline_s,
            retry_after=RETRY_AFTER_SECONDS,
        ) from None


def call(
    session: HttpSession,
    method: str,
    url: str,
    *,
    deadline_s: float,
    error: type[RegistryError],
    service: str,
    **kwargs: Any,
) -> Any:
    """``session.<method>(url, **kwargs)`` within ``deadline_s`` seconds, or ``error``.

    A transport failure and a missed deadline are both ``error`` (a 503 with
    Retry-After); the caller checks the response's status itself.
    """
    request = getattr(session, method)
    try:
        return within_deadline(
            lambda: request(url, timeout=deadline_s, **kwargs),
            deadline_s=deadline_s,
            error=error,
            service=service,
        )
    except RegistryError:
        raise
    except Exception as exc:  # transport and credential refresh errors alike
        raise error(f"{service} request failed: {type(exc).__name__}") from exc
