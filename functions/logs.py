"""Structured request logs: one JSON line per request on stdout, in Cloud Logging's shape.

Cloud Logging lifts ``severity``, ``message``, ``httpRequest`` and the
``logging.googleapis.com/*`` keys out of a JSON line, which links the entry to its trace.
Only request metadata is logged: never the Authorization header, a token, a key, a query
string (cursors are opaque but still client data) or any record data.

Example::

    emit("INFO", "GET /entities/{entity_id} 200", op="query.get", tenant="acme")
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Mapping

_SEVERITY_RANK = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")
# One lock so lines from concurrent requests never interleave mid-line.
_write_lock = threading.Lock()


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


def emit(
    severity: str,
    message: str,
    *,
    min_severity: str = "INFO",
    fields: Mapping[str, object] | None = None,
) -> None:
    if _SEVERITY_RANK.get(severity, 20) < _SEVERITY_RANK.get(min_severity, 20):
        return
    entry: dict[str, object] = {"severity": severity, "message": message}
    if fields:
        entry.update(fields)
    line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
