"""The request lifecycle every function shares: route, run one handler, respond, log.

A handler receives a ``Call`` (the request, its path parameters and the process runtime)
and returns a ``Reply``. Everything around it lives here once: the request id and its log
context, routing to 404/405, translating ``RegistryError`` to problem+json through the one
status table, turning any other exception into an opaque 500 (never a stack trace in a
body), and one structured log line per request.

Example::

    ROUTES = function_routes("verify", [Route("GET", "/checkpoint", "verify.op", checkpoint)])

    def handle(request: flask.Request) -> flask.Response:
        return dispatch(ROUTES, request)
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
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
from functions.routing import Route, Routes
from shared.auth import bearer_token
from shared.core.commands import IdempotencyKey, check_fields, parse_idempotency_key
from shared.core.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RegistryError,
)
from shared.core.principal import Principal
from shared.registry_api import RegistryAPI, WriteResult
from shared.scheduler_auth import SchedulerPrincipal
from shared.settings import Settings

JSON_CONTENT_TYPE = "application/json"
_log = logging.getLogger("functions.request")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _json_bytes(body: object) -> bytes:
    """UTF-8 JSON, encoded fragment by fragment.

    One ``json.dumps`` string of a large response is stored four bytes per character as
    soon as it holds one character beyond the Basic Multilingual Plane: 150 MiB for a
    batch of 1000 large records. Fragments keep their own compact width.
    """
    buffer = io.BytesIO()
    for fragment in _ENCODER.iterencode(body):
        buffer.write(fragment.encode())
    return buffer.getvalue()


@dataclass
class Reply:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE
    # What the request line says beyond the request's context (the error kind, say).
    log_fields: dict[str, object] = field(default_factory=dict)

    def response(self, request_id: str) -> flask.Response:
        # Sorted keys make the bytes a function of the content alone, so an idempotent
        # replay (rebuilt from stored records) is byte-for-byte the first response.
        if isinstance(self.body, bytes):
            payload = self.body  # a C2SP resource, served byte for byte
        elif self.body is not None:
            payload = _json_bytes(self.body)
        else:
            payload = b""
        response = flask.Response(payload, status=self.status, content_type=self.content_type)
        response.headers.update(self.headers)
        # Registry responses are per-tenant and security-relevant: never cache them in
        # shared caches, and never let a browser sniff them into something executable.
        # A handler may allow private caching of immutable resources (full tiles).
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Request-Id"] = request_id
        return response


@dataclass
class Call:
    """One request as a handler sees it."""

    request: flask.Request
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    runtime: runtime.Runtime

    @property
    def registry(self) -> RegistryAPI:
        return self.runtime.registry

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def authenticate(self, scope: str) -> Principal:
        """Verify the bearer token and require ``scope``: 401 or 403 otherwise."""
        authorization = self.request.headers.get("Authorization")
        try:
            principal = self.runtime.tokens.authenticate(authorization)
        except AuthenticationError:
            self._refuse_scheduler(authorization)
            raise
        logs.annotate(tenant=principal.tenant_id)
        principal.require(scope)
        # The tenant's request budget (429 with Retry-After once spent), after the token
        # verified, so unauthenticated noise cannot spend a real tenant's budget.
        self.registry.limits.admit_request(principal.tenant_id)
        return principal

    def authenticate_scheduler(self, scope: str) -> SchedulerPrincipal | Principal:
        """Cloud Scheduler's Google ID token where configured, else a token with ``scope``.

        Only the handler of the all-tenant checkpoint sweep asks for this.
        """
        scheduler = self.runtime.scheduler
        if scheduler is not None:
            token = bearer_token(self.request.headers.get("Authorization"))
            if scheduler.claims_google_issuer(token):
                return scheduler.verify(token)
        return self.authenticate(scope)

    def _refuse_scheduler(self, authorization: str | None) -> None:
        """403, not 401, for the scheduler's own valid token: it is known, just not here."""
        scheduler = self.runtime.scheduler
        if scheduler is None:
            return
        try:
            token = bearer_token(authorization)
            if not scheduler.claims_google_issuer(token):
                return
            scheduler.verify(token)
        except AuthenticationError:
            return  # not the scheduler's token: the registry verifier's 401 stands
        raise PermissionDeniedError(
            "the scheduler service account may only run the scheduled maintenance jobs"
        )

    def json_body(
        self, *, allowed: Collection[str] | None = None, batch: bool = False
    ) -> dict[str, object]:
        """The body as a JSON object; with ``allowed``, one whose fields are all in it.

        Commands check their own fields when they are parsed (shared.core.commands).
        """
        limit = self.settings.max_batch_body_bytes if batch else self.settings.max_body_bytes
        document = inputs.read_json_object(self.request, max_bytes=limit)
        if allowed is not None:
            check_fields(document, allowed=allowed)
        return document

    def idempotency_key(self) -> IdempotencyKey | None:
        return parse_idempotency_key(self.request.headers.get("Idempotency-Key"))


def health(call: Call) -> Reply:
    """``GET /healthz`` on every function: 200 when the database is reachable and migrated."""
    return Reply(200, call.registry.health())


def function_routes(function: str, routes: Sequence[Route]) -> Routes:
    """``function``'s route table, with the health route every function answers."""
    return Routes(function, routes, health=health)


def written(result: WriteResult, *, batch: bool = False) -> Reply:
    """201 for a write; a replay is byte-for-byte the first response plus one header."""
    body: object
    if batch:
        body = {"items": [record.to_dict() for record in result.records]}
    else:
        body = result.records[0].to_dict()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Reply(201, body, headers)


def _error_reply(exc: Exception, request_id: str) -> Reply:
    """problem+json for ``exc``; anything but a RegistryError is an opaque 500."""
    error = exc if isinstance(exc, RegistryError) else InternalError("an unexpected error occurred")
    status, headers, body = problem(error, request_id)
    fields: dict[str, object] = {"error": error.kind}
    if isinstance(exc, RegistryError) and status >= 500:
        # The caller sees a generic detail; the operator needs the real one. Details are
        # written by our own code and carry no record data.
        fields["error_detail"] = exc.detail
    return Reply(status, body, headers, PROBLEM_CONTENT_TYPE, fields)


def _serve(routes: Routes, request: flask.Request) -> Reply:
    if request.method == "OPTIONS":
        allow = routes.allowed(request.path)
        if not allow:
            raise NotFoundError("no such resource")
        return Reply(204, None, {"Allow": ", ".join(allow)})
    route, params = routes.match(request.method, request.path)
    logs.annotate(op=route.op)
    query = request.args.to_dict(flat=False)
    inputs.check_params(query, route.query)
    rt = runtime.current()
    logs.install(rt.settings.log_level)
    logs.annotate(trace=_trace(request, rt.settings.google_cloud_project))
    return route.handler(Call(request=request, params=params, query=query, runtime=rt))


def _trace(request: flask.Request, project: str | None) -> dict[str, object]:
    headers = request.headers
    return logs.trace_fields(
        headers.get("X-Cloud-Trace-Context"), headers.get("traceparent"), project
    )


def dispatch(routes: Routes, request: flask.Request) -> flask.Response:
    """Serve one request for one function: route, run its handler, respond, log a line."""
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    unexpected: Exception | None = None
    with logs.request_context(
        request_id=request_id, function=routes.function, trace=_trace(request, None)
    ):
        logs.annotate(op=f"{routes.function}.unrouted")
        try:
            reply = _serve(routes, request)
        except Exception as exc:
            reply = _error_reply(exc, request_id)
            unexpected = None if isinstance(exc, RegistryError) else exc
        response = reply.response(request_id)
        _log_request(request, reply, started, unexpected)
    return response


def _log_request(
    request: flask.Request, reply: Reply, started: float, unexpected: Exception | None
) -> None:
    """The one line per request; the request's own fields come from its log context."""
    latency = time.perf_counter() - started
    status = reply.status
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    context = logs.current_context()
    op = context.op if context else "unrouted"
    _log.log(
        level,
        "%s %s %s",
        request.method,
        op,
        status,
        # The formatter keeps only the exception's type and frames, never its message.
        exc_info=unexpected,
        extra={
            logs.FIELDS: {
                "status": status,
                "latency_ms": round(latency * 1000, 3),
                "httpRequest": {
                    "requestMethod": request.method,
                    "requestUrl": request.script_root + request.path,
                    "status": status,
                    "latency": f"{latency:.6f}s",
                },
                **reply.log_fields,
            }
        },
    )


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
    with logs.request_context(request_id=request_id, function="unrouted", trace={}):
        logs.annotate(op="unrouted")
        reply = _error_reply(_as_registry_error(exc), request_id)
        _log_request(flask.request, reply, time.perf_counter(), None)
    return reply.response(request_id)
