"""The request lifecycle every function shares: route, run one handler, respond, log.

A handler receives a ``Call`` (the request, its path parameters and the process runtime)
and returns a ``Reply``. Everything around it lives here once: the request id, routing to
404/405, translating ``RegistryError`` to problem+json through the one status table,
turning any other exception into an opaque 500 (never a stack trace in a body), and one
structured log line per request.

Example::

    ROUTER = Router([Route("GET", "/checkpoint", "verify.checkpoint", checkpoint)])

    def handle(request: flask.Request) -> flask.Response:
        return dispatch("verify", ROUTER, request)
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import flask
from werkzeug.exceptions import HTTPException

from functions import inputs, logs, runtime
from functions.problems import (
    PROBLEM_CONTENT_TYPE,
    InternalError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    problem,
)
from functions.routing import Router
from shared.core.errors import InputError, NotFoundError, RegistryError
from shared.core.principal import Principal
from shared.service import Registry, WriteResult
from shared.settings import Settings

JSON_CONTENT_TYPE = "application/json"


@dataclass
class Reply:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request as a handler sees it. ``tenant`` is filled in once authenticated."""

    request: flask.Request
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    runtime: runtime.Runtime
    tenant: str | None = None

    @property
    def registry(self) -> Registry:
        return self.runtime.registry

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def authenticate(self, scope: str) -> Principal:
        """Verify the bearer token and require ``scope``: 401 or 403 otherwise."""
        principal = self.runtime.tokens.authenticate(self.request.headers.get("Authorization"))
        self.tenant = principal.tenant_id
        principal.require(scope)
        return principal

    def json_body(
        self,
        *,
        allowed: Collection[str],
        required: Collection[str] = (),
        batch: bool = False,
    ) -> dict[str, object]:
        limit = self.settings.max_batch_body_bytes if batch else self.settings.max_body_bytes
        return inputs.read_json_object(
            self.request, max_bytes=limit, allowed=allowed, required=required
        )

    def idempotency_key(self) -> str | None:
        return inputs.idempotency_key(self.request.headers.get("Idempotency-Key"))


Handler = Callable[[Call], Reply]


def written(result: WriteResult, *, batch: bool = False) -> Reply:
    """201 for a write; a replay is byte-for-byte the first response plus one header."""
    body: object
    if batch:
        body = {"items": [record.to_dict() for record in result.records]}
    else:
        body = result.records[0].to_dict()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Reply(201, body, headers)


def _response(
    status: int, body: object, headers: Mapping[str, str], content_type: str
) -> flask.Response:
    # Sorted keys make the bytes a function of the content alone, so an idempotent replay
    # (rebuilt from stored records) is byte-for-byte the first response.
    payload = (
        json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        if body is not None
        else ""
    )
    response = flask.Response(payload, status=status, content_type=content_type)
    response.headers.update(headers)
    # Registry responses are per-tenant and security-relevant: never cache them in
    # shared caches, and never let a browser sniff them into something executable.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _severity(status: int) -> str:
    if status >= 500:
        return "ERROR"
    if status >= 400:
        return "WARNING"
    return "INFO"


def dispatch(function: str, router: Router[Handler], request: flask.Request) -> flask.Response:
    """Serve one request for ``function`` (create, query, supersede or verify)."""
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    op = f"{function}.unrouted"
    call: Call | None = None
    error_fields: dict[str, object] = {}
    min_severity = "INFO"
    try:
        if request.method == "OPTIONS":
            allow = router.allowed(request.path)
            if not allow:
                router.match("OPTIONS", request.path)  # raises the 404
            status, body, headers = 204, None, {"Allow": ", ".join(allow)}
            content_type = JSON_CONTENT_TYPE
        else:
            route, params = router.match(request.method, request.path)
            op = route.op
            query = request.args.to_dict(flat=False)
            inputs.check_params(query, route.query)
            rt = runtime.current()
            min_severity = rt.settings.log_level
            call = Call(request=request, params=params, query=query, runtime=rt)
            reply = route.handler(call)
            status, body, headers = reply.status, reply.body, reply.headers
            content_type = JSON_CONTENT_TYPE
    except RegistryError as exc:
        status, headers, problem_body = problem(exc, request_id)
        body, content_type = problem_body, PROBLEM_CONTENT_TYPE
        error_fields = {"error": exc.kind}
        if status >= 500:
            # The caller sees a generic detail; the operator needs the real one. Details
            # are written by our own code and carry no record data.
            error_fields["error_detail"] = exc.detail
    except Exception as exc:
        status, headers, problem_body = problem(
            InternalError("an unexpected error occurred"), request_id
        )
        body, content_type = problem_body, PROBLEM_CONTENT_TYPE
        # Frames only: an arbitrary exception's message may quote data it was handed.
        error_fields = {
            "error": InternalError.kind,
            "error_type": type(exc).__qualname__,
            "stack": "".join(traceback.format_tb(exc.__traceback__)),
        }
    response = _response(status, body, headers, content_type)
    response.headers["X-Request-Id"] = request_id
    latency = time.perf_counter() - started
    cloud = logs.trace_fields(
        request.headers.get("X-Cloud-Trace-Context"),
        request.headers.get("traceparent"),
        call.settings.google_cloud_project if call else None,
    )
    logs.emit(
        _severity(status),
        f"{request.method} {op} {status}",
        min_severity=min_severity,
        fields={
            **cloud,
            "request_id": request_id,
            "function": function,
            "op": op,
            "tenant": call.tenant if call else None,
            "status": status,
            "latency_ms": round(latency * 1000, 3),
            "httpRequest": {
                "requestMethod": request.method,
                "requestUrl": request.script_root + request.path,
                "status": status,
                "latency": f"{latency:.6f}s",
            },
            **error_fields,
        },
    )
    return response


def _as_registry_error(exc: HTTPException) -> RegistryError:
    if exc.code == 404:
        return NotFoundError("no such resource")
    if exc.code == 405:
        allow = tuple(sorted(getattr(exc, "valid_methods", None) or ()))
        return MethodNotAllowedError("this method is not allowed here", allow=allow)
    if exc.code == 413:
        return PayloadTooLargeError("the request body is too large", path="$")
    if exc.code is not None and 400 <= exc.code < 500:
        return InputError("the request is malformed", path="$")
    return InternalError("an unexpected error occurred")


def framework_error(exc: HTTPException) -> flask.Response:
    """problem+json for what Flask refuses before a target runs.

    functions-framework routes ``/`` and ``/<path:path>`` to the target, but a path the
    converter cannot match (one with an encoded newline, say) never reaches it, and Flask
    would answer with an HTML page.
    """
    request_id = str(uuid.uuid4())
    status, headers, body = problem(_as_registry_error(exc), request_id)
    response = _response(status, body, headers, PROBLEM_CONTENT_TYPE)
    response.headers["X-Request-Id"] = request_id
    logs.emit(
        _severity(status),
        f"{flask.request.method} unrouted {status}",
        min_severity="INFO",
        fields={"request_id": request_id, "op": "unrouted", "status": status},
    )
    return response
