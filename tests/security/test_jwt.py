"""The token verifier against the attacks a bearer-token API must refuse.

Each test builds a token the way an attacker (or a broken client) would and checks the
verifier raises AuthenticationError — never returns a Principal. Positive cases pin
that the allow-list still admits every key type it promises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from shared.auth import (
    JwksKeys,
    StaticKey,
    TokenVerifier,
    algorithms_for,
    bearer_token,
)
from shared.core.errors import AuthenticationError, ConfigurationError
from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE
from shared.settings import Settings

ISSUER = "https://issuer.test"
AUDIENCE = "plant-registry-test"
LEEWAY = 10


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "alice",
        "tenant_id": "acme",
        "scope": f"{SCOPE_READ} {SCOPE_WRITE}",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


def _public_pem(private: Any) -> bytes:
    pem: bytes = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _verifier(private: Any, tmp_path: Path) -> TokenVerifier:
    path = tmp_path / "jwt.pem"
    path.write_bytes(_public_pem(private))
    settings = Settings(
        jwt_public_key_file=path,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_leeway_seconds=LEEWAY,
    )
    return TokenVerifier.from_settings(settings)


@pytest.fixture
def verifier(ed_key: ed25519.Ed25519PrivateKey, tmp_path: Path) -> TokenVerifier:
    return _verifier(ed_key, tmp_path)


def _refused(verifier: TokenVerifier, token: str, reason: str = "") -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    assert reason in info.value.detail
    return info.value


# --- what must pass -----------------------------------------------------------------


def test_valid_eddsa_token_gives_principal(verifier: TokenVerifier, ed_key: Any) -> None:
    token = jwt.encode(_claims(scope=f"{SCOPE_READ} {SCOPE_ADMIN}"), ed_key, algorithm="EdDSA")
    principal = verifier.authenticate(f"Bearer {token}")
    assert principal.subject == "alice"
    assert principal.tenant_id == "acme"
    assert principal.scopes == frozenset({SCOPE_READ, SCOPE_ADMIN})


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_key_accepts_rs256_and_ps256(alg: str, rsa_key: Any, tmp_path: Path) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm=alg)
    assert _verifier(rsa_key, tmp_path).verify(token).tenant_id == "acme"


def test_ec_p256_key_accepts_es256(ec_key: Any, tmp_path: Path) -> None:
    token = jwt.encode(_claims(), ec_key, algorithm="ES256")
    assert _verifier(ec_key, tmp_path).verify(token).subject == "alice"


def test_expired_within_leeway_is_accepted(verifier: TokenVerifier, ed_key: Any) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 100, exp=now - LEEWAY // 2), ed_key, algorithm="EdDSA")
    assert verifier.verify(token).subject == "alice"


def test_audience_list_containing_ours_is_accepted(verifier: TokenVerifier, ed_key: Any) -> None:
    token = jwt.encode(_claims(aud=["other", AUDIENCE]), ed_key, algorithm="EdDSA")
    assert verifier.verify(token).tenant_id == "acme"


# --- algorithm confusion --------------------------------------------------------------


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    _refused(verifier, f"{header}.{payload}.", "algorithm is not allowed")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_spellings_with_signature_are_refused(verifier: TokenVerifier, alg: str) -> None:
    header = _b64(json.dumps({"alg": alg}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    _refused(verifier, f"{header}.{payload}.{_b64(b'x')}")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_public_key_bytes_is_refused(
    verifier: TokenVerifier, ed_key: Any, alg: str
) -> None:
    # The classic confusion: use the server's public PEM as an HMAC secret.
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(_public_pem(ed_key), f"{header}.{payload}".encode(), digest).digest()
    _refused(verifier, f"{header}.{payload}.{_b64(mac)}", "algorithm is not allowed")


def test_rs256_token_against_ec_key_is_refused(ec_key: Any, rsa_key: Any, tmp_path: Path) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    _refused(_verifier(ec_key, tmp_path), token, "algorithm is not allowed")


def test_es256_token_claiming_eddsa_is_refused(verifier: TokenVerifier, ec_key: Any) -> None:
    token = jwt.encode(_claims(), ec_key, algorithm="ES256")
    _refused(verifier, token, "algorithm is not allowed")


# --- signature and payload ------------------------------------------------------------


def test_token_from_another_key_is_refused(verifier: TokenVerifier) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    _refused(verifier, jwt.encode(_claims(), stranger, algorithm="EdDSA"), "signature")


def test_tampered_payload_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    header, _, signature = jwt.encode(_claims(), ed_key, algorithm="EdDSA").split(".")
    forged = _b64(json.dumps(_claims(tenant_id="victim", scope=SCOPE_ADMIN)).encode())
    _refused(verifier, f"{header}.{forged}.{signature}", "signature")


def test_truncated_signature_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    token = jwt.encode(_claims(), ed_key, algorithm="EdDSA")
    _refused(verifier, token[:-4])


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "....", "eyJ.eyJ.sig", _b64(b"{}") + "." + _b64(b"[]") + ".x"],
)
def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    _refused(verifier, token)


# --- time, issuer, audience -------------------------------------------------------------


def test_expired_beyond_leeway_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 600, exp=now - LEEWAY - 5), ed_key, algorithm="EdDSA")
    _refused(verifier, token, "expired")


def test_issued_in_the_future_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now + 600, exp=now + 900), ed_key, algorithm="EdDSA")
    _refused(verifier, token, "not valid yet")


def test_wrong_audience_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    token = jwt.encode(_claims(aud="someone-else"), ed_key, algorithm="EdDSA")
    _refused(verifier, token, "audience")


def test_wrong_issuer_is_refused(verifier: TokenVerifier, ed_key: Any) -> None:
    token = jwt.encode(_claims(iss="https://evil.test"), ed_key, algorithm="EdDSA")
    _refused(verifier, token, "issuer")


@pytest.mark.parametrize("claim", ["sub", "tenant_id", "scope", "iss", "aud", "exp", "iat"])
def test_each_required_claim_is_required(verifier: TokenVerifier, ed_key: Any, claim: str) -> None:
    claims = _claims()
    del claims[claim]
    _refused(verifier, jwt.encode(claims, ed_key, algorithm="EdDSA"), claim)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("tenant_id", ""),
        ("tenant_id", 42),
        ("tenant_id", "has space"),
        ("tenant_id", "x" * 200),
        ("sub", ""),
        ("sub", ["alice"]),
        ("scope", ["registry:read"]),
        ("scope", 'registry:read "quoted"'),
    ],
)
def test_malformed_identity_claims_are_refused(
    verifier: TokenVerifier, ed_key: Any, claim: str, value: object
) -> None:
    _refused(verifier, jwt.encode(_claims(**{claim: value}), ed_key, algorithm="EdDSA"))


# --- the Authorization header -----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "Basic YWxpY2U6cHc=", "Bearer", "Bearer ", "Token abc", "Bearer a b"],
)
def test_non_bearer_or_empty_authorization_is_refused(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


def test_missing_header_is_marked_as_missing_credentials() -> None:
    with pytest.raises(AuthenticationError) as info:
        bearer_token(None)
    assert info.value.evidence["missing_credentials"] is True


def test_oversized_token_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        bearer_token("Bearer " + "a" * 10_000)


# --- configuration ------------------------------------------------------------------------


def test_key_types_map_to_their_algorithms(ed_key: Any, rsa_key: Any, ec_key: Any) -> None:
    assert algorithms_for(ed_key.public_key()) == ["EdDSA"]
    assert algorithms_for(rsa_key.public_key()) == ["RS256", "PS256"]
    assert algorithms_for(ec_key.public_key()) == ["ES256"]


@pytest.mark.parametrize(
    "private",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="P-384"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate(), id="Ed448"),
        pytest.param(
            # A deliberately weak key: the verifier must refuse it.
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
            id="RSA-1024",
        ),
    ],
)
def test_unsupported_key_types_are_configuration_errors(private: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        _verifier(private(), tmp_path)


def test_issuer_and_audience_are_required(tmp_path: Path, ed_key: Any) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(_public_pem(ed_key))
    with pytest.raises(ConfigurationError):
        TokenVerifier.from_settings(Settings(jwt_public_key_file=path, jwt_audience=AUDIENCE))
    with pytest.raises(ConfigurationError):
        TokenVerifier.from_settings(Settings(jwt_public_key_file=path, jwt_issuer=ISSUER))


def test_a_key_source_is_required() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier.from_settings(Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE))


def test_unreadable_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigurationError):
        StaticKey.from_pem_file(tmp_path / "bad.pem")


# --- JWKS ---------------------------------------------------------------------------------


class CountingJwksClient(jwt.PyJWKClient):
    """A PyJWKClient whose endpoint is a dict in memory: no network in tests."""

    def __init__(self, jwks: dict[str, Any], cooldown: float) -> None:
        super().__init__("https://issuer.test/jwks", cooldown_duration=cooldown)
        self.jwks = jwks
        self.fetches = 0

    def fetch_data(self) -> Any:
        # Mirrors PyJWKClient.fetch_data minus the HTTP request, including the
        # bookkeeping its refetch cooldown relies on.
        self.fetches += 1
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(self.jwks)
        self._last_successful_fetch = time.monotonic()
        return self.jwks


def _jwk(private: Any, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    data["kid"] = kid
    return data


def _jwks_verifier(client: jwt.PyJWKClient) -> TokenVerifier:
    return TokenVerifier(JwksKeys(client), issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY)


def test_jwks_key_by_kid_verifies(ed_key: Any) -> None:
    client = CountingJwksClient({"keys": [_jwk(ed_key, "k1")]}, cooldown=60)
    token = jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "k1"})
    assert _jwks_verifier(client).verify(token).tenant_id == "acme"
    assert _jwks_verifier(client).verify(token).tenant_id == "acme"
    assert client.fetches == 1  # the set is cached


def test_jwks_unknown_kid_refetches_at_most_once_per_cooldown(ed_key: Any) -> None:
    client = CountingJwksClient({"keys": [_jwk(ed_key, "k1")]}, cooldown=60)
    verifier = _jwks_verifier(client)
    stranger = ed25519.Ed25519PrivateKey.generate()
    for _ in range(5):
        token = jwt.encode(_claims(), stranger, algorithm="EdDSA", headers={"kid": "k-new"})
        _refused(verifier, token, "unknown key")
    # The first fetch filled the cache and started the cooldown; unknown kids inside
    # the cooldown never reach the endpoint again.
    assert client.fetches == 1


def test_jwks_rotation_is_picked_up_after_cooldown(ed_key: Any) -> None:
    client = CountingJwksClient({"keys": [_jwk(ed_key, "k1")]}, cooldown=0)
    verifier = _jwks_verifier(client)
    rotated = ed25519.Ed25519PrivateKey.generate()
    verifier.verify(jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "k1"}))
    client.jwks = {"keys": [_jwk(ed_key, "k1"), _jwk(rotated, "k2")]}
    token = jwt.encode(_claims(), rotated, algorithm="EdDSA", headers={"kid": "k2"})
    assert verifier.verify(token).subject == "alice"
    assert client.fetches == 2


def test_jwks_token_without_kid_is_refused(ed_key: Any) -> None:
    client = CountingJwksClient({"keys": [_jwk(ed_key, "k1")]}, cooldown=60)
    _refused(_jwks_verifier(client), jwt.encode(_claims(), ed_key, algorithm="EdDSA"), "kid")


def test_jwks_hmac_key_is_never_used(ed_key: Any) -> None:
    secret = b"s" * 32
    oct_jwk = {"kty": "oct", "k": _b64(secret), "kid": "h1", "alg": "HS256"}
    client = CountingJwksClient({"keys": [oct_jwk, _jwk(ed_key, "k1")]}, cooldown=60)
    token = jwt.encode(_claims(), secret, algorithm="HS256", headers={"kid": "h1"})
    _refused(_jwks_verifier(client), token, "unsupported key type")


def test_jwks_url_must_be_https() -> None:
    with pytest.raises(ConfigurationError):
        Settings(jwt_jwks_url="http://issuer.test/jwks")


def test_jwks_token_without_a_kid_is_refused(ed_key: Any) -> None:
    client = CountingJwksClient({"keys": [_jwk(ed_key, "k1")]}, cooldown=60)
    token = jwt.encode(_claims(), ed_key, algorithm="EdDSA")
    _refused(_jwks_verifier(client), token, "no kid")
    assert client.fetches == 0  # refused before the key set is asked


class UnreachableJwksClient(jwt.PyJWKClient):
    """A key set endpoint that cannot be reached."""

    def __init__(self) -> None:
        super().__init__("https://issuer.test/jwks")

    def fetch_data(self) -> Any:
        raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url, err: refused")


def test_an_unreachable_jwks_is_refused_without_echoing_the_transport_error(ed_key: Any) -> None:
    token = jwt.encode(_claims(), ed_key, algorithm="EdDSA", headers={"kid": "k1"})
    error = _refused(_jwks_verifier(UnreachableJwksClient()), token, "keys are unavailable")
    assert "issuer.test" not in error.detail and "refused" not in error.detail
