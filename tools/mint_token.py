"""Mint a dev bearer token signed with the local dev JWT key (``make token``).

The dev key pair lives under ``<REGISTRY_DATA_DIR>/keys/`` (created on first use, mode
0600) and is what ``make run`` trusts when no JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL is
set. Issuer and audience are JWT_ISSUER / JWT_AUDIENCE when set, else the dev defaults.

Example::

    make token TENANT=acme SCOPES='registry:read registry:write' TTL=600
    python -m tools.mint_token --tenant acme --scopes registry:read --ttl 600
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.principal import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE
from shared.settings import Settings

DEV_ISSUER = "plant-registry-dev"
DEV_AUDIENCE = "plant-registry-dev"
DEV_TENANT = "dev"
DEV_SUBJECT = "dev-user"
ALL_SCOPES = f"{SCOPE_READ} {SCOPE_WRITE} {SCOPE_ADMIN}"
PRIVATE_NAME = "jwt-dev-ed25519.pem"
PUBLIC_NAME = "jwt-dev-ed25519.pub.pem"
MAX_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class DevJwtKeys:
    private_file: Path
    public_file: Path

    def private_key(self) -> ed25519.Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.private_file.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SystemExit(f"{self.private_file} is not an Ed25519 private key")
        return key


def ensure_dev_jwt_keys(data_dir: Path) -> DevJwtKeys:
    """Create the dev JWT key pair under ``data_dir/keys`` unless it exists."""
    key_dir = data_dir / "keys"
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = DevJwtKeys(key_dir / PRIVATE_NAME, key_dir / PUBLIC_NAME)
    try:
        # O_EXCL: two processes starting together cannot overwrite each other's key,
        # and the private key is never readable by other users, not even briefly.
        fd = os.open(keys.private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    if not keys.public_file.exists():
        public = keys.private_key().public_key()
        keys.public_file.write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return keys


def mint(
    keys: DevJwtKeys,
    *,
    tenant: str = DEV_TENANT,
    scopes: str = ALL_SCOPES,
    ttl: int = 3600,
    subject: str = DEV_SUBJECT,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "tenant_id": tenant,
        "scope": scopes,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, keys.private_key(), algorithm="EdDSA")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token", description=__doc__.split("\n")[0])
    parser.add_argument("--tenant", default=DEV_TENANT)
    parser.add_argument("--scopes", default=ALL_SCOPES, help="space-separated scopes")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    parser.add_argument("--subject", default=DEV_SUBJECT)
    args = parser.parse_args(argv)
    if not 1 <= args.ttl <= MAX_TTL_SECONDS:
        parser.error(f"--ttl must be between 1 and {MAX_TTL_SECONDS}")
    settings = Settings.from_env(os.environ)
    if settings.jwt_public_key_file or settings.jwt_jwks_url:
        print(
            "warning: JWT_PUBLIC_KEY_FILE/JWT_JWKS_URL is set; this token is signed with the "
            "dev key and only the dev server trusts it",
            file=sys.stderr,
        )
    token = mint(
        ensure_dev_jwt_keys(settings.data_dir),
        tenant=args.tenant,
        scopes=args.scopes,
        ttl=args.ttl,
        subject=args.subject,
        issuer=settings.jwt_issuer or DEV_ISSUER,
        audience=settings.jwt_audience or DEV_AUDIENCE,
    )
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
