"""Settings: one frozen object built from the environment in one place.

Every environment variable the registry reads is listed in ``ENVIRONMENT_VARIABLES`` and
read only by ``Settings.from_env``; the rest of the code receives a ``Settings``.

Example::

    settings = Settings.from_env(os.environ)
    engine = build_engine(settings)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shared.core.errors import ConfigurationError

# The log origin prefix when LOG_ORIGIN is not set: local commands and tests only, since a
# deployed service must name its own (witnesses and clients pin the origin).
DEV_LOG_ORIGIN = "plant-registry.dev/log"

# Every variable Settings reads, with what it is for. Terraform may only set these
# (tests/infra checks it), and the README's configuration table mirrors it.
ENVIRONMENT_VARIABLES: Mapping[str, str] = {
    "DATABASE_URL": "SQLAlchemy URL (postgresql+pg8000://) of the runtime login.",
    "MIGRATION_DATABASE_URL": "SQLAlchemy URL of the login that runs migrations.",
    "INSTANCE_CONNECTION_NAME": "Cloud SQL instance (project:region:instance).",
    "DB_USER": "Cloud SQL database user (IAM user name when DB_IAM_AUTH is true).",
    "DB_NAME": "Cloud SQL database name.",
    "DB_IAM_AUTH": "Use Cloud SQL IAM database authentication (true/false).",
    "DB_IP_TYPE": "Cloud SQL connector IP type: private (default), public or psc.",
    "DB_POOL_SIZE": "Connections kept per process (default 5).",
    "DB_MAX_OVERFLOW": "Extra connections allowed per process under burst (default 0).",
    "DB_POOL_TIMEOUT": "Seconds to wait for a pooled connection before 503 (default 5).",
    "DB_CONNECT_TIMEOUT_S": "Seconds to establish a database connection before 503 (default 5).",
    "DB_LOCK_TIMEOUT_MS": "Longest wait for a lock, the tenant's append lock included (3000).",
    "DB_STATEMENT_TIMEOUT_MS": "Longest a statement may run before it is cancelled (15000).",
    "DB_IDLE_IN_TX_TIMEOUT_MS": "Server ends a session idle this long in a transaction (30000).",
    "TENANT_MAX_WAITING_WRITERS": "Writes of one tenant in flight per process; more get 429 (2).",
    "TENANT_RATE_LIMIT_PER_S": "Requests per second per tenant per process (500; 0 off).",
    "TENANT_RATE_BURST": "Requests a tenant may burst above its rate per process (1000).",
    "AUDIT_MAX_CONCURRENT": "Audits running at once per process; more get 429 (1).",
    "IDEMPOTENCY_RETENTION_HOURS": "Hours an Idempotency-Key is kept before it expires (24).",
    "MAX_LOG_PAGE_BYTES": "Largest /query/log page in canonical record bytes (4 MiB).",
    "DB_RUNTIME_LOGINS": "Comma-separated logins the migration grants the runtime role.",
    "JWT_PUBLIC_KEY_FILE": "PEM public key that verifies bearer tokens.",
    "JWT_JWKS_URL": "JWKS URL that serves the bearer-token keys.",
    "JWT_ISSUER": "Required iss claim.",
    "JWT_AUDIENCE": "Required aud claim.",
    "JWT_LEEWAY_SECONDS": "Clock leeway for exp/iat, at most 30 (default 10).",
    "SCHEDULER_SERVICE_ACCOUNT": "Account whose Google ID token may run the checkpoint sweep.",
    "SCHEDULER_AUDIENCE": "Required aud of that Google ID token (the verify function's URL).",
    "GOOGLE_OIDC_JWKS_URL": "JWKS URL of Google's ID token keys (Google's; tests override it).",
    "SIGNING_KEY_FILE": "PEM private key that signs records.",
    "KMS_KEY_VERSION": "Cloud KMS asymmetric key version that signs instead.",
    "TRUSTED_PUBLIC_KEYS_FILE": "PEM bundle of earlier signing keys that still verify.",
    "CHECKPOINT_KEY_FILE": "PEM Ed25519 private key that signs checkpoint notes.",
    "CHECKPOINT_KMS_KEY_VERSION": "Cloud KMS EC_SIGN_ED25519 key version that signs them instead.",
    "LOG_ORIGIN": "Prefix of each tenant's log origin, <LOG_ORIGIN>/<tenant_id> (dev default).",
    "CHECKPOINT_BUCKET": "GCS bucket that signed checkpoints are published to.",
    "GOOGLE_API_TIMEOUT_S": "Total seconds one Cloud KMS or GCS call may take before 503 (10).",
    "CHECKPOINT_DIR": "Local directory signed checkpoints are published to (make run sets it).",
    "CHECKPOINT_EVERY": "Sign a checkpoint once this many records follow the last (100; 0 off).",
    "CHECKPOINT_MAX_AGE": "Seconds unsigned records may wait before a checkpoint is due (60).",
    "MAX_BODY_BYTES": "Largest accepted request body (default 1 MiB).",
    "MAX_BATCH_BODY_BYTES": "Largest accepted batch body (default 16 MiB).",
    "REGISTRY_DATA_DIR": "Local data directory for the embedded database and dev keys.",
    "PORT": "Port of the local dev server (default 8080).",
    "LOG_LEVEL": "Minimum log severity (default INFO).",
    "GOOGLE_CLOUD_PROJECT": "Project id that links request logs to their Cloud Trace.",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MAX_JWT_LEEWAY_SECONDS = 30
DEFAULT_CHECKPOINT_EVERY = 100
DEFAULT_CHECKPOINT_MAX_AGE = 60
# A page of the log stops at this many canonical bytes even below its count limit, so one
# response stays a few MiB however large the records are.
DEFAULT_MAX_LOG_PAGE_BYTES = 4 * 1024 * 1024
DEFAULT_IDEMPOTENCY_RETENTION_HOURS = 24
# Total deadline of one Cloud KMS or Cloud Storage call. KMS signs while the tenant's
# append lock is held, so this stays well below DB_IDLE_IN_TX_TIMEOUT_MS (30 s).
DEFAULT_GOOGLE_API_TIMEOUT_S = 10
GOOGLE_OIDC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
# Plain http is accepted for a key set on the loopback interface only (tests serve one).
_LOOPBACK_HTTP = (
    "http://127.0.0.1:",
    "http://127.0.0.1/",
    "http://localhost:",
    "http://localhost/",
)


def _parse_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _parse_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, not {value}")
    return value


T = TypeVar("T")


def _collect(problems: list[str], default: T, parse: Callable[..., T], *args: Any, **kw: Any) -> T:
    try:
        return parse(*args, **kw)
    except ConfigurationError as exc:
        problems.append(exc.detail)
        return default


# Host and path characters of a schema-less URL; no "+" (note key names forbid it), no
# spaces, no scheme, no trailing slash (the tenant id follows one).
_LOG_ORIGIN = re.compile(r"(?![a-z][a-z0-9+.-]*://)[A-Za-z0-9._~:@!$&'()*,;=%/-]{1,200}(?<!/)")

_VARIABLE = re.compile(r"\b[A-Z][A-Z0-9_]*\b")


def configuration_error(problems: Sequence[str]) -> ConfigurationError:
    """One error for every problem; ``variables`` names each environment variable involved.

    Only names go into ``variables`` (never values), so the HTTP layer may show them.
    """
    names = sorted(
        {name for p in problems for name in _VARIABLE.findall(p)} & set(ENVIRONMENT_VARIABLES)
    )
    return ConfigurationError("; ".join(problems), problems=list(problems), variables=names)


def _text(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw.strip()


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = _text(env, name)
    return Path(raw) if raw else None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with ``from_env``; tests may build it directly."""

    database_url: str | None = None
    migration_database_url: str | None = None
    instance_connection_name: str | None = None
    db_user: str | None = None
    db_name: str | None = None
    db_iam_auth: bool = False
    db_ip_type: str = "private"
    db_pool_size: int = 5
    db_max_overflow: int = 0
    db_pool_timeout: int = 5
    db_connect_timeout_s: int = 5
    db_lock_timeout_ms: int = 3000
    db_statement_timeout_ms: int = 15000
    db_idle_in_tx_timeout_ms: int = 30000
    tenant_max_waiting_writers: int = 2
    tenant_rate_limit_per_s: int = 500
    tenant_rate_burst: int = 1000
    audit_max_concurrent: int = 1
    idempotency_retention_hours: int = DEFAULT_IDEMPOTENCY_RETENTION_HOURS
    max_log_page_bytes: int = DEFAULT_MAX_LOG_PAGE_BYTES
    db_runtime_logins: tuple[str, ...] = ()
    jwt_public_key_file: Path | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 10
    scheduler_service_account: str | None = None
    scheduler_audience: str | None = None
    google_oidc_jwks_url: str = GOOGLE_OIDC_JWKS_URL
    signing_key_file: Path | None = None
    kms_key_version: str | None = None
    trusted_public_keys_file: Path | None = None
    checkpoint_key_file: Path | None = None
    checkpoint_kms_key_version: str | None = None
    log_origin: str | None = None
    checkpoint_bucket: str | None = None
    google_api_timeout_s: int = DEFAULT_GOOGLE_API_TIMEOUT_S
    checkpoint_dir: Path | None = None
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    checkpoint_max_age: int = DEFAULT_CHECKPOINT_MAX_AGE
    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 16 * 1024 * 1024
    data_dir: Path = Path(".data")
    port: int = 8080
    log_level: str = "INFO"
    google_cloud_project: str | None = None

    def __post_init__(self) -> None:
        # Every contradiction at once: an operator fixes a deployment in one round trip.
        problems: list[str] = []
        if self.instance_connection_name and self.database_url:
            problems.append("set either DATABASE_URL or INSTANCE_CONNECTION_NAME, not both")
        if self.instance_connection_name and not (self.db_user and self.db_name):
            problems.append("INSTANCE_CONNECTION_NAME needs DB_USER and DB_NAME")
        if self.instance_connection_name and self.instance_connection_name.count(":") != 2:
            problems.append("INSTANCE_CONNECTION_NAME must look like project:region:instance")
        if self.db_ip_type not in {"private", "public", "psc"}:
            problems.append("DB_IP_TYPE must be private, public or psc")
        if self.jwt_public_key_file and self.jwt_jwks_url:
            problems.append("set either JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL, not both")
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            problems.append("JWT_JWKS_URL must be an https:// URL")
        if bool(self.scheduler_service_account) != bool(self.scheduler_audience):
            problems.append("set both SCHEDULER_SERVICE_ACCOUNT and SCHEDULER_AUDIENCE, or neither")
        if not self.google_oidc_jwks_url.startswith(("https://", *_LOOPBACK_HTTP)):
            problems.append("GOOGLE_OIDC_JWKS_URL must be an https:// URL")
        if self.checkpoint_bucket and self.checkpoint_dir is not None:
            problems.append("set either CHECKPOINT_BUCKET or CHECKPOINT_DIR, not both")
        if self.signing_key_file and self.kms_key_version:
            problems.append("set either SIGNING_KEY_FILE or KMS_KEY_VERSION, not both")
        if self.kms_key_version and "/cryptoKeyVersions/" not in self.kms_key_version:
            problems.append(
                "KMS_KEY_VERSION must be a full .../cryptoKeys/K/cryptoKeyVersions/N name"
            )
        if self.checkpoint_key_file and self.checkpoint_kms_key_version:
            problems.append(
                "set either CHECKPOINT_KEY_FILE or CHECKPOINT_KMS_KEY_VERSION, not both"
            )
        if (
            self.checkpoint_kms_key_version
            and "/cryptoKeyVersions/" not in self.checkpoint_kms_key_version
        ):
            problems.append(
                "CHECKPOINT_KMS_KEY_VERSION must be a full .../cryptoKeys/K/cryptoKeyVersions/N "
                "name"
            )
        if self.log_origin is not None and not _LOG_ORIGIN.fullmatch(self.log_origin):
            problems.append(
                "LOG_ORIGIN must be a schema-less URL such as registry.example.com/plant: "
                "no scheme, spaces, '+' or trailing slash"
            )
        if self.db_lock_timeout_ms > self.db_statement_timeout_ms:
            problems.append(
                "DB_LOCK_TIMEOUT_MS must not exceed DB_STATEMENT_TIMEOUT_MS: a lock wait is "
                "part of a statement"
            )
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if problems:
            raise configuration_error(problems)

    def service_problems(self) -> list[str]:
        """What a deployed function still lacks, every item at once; empty when complete.

        Local commands fill the gaps themselves (an embedded database, dev keys); a
        function serving requests has no such fallback, so each gap is a configuration
        error, named here rather than discovered on the first request.
        """
        problems: list[str] = []
        if not (self.database_url or self.instance_connection_name):
            problems.append("no database: set DATABASE_URL or INSTANCE_CONNECTION_NAME")
        if not (self.jwt_public_key_file or self.jwt_jwks_url):
            problems.append("no token key: set JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL")
        for name, value in (("JWT_ISSUER", self.jwt_issuer), ("JWT_AUDIENCE", self.jwt_audience)):
            if not value:
                problems.append(f"{name} is not set")
        if not (self.signing_key_file or self.kms_key_version):
            problems.append("no signing key: set SIGNING_KEY_FILE or KMS_KEY_VERSION")
        if not (self.checkpoint_key_file or self.checkpoint_kms_key_version):
            problems.append(
                "no checkpoint key: set CHECKPOINT_KEY_FILE or CHECKPOINT_KMS_KEY_VERSION"
            )
        if not self.log_origin:
            problems.append("LOG_ORIGIN is not set: name the log (e.g. registry.example.com/plant)")
        for name, path in (
            ("SIGNING_KEY_FILE", self.signing_key_file),
            ("CHECKPOINT_KEY_FILE", self.checkpoint_key_file),
            ("JWT_PUBLIC_KEY_FILE", self.jwt_public_key_file),
            ("TRUSTED_PUBLIC_KEYS_FILE", self.trusted_public_keys_file),
        ):
            if path is not None and not path.is_file():
                problems.append(f"{name} {path} is not a readable file")
        return problems

    def require_service(self) -> None:
        """Raise one ConfigurationError naming everything ``service_problems`` finds."""
        problems = self.service_problems()
        if problems:
            raise configuration_error(problems)

    @property
    def effective_log_origin(self) -> str:
        """LOG_ORIGIN, or the documented dev default for local commands and tests."""
        return self.log_origin or DEV_LOG_ORIGIN

    @property
    def accepts_scheduler(self) -> bool:
        """Whether the checkpoint sweep accepts the scheduler's Google ID token."""
        return bool(self.scheduler_service_account and self.scheduler_audience)

    @property
    def uses_cloud_sql(self) -> bool:
        return self.instance_connection_name is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting; one ConfigurationError names every problem."""
        problems: list[str] = []

        # These shadow the module's parsers so that a bad value is recorded and parsing
        # goes on with the default: the error then lists every bad variable, not the first.
        def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
            return _collect(problems, default, _parse_int, env, name, default, low=low, high=high)

        def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
            return _collect(problems, default, _parse_flag, env, name, default)

        logins = _text(env, "DB_RUNTIME_LOGINS") or ""
        try:
            settings = cls(
                database_url=_text(env, "DATABASE_URL"),
                migration_database_url=_text(env, "MIGRATION_DATABASE_URL"),
                instance_connection_name=_text(env, "INSTANCE_CONNECTION_NAME"),
                db_user=_text(env, "DB_USER"),
                db_name=_text(env, "DB_NAME"),
                db_iam_auth=_flag(env, "DB_IAM_AUTH", False),
                db_ip_type=(_text(env, "DB_IP_TYPE") or "private").lower(),
                db_pool_size=_int(env, "DB_POOL_SIZE", 5, low=1, high=100),
                db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 0, low=0, high=100),
                db_pool_timeout=_int(env, "DB_POOL_TIMEOUT", 5, low=1, high=60),
                db_connect_timeout_s=_int(env, "DB_CONNECT_TIMEOUT_S", 5, low=1, high=60),
                db_lock_timeout_ms=_int(env, "DB_LOCK_TIMEOUT_MS", 3000, low=1, high=600_000),
                db_statement_timeout_ms=_int(
                    env, "DB_STATEMENT_TIMEOUT_MS", 15000, low=100, high=600_000
                ),
                db_idle_in_tx_timeout_ms=_int(
                    env, "DB_IDLE_IN_TX_TIMEOUT_MS", 30000, low=100, high=3_600_000
                ),
                tenant_max_waiting_writers=_int(
                    env, "TENANT_MAX_WAITING_WRITERS", 2, low=1, high=1000
                ),
                tenant_rate_limit_per_s=_int(
                    env, "TENANT_RATE_LIMIT_PER_S", 500, low=0, high=10**6
                ),
                tenant_rate_burst=_int(env, "TENANT_RATE_BURST", 1000, low=1, high=10**7),
                audit_max_concurrent=_int(env, "AUDIT_MAX_CONCURRENT", 1, low=1, high=100),
                idempotency_retention_hours=_int(
                    env, "IDEMPOTENCY_RETENTION_HOURS", 24, low=1, high=24 * 366
                ),
                max_log_page_bytes=_int(
                    env,
                    "MAX_LOG_PAGE_BYTES",
                    DEFAULT_MAX_LOG_PAGE_BYTES,
                    low=64 << 10,
                    high=64 << 20,
                ),
                db_runtime_logins=tuple(x.strip() for x in logins.split(",") if x.strip()),
                jwt_public_key_file=_path(env, "JWT_PUBLIC_KEY_FILE"),
                jwt_jwks_url=_text(env, "JWT_JWKS_URL"),
                jwt_issuer=_text(env, "JWT_ISSUER"),
                jwt_audience=_text(env, "JWT_AUDIENCE"),
                jwt_leeway_seconds=_int(
                    env, "JWT_LEEWAY_SECONDS", 10, low=0, high=MAX_JWT_LEEWAY_SECONDS
                ),
                scheduler_service_account=_text(env, "SCHEDULER_SERVICE_ACCOUNT"),
                scheduler_audience=_text(env, "SCHEDULER_AUDIENCE"),
                google_oidc_jwks_url=_text(env, "GOOGLE_OIDC_JWKS_URL") or GOOGLE_OIDC_JWKS_URL,
                signing_key_file=_path(env, "SIGNING_KEY_FILE"),
                kms_key_version=_text(env, "KMS_KEY_VERSION"),
                trusted_public_keys_file=_path(env, "TRUSTED_PUBLIC_KEYS_FILE"),
                checkpoint_key_file=_path(env, "CHECKPOINT_KEY_FILE"),
                checkpoint_kms_key_version=_text(env, "CHECKPOINT_KMS_KEY_VERSION"),
                log_origin=_text(env, "LOG_ORIGIN"),
                checkpoint_bucket=_text(env, "CHECKPOINT_BUCKET"),
                google_api_timeout_s=_int(
                    env, "GOOGLE_API_TIMEOUT_S", DEFAULT_GOOGLE_API_TIMEOUT_S, low=1, high=60
                ),
                checkpoint_dir=_path(env, "CHECKPOINT_DIR"),
                checkpoint_every=_int(
                    env, "CHECKPOINT_EVERY", DEFAULT_CHECKPOINT_EVERY, low=0, high=1_000_000
                ),
                checkpoint_max_age=_int(
                    env, "CHECKPOINT_MAX_AGE", DEFAULT_CHECKPOINT_MAX_AGE, low=1, high=86_400
                ),
                max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024, low=1024, high=64 << 20),
                max_batch_body_bytes=_int(
                    env, "MAX_BATCH_BODY_BYTES", 16 * 1024 * 1024, low=1024, high=256 << 20
                ),
                data_dir=_path(env, "REGISTRY_DATA_DIR") or Path(".data"),
                port=_int(env, "PORT", 8080, low=1, high=65535),
                log_level=(_text(env, "LOG_LEVEL") or "INFO").upper(),
                google_cloud_project=_text(env, "GOOGLE_CLOUD_PROJECT"),
            )
        except ConfigurationError as exc:
            problems.extend(exc.evidence.get("problems", [exc.detail]))
            raise configuration_error(problems) from None
        if problems:
            raise configuration_error(problems)
        return settings
