"""Authorised HTTP sessions for the Google REST APIs we call (Cloud KMS, Cloud Storage).

google-auth and requests already come with the Cloud SQL connector, so calling the REST
APIs directly keeps the deployed bundle free of the gRPC client libraries.

Example::

    session = authorized_session(KMS_SCOPE, KeyServiceError, "Cloud KMS")
    session.get(url, timeout=10)
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from shared.core.errors import RegistryError


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
