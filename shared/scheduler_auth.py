"""Cloud Scheduler's identity: a Google-signed OIDC ID token in, ``SchedulerPrincipal`` out.

Cloud Scheduler calls the verify function's checkpoint sweep with an ID token Google
signs for the scheduler's service account (infra/modules/scheduler). That token is not a
registry JWT: it names no tenant and no scope. It is accepted only where the handler asks
for it (the all-tenant sweep), and only when ``SCHEDULER_SERVICE_ACCOUNT`` and
``SCHEDULER_AUDIENCE`` are both set. Every check Google documents for ID tokens is made:
RS256 signature against Google's published keys, ``iss``, ``aud``, ``exp`` and ``iat``,
and ``email`` equal to the configured account with ``email_verified`` true.

Example::

    scheduler = SchedulerTokenVerifier.from_settings(settings)  # None when not configured
    if scheduler is not None and scheduler.claims_google_issuer(token):
        scheduler.verify(token)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from shared.auth import (
    JWKS_CACHE_SECONDS,
    JWKS_REFETCH_COOLDOWN_SECONDS,
    decode_token,
    signing_key,
)
from shared.core.errors import AuthenticationError
from shared.google_http import within_deadline
from shared.settings import Settings

# Google signs ID tokens with RS256 only; nothing else is ever tried.
ALGORITHMS = ["RS256"]
# Both spellings appear in Google ID tokens (Google's OpenID Connect documentation).
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "email", "email_verified")


@dataclass(frozen=True)
class SchedulerPrincipal:
    """The scheduler service account, authenticated: it may run the scheduled jobs only."""

    email: str


class DeadlineJWKClient(jwt.PyJWKClient):
    """A cached PyJWKClient whose fetch has a total deadline, connect to last byte.

    urllib's ``timeout`` bounds each socket operation only; the fetch runs in
    shared.google_http's worker pool and is waited for at most ``deadline_s``.
    """

    def __init__(self, uri: str, *, deadline_s: float) -> None:
        super().__init__(
            uri,
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=deadline_s,
            cooldown_duration=JWKS_REFETCH_COOLDOWN_SECONDS,
        )
        self._deadline_s = deadline_s

    def fetch_data(self) -> Any:
        fetch = super().fetch_data
        return within_deadline(
            fetch,
            deadline_s=self._deadline_s,
            error=AuthenticationError,
            service="Google's ID token key set",
        )


class SchedulerTokenVerifier:
    """Verifies the scheduler's Google ID token against one audience and one account."""

    def __init__(
        self, client: jwt.PyJWKClient, *, audience: str, service_account: str, leeway: int
    ) -> None:
        self._client = client
        self._audience = audience
        self._service_account = service_account
        self._leeway = leeway

    @classmethod
    def from_settings(cls, settings: Settings) -> SchedulerTokenVerifier | None:
        """The verifier, or None when the scheduler settings are not both set."""
        if not (settings.scheduler_audience and settings.scheduler_service_account):
            return None
        client = DeadlineJWKClient(
            settings.google_oidc_jwks_url, deadline_s=settings.google_api_timeout_s
        )
        return cls(
            client,
            audience=settings.scheduler_audience,
            service_account=settings.scheduler_service_account,
            leeway=settings.jwt_leeway_seconds,
        )

    @staticmethod
    def claims_google_issuer(token: str) -> bool:
        """Whether the token *says* Google issued it (unverified: only picks the verifier)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") in GOOGLE_ISSUERS

    def verify(self, token: str) -> SchedulerPrincipal:
        """The scheduler principal, or AuthenticationError naming what did not hold."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("token is not a well-formed JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise AuthenticationError("scheduler ID tokens must be signed with RS256")
        key = signing_key(
            self._client, header, unavailable="Google's ID token keys are unavailable"
        )
        claims = self._decode(token, key)
        if claims.get("email") != self._service_account:
            raise AuthenticationError("token is not the scheduler service account's")
        if claims.get("email_verified") is not True:
            raise AuthenticationError("token email is not verified")
        return SchedulerPrincipal(email=self._service_account)

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        return decode_token(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=self._audience,
            issuer=GOOGLE_ISSUERS,
            leeway=self._leeway,
            required=REQUIRED_CLAIMS,
        )
