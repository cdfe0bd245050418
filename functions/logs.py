"""One logging path: every log record becomes one JSON line on stdout, in Cloud Logging's shape.

Cloud Logging lifts ``severity``, ``message``, ``httpRequest`` and the
``logging.googleapis.com/*`` keys out of a JSON line, which links the entry to its trace.
``install`` puts ``CloudLoggingFormatter`` on the root logger, so a record logged through
plain ``logging`` anywhere (``shared.service``, a library) takes the same path as the
request line. ``dispatch`` opens a ``request_context`` per request; the formatter adds its
fields (request id, function, op, tenant, trace) to every record logged inside it, however
deep in the service.

Only request metadata is logged: never the Authorization header, a token, a key, a query
string (cursors are opaque but still client data) or any record data. An exception's
message may quote data it was handed, so a logged exception contributes its type and
frames only.

Example::

    install("INFO")
    trace = trace_fields("105445aa7843bc8bf206b12000100000/1;o=1", None, "my-project")
    with request_context(request_id="r1", function="create", trace=trace):
        logging.getLogger("shared.service").warning("checkpoint after a write failed")
    # {"severity":"WARNING","message":"checkpoint after a write failed",
    #  "logger":"shared.service",
    #  "logging.googleapis.com/trace":"projects/my-project/traces/105445aa...",
    #  "logging.googleapis.com/trace_sampled":true,"logging.googleapis.com/spanId":"1",
    #  "request_id":"r1","function":"create","op":null,"tenant":null}
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
# Cloud Logging's severities for Python's levels (DEBUG and the rest share their names).
_SEVERITY = {logging.WARNING: "WARNING", logging.CRITICAL: "CRITICAL"}
# The key a caller passes structured fields under: ``log.info(msg, extra={FIELDS: {...}})``.
FIELDS = "structured_fields"


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """What every log line written while serving one request says about the request."""

    request_id: str
    function: str
    op: str | None = None
    tenant: str | None = None
    trace: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def fields(self) -> dict[str, object]:
        return {
            **self.trace,
            "request_id": self.request_id,
            "function": self.function,
            "op": self.op,
            "tenant": self.tenant,
        }


_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "plant_registry_request", default=None
)


@contextmanager
def request_context(
    *, request_id: str, function: str, trace: Mapping[str, object]
) -> Iterator[None]:
    token = _context.set(RequestContext(request_id, function, trace=dict(trace)))
    try:
        yield
    finally:
        _context.reset(token)


def annotate(
    *,
    op: str | None = None,
    tenant: str | None = None,
    trace: Mapping[str, object] | None = None,
) -> None:
    """Fill in what the request turns out to be: its operation, its tenant, its trace."""
    current = _context.get()
    if current is None:
        return
    _context.set(
        dataclasses.replace(
            current,
            op=current.op if op is None else op,
            tenant=current.tenant if tenant is None else tenant,
            trace=current.trace if trace is None else dict(trace),
        )
    )


def current_context() -> RequestContext | None:
    return _context.get()


def trace_fields(
    cloud_trace_context: str | None, traceparent: str | None, project: str | None
) -> dict[str, object]:
    """The trace keys for a log entry, from X-Cloud-Trace-Context or W3C traceparent."""
    trace_id = span_id = None
    sampled = False
    if cloud_trace_context:
        found = _CLOUD_TRACE.match(cloud_trace_context.strip())
        if found:
            trace_id, span_id, sampled = found[1].lower(), found[2], found[3] == "1"
    if trace_id is None and traceparent:
        found = _TRACEPARENT.match(traceparent.strip())
        if found:
            trace_id, span_id = found[1], found[2]
            sampled = int(found[3], 16) & 1 == 1
    if trace_id is None:
        return {}
    # Cloud Logging wants the full resource name; without a project id the bare id is
    # still useful for grepping.
    trace = f"projects/{project}/traces/{trace_id}" if project else trace_id
    fields: dict[str, object] = {
        "logging.googleapis.com/trace": trace,
        "logging.googleapis.com/trace_sampled": sampled,
    }
    if span_id:
        fields["logging.googleapis.com/spanId"] = span_id
    return fields


class CloudLoggingFormatter(logging.Formatter):
    """A log record as one Cloud Logging JSON line, with the current request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "severity": _SEVERITY.get(record.levelno, record.levelname),
            "message": record.getMessage(),
            "logger": record.name,
        }
        context = _context.get()
        if context is not None:
            entry.update(context.fields())
        extra = getattr(record, FIELDS, None)
        if isinstance(extra, Mapping):
            entry.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error_type"] = type(error).__qualname__
            entry["stack"] = "".join(traceback.format_tb(error.__traceback__))
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


class StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is now (test capture replaces it per test).

    ``logging.Handler.handle`` holds the handler's lock around ``emit``, so lines from
    concurrent requests never interleave mid-line.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def install(level: str) -> None:
    """Route every record through one ``StdoutHandler`` on the root logger, at ``level``.

    Idempotent and cheap, so it can run on every request: the level follows the runtime's
    settings, and the handler is added once however often this runs.
    """
    root = logging.getLogger()
    if not any(isinstance(handler, StdoutHandler) for handler in root.handlers):
        handler = StdoutHandler()
        handler.setFormatter(CloudLoggingFormatter())
        root.addHandler(handler)
    wanted = logging.getLevelName(level)
    if root.level != wanted:
        root.setLevel(wanted)
