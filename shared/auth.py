"""Bearer-token authentication: a JWT in, a ``Principal`` out, or ``AuthenticationError``.

The verifier trusts exactly one source of keys — a PEM public key file or a JWKS URL —
and derives the acceptable algorithms from each key's *type*, never from the token's
header. That closes the classic confusions: ``alg: none`` is never in the list, and an
HMAC algorithm is never in the list either, so a token "signed" with the public key's
bytes as an HMAC secret is refused before any MAC is computed.

Example::

    verifier = TokenVerifier.from_settings(settings)
    principal = verifier.authenticate(request.headers.get("Authorization"))
    principal.require(SCOPE_WRITE)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from shared.core.errors import AuthenticationError, ConfigurationError
from shared.core.principal import Principal
from shared.settings import Settings

REQUIRED_CLAIMS = ("sub", "tenant_id", "scope", "iss", "aud", "exp", "iat")

# A forced JWKS refetch for an unknown ``kid`` happens at most this often, so a flood of
# tokens with random kids cannot turn the registry into a load generator for the IdP.
JWKS_REFETCH_COOLDOWN_SECONDS = 60.0
# How long a fetched JWK set is trusted before it is fetched again in the normal course.
JWKS_CACHE_SECONDS = 300.0
JWKS_TIMEOUT_SECONDS = 5.0

MIN_RSA_BITS = 2048
# Tokens travel in a header; anything longer than this is not a token we issued.
MAX_TOKEN_CHARS = 8192
# Identifiers end up in logs and database rows: printable, bounded, no whitespace.
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:@|+\-]{1,128}\Z")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")  # RFC 6749 scope-token

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def algorithms_for(key: object) -> list[str]:
    """The signature algorithms a key of this type may verify; raise for any other type.

    RSA keys verify RS256 and PS256, P-256 keys ES256 and Ed25519 keys EdDSA. Anything
    else (HMAC secrets, small RSA keys, other curves, Ed448) is a configuration error.
    """
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"RSA JWT keys need at least {MIN_RSA_BITS} bits")
        return ["RS256", "PS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError("EC JWT keys must be on P-256 (ES256)")
        return ["ES256"]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ["EdDSA"]
    raise ConfigurationError(f"unsupported JWT key type {type(key).__name__}")


class KeySource(Protocol):
    """Where verification keys come from: one fixed PEM key, or a JWKS endpoint."""

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[PublicKey, list[str]]:
        """The key that must verify ``token`` and the algorithms allowed with it."""
        ...


@dataclass(frozen=True)
class StaticKey:
    """A single public key read from a PEM file at start-up."""

    key: PublicKey
    algorithms: list[str]

    @classmethod
    def from_pem_file(cls, path: Path) -> StaticKey:
        try:
            key = load_pem_public_key(path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"cannot read JWT_PUBLIC_KEY_FILE {path}") from exc
        if not isinstance(
            key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        ):
            raise ConfigurationError(f"unsupported JWT key type {type(key).__name__}")
        return cls(key=key, algorithms=algorithms_for(key))

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[PublicKey, list[str]]:
        return self.key, self.algorithms


def signing_key(
    client: jwt.PyJWKClient, header: Mapping[str, Any], *, unavailable: str
) -> jwt.PyJWK:
    """The key a token's ``kid`` names in a JWKS key set, or an AuthenticationError.

    An unreachable key set is not the caller's fault, but the token still cannot be
    accepted; ``unavailable`` says so without echoing the URL or the transport error.
    """
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError("token header has no kid")
    try:
        return client.get_signing_key(kid)
    except jwt.PyJWKClientConnectionError as exc:
        raise AuthenticationError(unavailable) from exc
    except jwt.PyJWKClientError as exc:
        raise AuthenticationError("token is signed by an unknown key") from exc


class JwksKeys:
    """Keys from a JWKS endpoint, cached, refetched for an unknown kid at most once a minute.

    ``client`` is injectable so tests can serve a key set without a network.
    """

    def __init__(self, client: jwt.PyJWKClient) -> None:
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> JwksKeys:
        client = jwt.PyJWKClient(
            url,
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
            cooldown_duration=JWKS_REFETCH_COOLDOWN_SECONDS,
        )
        return cls(client)

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[PublicKey, list[str]]:
        jwk = signing_key(
            self._client, header, unavailable="token keys are unavailable; retry later"
        )
        key = jwk.key
        if not isinstance(
            key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
        ):
            raise AuthenticationError("token is signed by an unsupported key type")
        try:
            return key, algorithms_for(key)
        except ConfigurationError as exc:
            raise AuthenticationError("token is signed by an unsupported key type") from exc


class TokenVerifier:
    """Verifies bearer tokens against one key source, issuer, audience and leeway."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway: int) -> None:
        if not issuer or not audience:
            raise ConfigurationError("JWT_ISSUER and JWT_AUDIENCE are required")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        keys: KeySource
        if settings.jwt_public_key_file is not None:
            keys = StaticKey.from_pem_file(settings.jwt_public_key_file)
        elif settings.jwt_jwks_url is not None:
            keys = JwksKeys.from_url(settings.jwt_jwks_url)
        else:
            raise ConfigurationError("set JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL")
        if not settings.jwt_issuer or not settings.jwt_audience:
            raise ConfigurationError("JWT_ISSUER and JWT_AUDIENCE are required")
        return cls(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """Turn an ``Authorization`` header value into a Principal, or raise."""
        return self.verify(bearer_token(authorization))

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("token is not a well-formed JWT") from exc
        key, algorithms = self._keys.key_for(token, header)
        if header.get("alg") not in algorithms:
            # Checked here as well as by PyJWT so the message names the real reason.
            raise AuthenticationError("token algorithm is not allowed for this key")
        claims = decode_token(
            token,
            key,
            algorithms=algorithms,
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            required=REQUIRED_CLAIMS,
        )
        return _principal(claims)


def decode_token(
    token: str,
    key: Any,
    *,
    algorithms: Sequence[str],
    audience: str,
    issuer: str | Sequence[str],
    leeway: float,
    required: Iterable[str],
) -> dict[str, Any]:
    """``jwt.decode`` with its signature and every required claim checked; a failure is an
    AuthenticationError that names the reason (registry tokens and the scheduler's alike)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(required), "verify_signature": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthenticationError("token is not valid yet") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthenticationError("token audience is not accepted") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthenticationError("token issuer is not accepted") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationError(f"token lacks the {exc.claim} claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthenticationError("token signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationError("token is invalid") from exc
    return claims


def bearer_token(authorization: str | None) -> str:
    """Extract the token from ``Authorization: Bearer <token>`` (scheme case-insensitive)."""
    if authorization is None or not authorization.strip():
        raise AuthenticationError("missing bearer token", missing_credentials=True)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthenticationError("authorization must use the Bearer scheme")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("token is too long")
    return token


def _principal(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    tenant_id = claims.get("tenant_id")
    scope = claims.get("scope")
    if not isinstance(subject, str) or not _IDENTIFIER.match(subject):
        raise AuthenticationError("token sub claim is not a valid identifier")
    if not isinstance(tenant_id, str) or not _IDENTIFIER.match(tenant_id):
        raise AuthenticationError("token tenant_id claim is not a valid identifier")
    if not isinstance(scope, str):
        raise AuthenticationError("token scope claim must be a space-separated string")
    scopes = frozenset(scope.split())
    if not all(_SCOPE_TOKEN.match(s) for s in scopes):
        raise AuthenticationError("token scope claim is malformed")
    return Principal(subject=subject, tenant_id=tenant_id, scopes=scopes)
