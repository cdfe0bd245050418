"""The verify function: a record with its proof, checkpoints, consistency, keys, audit.

``GET /entities/{id}`` answers 200 with ``"valid": false`` when evidence does not hold:
the report *is* the answer, and its checks say which expectation failed.
"""

from __future__ import annotations

import flask

from functions.endpoint import Call, Reply, dispatch, function_routes
from functions.inputs import optional_int_param, required_int_param, text_param
from functions.routing import Route
from shared.core import queries
from shared.core.audit import AuditMode
from shared.core.errors import InputError
from shared.core.principal import SCOPE_ADMIN, SCOPE_READ
from shared.core.queries import MAX_SEQ, in_range


def verify_entity(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    version = optional_int_param(call.query, "version")
    query = queries.get_entity(call.params["entity_id"], version)
    report = call.registry.verify(principal, query)
    return Reply(200, report.to_dict())


def checkpoint(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    return Reply(200, call.registry.latest_checkpoint(principal).to_dict())


def sign_checkpoint(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_ADMIN)
    if call.request.content_length or "Transfer-Encoding" in call.request.headers:
        call.json_body(allowed=())
    return Reply(200, call.registry.sign_checkpoint(principal).to_dict())


def checkpoint_sweep(call: Call) -> Reply:
    """Sign what is due in every tenant (Cloud Scheduler, every minute; ADR 0008)."""
    call.authenticate_scheduler(SCOPE_ADMIN)
    if call.request.content_length or "Transfer-Encoding" in call.request.headers:
        call.json_body(allowed=())
    return Reply(200, call.registry.checkpoint_sweep())


def consistency(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_READ)
    first = in_range("first", required_int_param(call.query, "first"), 1, MAX_SEQ)
    second = in_range("second", required_int_param(call.query, "second"), 1, MAX_SEQ)
    return Reply(200, call.registry.consistency(principal, first, second).to_dict())


def keys(call: Call) -> Reply:
    # Public keys are public: an auditor with no account must be able to fetch them. A
    # tenant's log verifier key is a function of the checkpoint key and the tenant id, so
    # naming a tenant reveals nothing either.
    tenant = text_param(call.query, "tenant")
    body: dict[str, object] = {"keys": [key.to_dict() for key in call.registry.public_keys()]}
    log = call.registry.log_key(tenant)
    if log is not None:
        body["log"] = log
    return Reply(200, body)


# Full tiles and bundles never change; they are per tenant behind a token, so only the
# client's own cache may keep them. Partial ones grow into others: revalidate.
_IMMUTABLE = "private, max-age=31536000, immutable"
_OCTETS = "application/octet-stream"
_NOTE = "text/plain; charset=utf-8"


def log_checkpoint(call: Call) -> Reply:
    """C2SP tlog-tiles ``/log/checkpoint``: the newest signed checkpoint note."""
    principal = call.authenticate(SCOPE_READ)
    note = call.registry.log_checkpoint(principal)
    # Mutable: tlog-tiles asks that it not be cached beyond a few seconds.
    return Reply(200, note, {"Cache-Control": "private, no-cache"}, content_type=_NOTE)


def log_resource(call: Call) -> Reply:
    """C2SP tlog-tiles: ``/log/tile/<L>/<N>[.p/<W>]`` and ``/log/tile/entries/<N>[.p/<W>]``."""
    principal = call.authenticate(SCOPE_READ)
    resource = call.registry.log_resource(principal, call.params["tile_path"])
    cache = _IMMUTABLE if resource.immutable else "private, no-cache"
    return Reply(200, resource.data, {"Cache-Control": cache}, content_type=_OCTETS)


def _audit_mode(call: Call) -> AuditMode:
    """No body is the fast roots mode; a body is a JSON object with at most ``mode``."""
    if not (call.request.content_length or "Transfer-Encoding" in call.request.headers):
        return AuditMode.ROOTS
    value = call.json_body(allowed=("mode",)).get("mode", AuditMode.ROOTS.value)
    modes = [mode.value for mode in AuditMode]
    if value not in modes:
        raise InputError(f"mode must be one of {', '.join(modes)}", path="$.mode")
    return AuditMode(value)


def audit(call: Call) -> Reply:
    principal = call.authenticate(SCOPE_ADMIN)
    return Reply(200, call.registry.audit(principal, _audit_mode(call)).to_dict())


def expire_idempotency(call: Call) -> Reply:
    """Remove expired Idempotency-Key records (Cloud Scheduler, daily; ADR 0009)."""
    call.authenticate_scheduler(SCOPE_ADMIN)
    if call.request.content_length or "Transfer-Encoding" in call.request.headers:
        call.json_body(allowed=())
    return Reply(200, call.registry.expire_idempotency())


ROUTES = function_routes(
    "verify",
    [
        Route(
            "GET", "/entities/{entity_id}", "verify.entity", verify_entity, frozenset({"version"})
        ),
        Route("GET", "/checkpoint", "verify.checkpoint", checkpoint),
        Route("POST", "/checkpoint", "verify.sign_checkpoint", sign_checkpoint),
        Route(
            "GET", "/consistency", "verify.consistency", consistency, frozenset({"first", "second"})
        ),
        Route("GET", "/keys", "verify.keys", keys, frozenset({"tenant"})),
        Route("POST", "/audit", "verify.audit", audit),
        Route("GET", "/log/checkpoint", "verify.log_checkpoint", log_checkpoint),
        Route("GET", "/log/{tile_path}", "verify.log_resource", log_resource),
        Route(
            "POST",
            "/maintenance/checkpoint-sweep",
            "verify.checkpoint_sweep",
            checkpoint_sweep,
        ),
        Route(
            "POST",
            "/maintenance/expire-idempotency",
            "verify.expire_idempotency",
            expire_idempotency,
        ),
    ],
)


def handle(request: flask.Request) -> flask.Response:
    return dispatch(ROUTES, request)
