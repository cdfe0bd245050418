"""RFC 9457 problem details: the one table from error kinds to HTTP status codes.

Every failure a client sees is a ``RegistryError``; this module turns one into a
``application/problem+json`` body whose ``type`` is a stable URI built from the error's
``kind``. Only evidence keys listed in ``_PUBLIC_EVIDENCE`` become extension members, so
an error can never leak record data, SQL or key material by carrying it in evidence.

Example::

    status, headers, body = problem(VersionConflictError("stale", current_version=3), "r1")
    # 409, {...}, {"type": ".../problems/version-conflict", "current_version": 3, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from shared.core.errors import InputError, RegistryError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://plant-registry.dev/problems/"
RETRY_AFTER_SECONDS = "5"


class MethodNotAllowedError(RegistryError):
    """The path exists but not with this method; ``allow`` lists the methods that do."""

    kind = "method-not-allowed"

    def __init__(self, detail: str, *, allow: tuple[str, ...]) -> None:
        super().__init__(detail, allow=list(allow))
        self.allow = allow


class UnsupportedMediaTypeError(InputError):
    """The body is not declared as ``application/json``."""

    kind = "unsupported-media-type"


class PayloadTooLargeError(InputError):
    """The body is larger than the configured limit."""

    kind = "payload-too-large"


class InternalError(RegistryError):
    """A bug: something raised that is not a RegistryError. The body says nothing more."""

    kind = "internal-error"


# The one table. Keys are ``kind`` slugs; a subclass whose kind is not listed falls back
# to its nearest listed ancestor (see ``status_for``), so a new error type never becomes
# a 500 by accident.
STATUS_BY_KIND: Mapping[str, int] = {
    "invalid-input": 400,
    "invalid-json": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not-found": 404,
    "method-not-allowed": 405,
    "conflict": 409,
    "version-conflict": 409,
    "payload-too-large": 413,
    "unsupported-media-type": 415,
    "validation-failed": 422,
    "invalid-transition": 422,
    "idempotency-key-reused": 422,
    "rate-limited": 429,
    # The stored evidence does not hold: the fault is the server's state, not the request.
    "verification-failed": 500,
    # A stored record the service needed does not verify; it refused to act on it.
    "integrity-violation": 500,
    # The stored log is behind or differs from a checkpoint already signed and published.
    "log-rollback-detected": 500,
    "configuration-error": 500,
    "internal-error": 500,
    "registry-error": 500,
    "storage-unavailable": 503,
    "commit-outcome-unknown": 503,
    "key-service-unavailable": 503,
}

# Server-side failures get a fixed, generic detail: the real one (a driver message, a
# file path) is for the operator's logs, not for the caller.
_GENERIC_DETAIL: Mapping[str, str] = {
    "configuration-error": "the service is misconfigured: `variables` names what to set or fix",
    "internal-error": "an unexpected error occurred",
    "registry-error": "an unexpected error occurred",
    "storage-unavailable": "the database is unavailable; retry later",
    "commit-outcome-unknown": (
        "the connection failed while the write was committing, so it may have been "
        "recorded; retry with the same Idempotency-Key to find out safely"
    ),
    "key-service-unavailable": "the signing key service is unavailable; retry later",
}

# Server-side failures whose detail and evidence (which check failed at which seq) are
# the answer the caller needs, and carry no data.
_EXPLAINED_SERVER_KINDS = frozenset(
    {"verification-failed", "integrity-violation", "log-rollback-detected"}
)

# Evidence keys that are safe to show: positions, versions, check names and digests.
# Anything else an error carries (values, rows, messages from libraries) stays private.
_PUBLIC_EVIDENCE = frozenset(
    {
        "path",
        "current_version",
        "expected_version",
        "allow",
        "check",
        "seq",
        "expected",
        "found",
        "entity_id",
        "version",
        "field",
        "max_bytes",
        "first_bad_seq",
        "tree_size",
        "required_scope",
        # Environment variable names (never their values) of a configuration error.
        "variables",
        "retry_after",
    }
)


def status_for(error: RegistryError) -> int:
    for cls in type(error).__mro__:
        kind = getattr(cls, "kind", None)
        if isinstance(kind, str) and kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return 500


def _kind_for(error: RegistryError) -> str:
    for cls in type(error).__mro__:
        kind = getattr(cls, "kind", None)
        if isinstance(kind, str) and kind in STATUS_BY_KIND:
            return kind
    return InternalError.kind


def _is_json_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _public_evidence(evidence: Mapping[str, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in evidence.items():
        if key not in _PUBLIC_EVIDENCE:
            continue
        if _is_json_scalar(value):
            out[key] = value
        elif isinstance(value, list | tuple) and all(_is_json_scalar(v) for v in value):
            out[key] = list(value)
    return out


def problem(error: RegistryError, request_id: str) -> tuple[int, dict[str, str], dict[str, object]]:
    """Status, extra headers and problem+json body for ``error``."""
    status = status_for(error)
    kind = _kind_for(error)
    headers: dict[str, str] = {}
    body: dict[str, object] = {}
    if status < 500 or kind in _EXPLAINED_SERVER_KINDS:
        body.update(_public_evidence(error.evidence))
        detail = error.detail
    else:
        if kind == "configuration-error":
            # The variables' names only, not the detail (it may quote a file path): the
            # operator reading /healthz learns what to set without reading the logs.
            body.update(_public_evidence({"variables": error.evidence.get("variables", [])}))
        detail = _GENERIC_DETAIL.get(kind, _GENERIC_DETAIL["internal-error"])
    body.update(
        {
            "type": PROBLEM_BASE + kind,
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "instance": f"urn:uuid:{request_id}",
            "request_id": request_id,
        }
    )
    if status == 401:
        # RFC 6750 section 3.1: a request with no credentials at all gets no error code.
        if error.evidence.get("missing_credentials"):
            headers["WWW-Authenticate"] = 'Bearer realm="plant-registry"'
        else:
            headers["WWW-Authenticate"] = 'Bearer realm="plant-registry", error="invalid_token"'
    if status == 403:
        challenge = 'Bearer realm="plant-registry", error="insufficient_scope"'
        scope = error.evidence.get("required_scope")
        if isinstance(scope, str) and scope.isprintable() and '"' not in scope:
            challenge += f', scope="{scope}"'
        headers["WWW-Authenticate"] = challenge
    if status == 405 and isinstance(error, MethodNotAllowedError):
        headers["Allow"] = ", ".join(error.allow)
    if status in (429, 503):
        retry_after = error.evidence.get("retry_after")
        headers["Retry-After"] = (
            str(retry_after)
            if type(retry_after) is int and retry_after > 0
            else RETRY_AFTER_SECONDS
        )
    return status, headers, body
