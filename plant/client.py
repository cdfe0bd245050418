"""``plant.Client``: every registry endpoint as a typed method, with retries and proofs.

Records, checkpoints and keys come back as the registry's own core values
(``shared.core.records.VersionRecord``, ``Checkpoint``, ``PublicKey``), parsed by the same
code the service uses, so a client never disagrees with the server about a format.
Errors are the typed exceptions of ``plant.errors``. Every write carries an
``Idempotency-Key`` generated once per call, so a write retried after a timeout or a 503
is applied once; retries back off exponentially (with jitter, bounded) and honour
``Retry-After``. ``verify`` re-checks the service's answer offline with the public keys.

Example::

    client = Client("http://127.0.0.1:8080", token=os.environ["PLANT_TOKEN"])
    skill = client.create("Skill", {"name": "Python", "description": "The language",
                                    "category": "technical"})
    client.supersede(skill.entity_id, expected_version=1, status="certified", reason="ok")
    proof = client.verify(skill.entity_id)       # raises EvidenceError unless it holds
    for record in client.iter_log():            # the tenant's whole log, page by page
        ...

``url`` is the dev server (``make run``), which mounts the functions under ``/create``,
``/query``, ``/supersede`` and ``/verify``; deployed functions each have their own URL:
``Client(function_urls={"create": ..., "query": ..., "supersede": ..., "verify": ...})``
(with ``url`` as well, ``function_urls`` overrides only the functions it names).
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from plant.errors import EvidenceError, TransportError, from_problem
from shared.core.checkpoints import Checkpoint
from shared.core.errors import RegistryError, VerificationError
from shared.core.queries import EntityPage
from shared.core.records import VersionRecord
from shared.core.reports import check_consistency, check_verify_report, parse_keys
from shared.core.signing import PublicKey
from shared.core.verification import verify_checkpoint

FUNCTIONS = ("create", "query", "supersede", "verify")
# Statuses that mean "the same request may succeed later": rate limits and a service or
# gateway that is briefly unavailable. Anything else is an answer, not a hiccup.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_LOG_PAGE = 1000


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one HTTP request; raises TransportError when no answer arrives."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response: ...


class UrllibTransport:
    """The standard library's HTTP client: no dependency beyond Python itself."""

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Response:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310 - the scheme is checked in Client
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers.items()), error.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransportError(f"{method} {url}: {reason}") from exc


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in total; delays grow from ``base_delay`` to at most ``max_delay``.

    A ``Retry-After`` longer than ``max_retry_after`` is not waited for: the error is
    raised so that the caller decides.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, jitter: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to stop retrying."""
        backoff: float = jitter * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        if retry_after is None:
            return backoff
        if retry_after > self.max_retry_after:
            return None
        return max(retry_after, backoff)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclasses.dataclass(frozen=True)
class LogPage:
    """One page of the tenant's log: raw items as served, and where the next one starts."""

    items: list[dict[str, Any]]
    next_from_seq: int | None

    def records(self) -> list[VersionRecord]:
        return [VersionRecord.from_dict(item) for item in self.items]


@dataclasses.dataclass(frozen=True)
class Verification:
    """A verify answer that was re-checked offline; ``report`` is the answer as served."""

    record: VersionRecord
    checkpoint: Checkpoint
    summary: str
    report: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ConsistencyAnswer:
    """A consistency answer as served, and the proof hashes it carries."""

    first_size: int
    second_size: int
    hashes: tuple[bytes, ...]
    report: dict[str, Any]


def evidence_error(exc: VerificationError) -> EvidenceError:
    return EvidenceError(
        exc.detail, check=exc.check, seq=exc.seq, expected=exc.expected, found=exc.found
    )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, *, insecure: bool) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    # A bearer token sent in clear text to another machine is a token given away.
    if parts.scheme == "http" and not (insecure or _is_loopback(parts.hostname)):
        raise ValueError(f"{url}: use https (plain http is allowed only on loopback)")
    return url.rstrip("/")


class Client:
    """A registry client for one tenant (the token's). Thread-compatible, not shared-safe."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        function_urls: Mapping[str, str] | None = None,
        trusted_keys: Mapping[str, PublicKey] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        insecure: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        overrides = dict(function_urls or {})
        unknown = sorted(set(overrides) - set(FUNCTIONS))
        if unknown:
            raise ValueError(f"function_urls names no function {', '.join(unknown)}")
        if url is None:
            missing = [name for name in FUNCTIONS if name not in overrides]
            if missing:
                raise ValueError(f"without url, function_urls needs {', '.join(missing)}")
        base = _check_url(url, insecure=insecure) if url is not None else None
        self._urls = {
            name: _check_url(overrides[name], insecure=insecure)
            if name in overrides
            else f"{base}/{name}"
            for name in FUNCTIONS
        }
        # The dev server's base, or (deployed) the query function, whose /healthz answers.
        self.url = base if base is not None else self._urls["query"]
        self._token = token
        self._pinned_keys = dict(trusted_keys) if trusted_keys is not None else None
        self._fetched_keys: dict[str, PublicKey] | None = None
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._transport: Transport = transport or UrllibTransport()
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    # --- HTTP ------------------------------------------------------------------------

    def _url(self, function: str, path: str, query: Mapping[str, object] | None) -> str:
        url = self._urls[function] + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        return f"{url}?{urllib.parse.urlencode(params)}" if params else url

    def request(
        self,
        method: str,
        function: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        body: object = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
    ) -> Any:
        """One API call with retries; the decoded JSON body, or a typed ApiError.

        A request is retried only when repeating it is safe: a GET, a write carrying an
        Idempotency-Key, or a call the endpoint defines as idempotent.
        """
        return self._call(
            method,
            self._url(function, path, query),
            body=body,
            idempotency_key=idempotency_key,
            idempotent=idempotent,
            authenticate=authenticate,
        )

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: object = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
        raw: bool = False,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        accept = "application/octet-stream" if raw else "application/json"
        headers = {"Accept": f"{accept}, application/problem+json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if authenticate and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        safe = idempotent if idempotent is not None else method == "GET" or bool(idempotency_key)
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                answer = self._transport.send(method, url, headers, data, self._timeout)
            except TransportError:
                if not safe or attempt >= self._retry.attempts:
                    raise
            else:
                if answer.status < 400:
                    return answer.body if raw else self._json(answer, url)
                error = from_problem(answer.status, self._problem(answer))
                if not safe or answer.status not in RETRY_STATUSES:
                    raise error
                if attempt >= self._retry.attempts:
                    raise error
                retry_after = parse_retry_after(_header(answer, "Retry-After"), self._clock())
                delay = self._retry.delay(attempt, retry_after, self._jitter())
                if delay is None:
                    raise error
                self._sleep(delay)
                continue
            delay = self._retry.delay(attempt, None, self._jitter())
            assert delay is not None
            self._sleep(delay)

    @staticmethod
    def _json(answer: Response, url: str) -> Any:
        if not answer.body:
            return None
        try:
            return json.loads(answer.body)
        except ValueError as exc:
            raise TransportError(f"{url}: the answer is not JSON ({exc})") from None

    @staticmethod
    def _problem(answer: Response) -> dict[str, Any]:
        try:
            problem = json.loads(answer.body) if answer.body else {}
        except ValueError:
            return {}
        return problem if isinstance(problem, dict) else {}

    # --- create / supersede -------------------------------------------------------------

    def create(
        self, entity_type: str, data: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> VersionRecord:
        """Create one entity (version 1). ``idempotency_key`` defaults to a fresh one."""
        answer = self.request(
            "POST",
            "create",
            "/",
            body={"entity_type": entity_type, "data": dict(data)},
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return VersionRecord.from_dict(answer)

    def create_batch(
        self,
        entities: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> list[VersionRecord]:
        """Create 1-1000 entities ``{"entity_type", "data"}`` at once, all or nothing."""
        answer = self.request(
            "POST",
            "create",
            "/batch",
            body={"entities": [dict(item) for item in entities]},
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return [VersionRecord.from_dict(item) for item in answer["items"]]

    def supersede(
        self,
        entity_id: str,
        *,
        expected_version: int,
        reason: str,
        data: Mapping[str, Any] | None = None,
        status: str | None = None,
        idempotency_key: str | None = None,
    ) -> VersionRecord:
        """Append the next version; VersionConflictError when ``expected_version`` is stale."""
        body: dict[str, Any] = {"expected_version": expected_version, "reason": reason}
        if data is not None:
            body["data"] = dict(data)
        if status is not None:
            body["status"] = status
        answer = self.request(
            "POST",
            "supersede",
            f"/entities/{_segment(entity_id)}",
            body=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return VersionRecord.from_dict(answer)

    # --- query ---------------------------------------------------------------------------

    def get(
        self,
        entity_id: str,
        version: int | None = None,
        *,
        as_of_seq: int | None = None,
        as_of: datetime | None = None,
    ) -> VersionRecord:
        """The current version, version ``version``, or the version current as of a point
        of the log: once seq ``as_of_seq`` was appended, or at the instant ``as_of``."""
        answer = self.request(
            "GET",
            "query",
            f"/entities/{_segment(entity_id)}",
            query={"version": version, **_point(as_of_seq, as_of)},
        )
        return VersionRecord.from_dict(answer)

    def history(self, entity_id: str) -> list[VersionRecord]:
        """Every version of an entity, oldest first."""
        answer = self.request("GET", "query", f"/entities/{_segment(entity_id)}/history")
        return [VersionRecord.from_dict(item) for item in answer["items"]]

    def list_page(
        self,
        *,
        entity_type: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        as_of_seq: int | None = None,
        as_of: datetime | None = None,
    ) -> EntityPage:
        answer = self.request(
            "GET",
            "query",
            "/entities",
            query={
                "entity_type": entity_type,
                "status": status,
                "limit": limit,
                "cursor": cursor,
                **_point(as_of_seq, as_of),
            },
        )
        return EntityPage(
            [VersionRecord.from_dict(item) for item in answer["items"]], answer.get("next_cursor")
        )

    def list(
        self,
        *,
        entity_type: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
        as_of_seq: int | None = None,
        as_of: datetime | None = None,
    ) -> Iterator[VersionRecord]:
        """Every matching entity's current version (or the version current as of a point),
        following the cursor page by page."""
        cursor: str | None = None
        while True:
            page = self.list_page(
                entity_type=entity_type,
                status=status,
                limit=page_size,
                cursor=cursor,
                as_of_seq=as_of_seq,
                as_of=as_of,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def log_page(self, from_seq: int = 1, limit: int = MAX_LOG_PAGE) -> LogPage:
        """Records ``from_seq``.. of the tenant's log, at most ``limit`` (1-1000)."""
        answer = self.request("GET", "query", "/log", query={"from_seq": from_seq, "limit": limit})
        return LogPage(list(answer["items"]), answer.get("next_from_seq"))

    def iter_log(self, from_seq: int = 1, page_size: int = MAX_LOG_PAGE) -> Iterator[LogPage]:
        """The tenant's log from ``from_seq`` to its end, one page at a time."""
        next_seq: int | None = from_seq
        while next_seq is not None:
            page = self.log_page(next_seq, page_size)
            yield page
            next_seq = page.next_from_seq

    def log_tile(self, path: str) -> bytes:
        """One C2SP tlog-tiles resource of the tenant's log (``tile/0/x001/234.p/7``), as
        served: nothing here trusts it; an audit compares it with the records' hashes."""
        return bytes(self._call("GET", self._url("verify", f"/log/{path}", None), raw=True))

    # --- verify ----------------------------------------------------------------------

    def keys(self) -> dict[str, PublicKey]:
        """The service's public keys, by id (no token needed)."""
        answer = self.request("GET", "verify", "/keys", authenticate=False)
        return parse_keys(json.dumps(answer).encode())

    def trusted_keys(self) -> dict[str, PublicKey]:
        """The keys evidence is checked against: the pinned ones, else the service's."""
        if self._pinned_keys is not None:
            return self._pinned_keys
        if self._fetched_keys is None:
            self._fetched_keys = self.keys()
        return self._fetched_keys

    def sign_checkpoint(self) -> Checkpoint:
        """Have the service sign a checkpoint over its log now (admin scope).

        Safe to repeat: the service signs only when the log grew, and otherwise returns
        the newest checkpoint. EvidenceError unless its signature verifies.
        """
        return self._verified_checkpoint(
            self.request("POST", "verify", "/checkpoint", idempotent=True)
        )

    def checkpoint(self) -> Checkpoint:
        """The latest signed checkpoint; EvidenceError unless its signature verifies."""
        return self._verified_checkpoint(self.request("GET", "verify", "/checkpoint"))

    def _verified_checkpoint(self, document: Any) -> Checkpoint:
        checkpoint = Checkpoint.from_dict(document)
        try:
            verify_checkpoint(checkpoint, self.trusted_keys())
        except VerificationError as exc:
            raise evidence_error(exc) from exc
        return checkpoint

    def verify_report(self, entity_id: str, version: int | None = None) -> dict[str, Any]:
        """The verify answer as served, not re-checked (see ``verify``)."""
        answer: dict[str, Any] = self.request(
            "GET", "verify", f"/entities/{_segment(entity_id)}", query={"version": version}
        )
        return answer

    def verify(self, entity_id: str, version: int | None = None) -> Verification:
        """Fetch a record with its proof and re-check all of it offline with the keys.

        The service's own ``valid`` is not trusted: the leaf hash, chain link, signature,
        checkpoint signature and inclusion proof are recomputed here. Raises
        EvidenceError naming the failed check.
        """
        report = self.verify_report(entity_id, version)
        try:
            summary = check_verify_report(report, self.trusted_keys())
            record = VersionRecord.from_dict(report["record"])
            checkpoint = Checkpoint.from_dict(report["checkpoint"])
        except VerificationError as exc:
            raise evidence_error(exc) from exc
        except (RegistryError, KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(f"the answer is malformed: {exc}", check="format") from exc
        return Verification(record, checkpoint, summary, report)

    def consistency(self, first: int, second: int) -> ConsistencyAnswer:
        """The consistency proof between tree sizes ``first`` and ``second``, as served."""
        answer: dict[str, Any] = self.request(
            "GET", "verify", "/consistency", query={"first": first, "second": second}
        )
        proof = answer.get("proof") or {}
        hashes = proof.get("hashes", answer.get("hashes", []))
        return ConsistencyAnswer(
            first_size=first,
            second_size=second,
            hashes=tuple(bytes.fromhex(h) for h in hashes),
            report=answer,
        )

    def prove_extends(self, old: Checkpoint, new: Checkpoint) -> None:
        """Raise EvidenceError unless signed checkpoint ``new`` extends signed ``old``.

        Only the roots of the two signed checkpoints are used; the proof hashes are the
        only thing taken from the service's consistency answer.
        """
        hashes: tuple[bytes, ...] = ()
        if old.tree_size < new.tree_size:
            hashes = self.consistency(old.tree_size, new.tree_size).hashes
        try:
            check_consistency(old, new, hashes, self.trusted_keys())
        except VerificationError as exc:
            raise evidence_error(exc) from exc

    def audit(self) -> dict[str, Any]:
        """The service re-verifies the tenant's whole log (admin scope)."""
        answer: dict[str, Any] = self.request("POST", "verify", "/audit", idempotent=True)
        return answer

    def healthz(self) -> dict[str, Any]:
        """The service's health document (no token needed).

        The dev server answers at ``{url}/healthz``; a deployed function at its own URL.
        """
        answer: dict[str, Any] = self._call("GET", f"{self.url}/healthz", authenticate=False)
        return answer


def new_idempotency_key() -> str:
    """A fresh key for one logical write: every retry of that write sends the same key."""
    return str(uuid.uuid4())


def _header(answer: Response, name: str) -> str | None:
    for key, value in answer.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _point(as_of_seq: int | None, as_of: datetime | None) -> dict[str, object]:
    """The query parameters naming a point of the log (the service refuses both)."""
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of needs a time zone: a naive datetime names no instant")
    return {"as_of_seq": as_of_seq, "as_of": as_of.isoformat() if as_of else None}


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")
