"""What can go wrong for a client, as one exception hierarchy split by who is at fault.

An error response is RFC 9457 problem+json whose ``type`` ends in a stable kind slug
(``.../problems/version-conflict``). ``from_problem`` maps that slug through the one
table ``ERROR_BY_KIND`` to an exception class, so callers catch what they can handle::

    try:
        client.supersede(entity_id, expected_version=1, reason="late", status="retired")
    except VersionConflictError as exc:
        print("someone was first; the current version is", exc.current_version)
    except ApiError as exc:                 # any other problem+json answer
        print(exc.status, exc.kind, exc.detail)

Evidence that does not verify on the client's side (a record, proof or checkpoint
re-checked offline) is an ``EvidenceError``: the server answered, but what it answered is
not proven. Transport failures (no connection, a timeout, a body that is not JSON) are
``TransportError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROBLEM_TYPE_PREFIX = "https://plant-registry.dev/problems/"


class PlantError(Exception):
    """Base of every error the ``plant`` client raises."""


class TransportError(PlantError):
    """The service could not be reached, timed out, or answered something unreadable."""


class EvidenceError(PlantError):
    """Evidence the client re-checked offline does not hold.

    ``check`` names the failed check (``signature``, ``inclusion``, ``rollback``,
    ``fork``, …) and ``seq`` the log position when known.
    """

    def __init__(
        self,
        detail: str,
        *,
        check: str,
        seq: int | None = None,
        expected: object = None,
        found: object = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.check = check
        self.seq = seq
        self.expected = expected
        self.found = found

    def one_line(self) -> str:
        where = f" at seq {self.seq}" if self.seq is not None else ""
        return f"{self.check}{where}: {self.detail}"


class ApiError(PlantError):
    """The service answered with an error status; ``problem`` is its problem+json body."""

    kind = "api-error"

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        detail = problem.get("detail")
        self.detail = detail if isinstance(detail, str) else f"HTTP {status}"
        request_id = problem.get("request_id")
        self.request_id = request_id if isinstance(request_id, str) else None
        super().__init__(f"{status} {self.kind}: {self.detail}")


# --- the request was wrong (4xx) -----------------------------------------------------


class ClientError(ApiError):
    """A 4xx answer: the request must change before it can succeed."""

    kind = "client-error"


class InvalidInputError(ClientError):
    """400: malformed JSON, unknown fields, wrong types; ``path`` points at the field."""

    kind = "invalid-input"

    @property
    def path(self) -> str | None:
        value = self.problem.get("path")
        return value if isinstance(value, str) else None


class InvalidJsonError(InvalidInputError):
    kind = "invalid-json"


class PayloadTooLargeError(InvalidInputError):
    kind = "payload-too-large"


class UnsupportedMediaTypeError(InvalidInputError):
    kind = "unsupported-media-type"


class AuthenticationError(ClientError):
    """401: no token, or a token that does not verify (expired, wrong issuer, ...)."""

    kind = "unauthenticated"


class PermissionDeniedError(ClientError):
    """403: the token lacks the scope the operation needs."""

    kind = "forbidden"


class NotFoundError(ClientError):
    """404: no such entity, version or checkpoint for this tenant."""

    kind = "not-found"


class MethodNotAllowedError(ClientError):
    kind = "method-not-allowed"


class ConflictError(ClientError):
    """409: the request contradicts the current state (a duplicate name, a race)."""

    kind = "conflict"


class VersionConflictError(ConflictError):
    """409: ``expected_version`` is stale; ``current_version`` is the one to build on."""

    kind = "version-conflict"

    @property
    def current_version(self) -> int | None:
        value = self.problem.get("current_version")
        return value if isinstance(value, int) else None


class ValidationError(ClientError):
    """422: well-formed input that breaks a domain rule."""

    kind = "validation-failed"


class TransitionError(ValidationError):
    kind = "invalid-transition"


class IdempotencyKeyReusedError(ValidationError):
    """422: the Idempotency-Key was used before with a different request body."""

    kind = "idempotency-key-reused"


class RateLimitedError(ClientError):
    kind = "rate-limited"


# --- the service failed (5xx) --------------------------------------------------------


class ServerError(ApiError):
    """A 5xx answer: the client did nothing wrong."""

    kind = "server-error"


class VerificationFailedError(ServerError):
    """The service's own check of its stored evidence failed."""

    kind = "verification-failed"


class IntegrityViolationError(ServerError):
    """The service refused to build on stored state that does not verify."""

    kind = "integrity-violation"


class LogRollbackDetectedError(ServerError):
    """The service found its database behind what it had already published."""

    kind = "log-rollback-detected"


class ConfigurationError(ServerError):
    """The deployment is misconfigured; an operator must fix it."""

    kind = "configuration-error"


class InternalError(ServerError):
    kind = "internal-error"


class UnclassifiedServerError(ServerError):
    """A server failure the service did not classify further."""

    kind = "registry-error"


class UnavailableError(ServerError):
    """503: try again later (the client already retried with backoff)."""

    kind = "unavailable"


class StorageUnavailableError(UnavailableError):
    kind = "storage-unavailable"


class CommitOutcomeUnknownError(StorageUnavailableError):
    """The write may or may not have committed; the client retries with the same key."""

    kind = "commit-outcome-unknown"


class KeyServiceUnavailableError(UnavailableError):
    kind = "key-service-unavailable"


def _kinds(root: type[ApiError]) -> dict[str, type[ApiError]]:
    table: dict[str, type[ApiError]] = {root.kind: root}
    for sub in root.__subclasses__():
        table.update(_kinds(sub))
    return table


# The one table from problem ``type`` slugs to exception classes, built from the classes
# themselves so a new class is a one-place change.
ERROR_BY_KIND: Mapping[str, type[ApiError]] = _kinds(ApiError)


def kind_of(problem: Mapping[str, Any]) -> str | None:
    """The kind slug of a problem+json body, or None when its type is not ours."""
    problem_type = problem.get("type")
    if isinstance(problem_type, str) and problem_type.startswith(PROBLEM_TYPE_PREFIX):
        return problem_type[len(PROBLEM_TYPE_PREFIX) :]
    return None


def from_problem(status: int, problem: Mapping[str, Any]) -> ApiError:
    """The exception for an error answer: by ``type`` when known, else by status class."""
    kind = kind_of(problem)
    cls = ERROR_BY_KIND.get(kind) if kind else None
    if cls is None:
        if status == 503:
            cls = UnavailableError
        elif status == 429:
            cls = RateLimitedError
        else:
            cls = ClientError if 400 <= status < 500 else ServerError
    return cls(status, problem)
