"""The one error hierarchy of Plant Registry, split by who is at fault.

Every error a caller can see is a ``RegistryError``. Each subclass carries a stable
``kind`` slug (used as the problem+json ``type`` suffix by the HTTP layer, which owns the
single table that maps kinds to status codes) and structured ``evidence`` so the message
can say exactly what was wrong.

Example::

    >>> from shared.core.canonical import canonicalize
    >>> try:
    ...     canonicalize({"n": float("nan")})
    ... except InputError as exc:
    ...     print(exc.kind, exc.path, exc)
    invalid-json $.n NaN and Infinity are not JSON
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    kind = "registry-error"

    def __init__(self, detail: str, **evidence: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.evidence: Mapping[str, Any] = evidence


# --- the client sent something wrong -------------------------------------------------


class InputError(RegistryError):
    """Malformed input: not JSON, not canonicalisable, unknown or forbidden fields."""

    kind = "invalid-input"

    def __init__(self, detail: str, *, path: str = "$", **evidence: Any) -> None:
        super().__init__(detail, path=path, **evidence)
        self.path = path


class CanonicalizationError(InputError):
    """A value cannot be represented in RFC 8785 canonical JSON."""

    kind = "invalid-json"


class ValidationError(RegistryError):
    """Well-formed input that breaks a domain rule (field bounds, enums, references)."""

    kind = "validation-failed"

    def __init__(self, detail: str, *, path: str = "$", **evidence: Any) -> None:
        super().__init__(detail, path=path, **evidence)
        self.path = path


class TransitionError(ValidationError):
    """A status change that the entity's lifecycle does not allow."""

    kind = "invalid-transition"


class IdempotencyKeyReuseError(ValidationError):
    """An Idempotency-Key was reused with a different request body."""

    kind = "idempotency-key-reused"


# --- who is asking -------------------------------------------------------------------


class AuthenticationError(RegistryError):
    """No credentials, or credentials that do not verify."""

    kind = "unauthenticated"


class PermissionDeniedError(RegistryError):
    """Authenticated, but without the scope the operation needs."""

    kind = "forbidden"


# --- state of the registry -----------------------------------------------------------


class NotFoundError(RegistryError):
    """No such entity, version or checkpoint for this tenant (other tenants look absent)."""

    kind = "not-found"


class ConflictError(RegistryError):
    """The request raced or contradicted the current state (stale version, duplicate name)."""

    kind = "conflict"


class VersionConflictError(ConflictError):
    """``expected_version`` is not the entity's current version."""

    kind = "version-conflict"

    def __init__(self, detail: str, *, current_version: int, **evidence: Any) -> None:
        super().__init__(detail, current_version=current_version, **evidence)
        self.current_version = current_version


# --- evidence does not hold ----------------------------------------------------------


class VerificationError(RegistryError):
    """A record, proof, signature or checkpoint does not verify.

    ``check`` names the check that failed; ``seq`` the log position when known;
    ``expected`` and ``found`` the evidence (hex for digests).
    """

    kind = "verification-failed"

    def __init__(
        self,
        detail: str,
        *,
        check: str,
        seq: int | None = None,
        expected: object = None,
        found: object = None,
        **evidence: Any,
    ) -> None:
        super().__init__(detail, check=check, seq=seq, expected=expected, found=found, **evidence)
        self.check = check
        self.seq = seq
        self.expected = expected
        self.found = found


class IntegrityViolationError(VerificationError):
    """A stored record the service read in order to act on it does not verify.

    The service refuses to build on it (write) or to serve it (read): the fault is in the
    stored state, not in the request. ``check`` and ``seq`` say which record failed
    which check; the evidence a ``VerificationError`` would carry stays in the logs.
    """

    kind = "integrity-violation"


class LogRollbackError(IntegrityViolationError):
    """The database's log is behind, or differs from, a checkpoint already signed.

    Raised before signing a checkpoint when the newest checkpoint found outside the
    database (the publisher) or the database's own newest checkpoint is not a prefix of
    the log as stored: rows were deleted or rewritten. Signing again would equivocate
    (two roots for one tree size), so nothing is signed.
    """

    kind = "log-rollback-detected"


# --- our dependencies failed ---------------------------------------------------------


class StorageError(RegistryError):
    """The database is unreachable, overloaded or refused the operation."""

    kind = "storage-unavailable"


class CommitOutcomeUnknownError(StorageError):
    """The connection failed while COMMIT was in flight: the write may have committed.

    Retrying with the same Idempotency-Key is safe: it either replays the committed
    result or performs the write once.
    """

    kind = "commit-outcome-unknown"


class TooManyRequestsError(RegistryError):
    """A per-tenant budget (request rate, writers in flight, audits) is used up for now.

    ``retry_after`` is the whole number of seconds after which a retry can succeed.
    """

    kind = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int, **evidence: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **evidence)
        self.retry_after = retry_after


class KeyServiceError(RegistryError):
    """The signing key (local file or Cloud KMS) could not be loaded or used."""

    kind = "key-service-unavailable"


class ConfigurationError(RegistryError):
    """Settings are missing or contradict each other; raised at start-up."""

    kind = "configuration-error"
