"""plant.Client against a fake transport: retries, Idempotency-Key, Retry-After, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from functions.problems import STATUS_BY_KIND
from plant.client import Client, Response, RetryPolicy, parse_retry_after
from plant.errors import (
    ERROR_BY_KIND,
    ApiError,
    ClientError,
    EvidenceError,
    ServerError,
    StorageUnavailableError,
    TransportError,
    UnavailableError,
    VersionConflictError,
    from_problem,
)
from shared.core.signing import LocalSigner
from tests.cli.plant_support import signed_log

PROBLEMS = "https://plant-registry.dev/problems/"


@dataclass
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass
class ScriptedTransport:
    """Answers each request with the next scripted response (or raises it)."""

    script: list[Response | TransportError]
    sent: list[Sent] = field(default_factory=list)

    def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Response:
        self.sent.append(Sent(method, url, dict(headers), body))
        answer = self.script.pop(0)
        if isinstance(answer, TransportError):
            raise answer
        return answer


def _json(status: int, body: object, **headers: str) -> Response:
    return Response(status, headers, json.dumps(body).encode())


def _problem(status: int, kind: str, **extra: object) -> Response:
    body = {"type": PROBLEMS + kind, "status": status, "detail": f"{kind} happened", **extra}
    return _json(status, body, **({"Retry-After": "5"} if status == 503 else {}))


def _client(transport: ScriptedTransport, sleeps: list[float], **kw: object) -> Client:
    return Client(
        "http://127.0.0.1:8080",
        token="t",
        transport=transport,
        sleep=sleeps.append,
        jitter=lambda: 1.0,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def record_json(signer: LocalSigner) -> dict[str, object]:
    return signed_log(1, signer).records[0].to_dict()


def test_a_retried_write_sends_the_same_idempotency_key(record_json: dict[str, object]) -> None:
    transport = ScriptedTransport(
        [_problem(503, "storage-unavailable"), TransportError("reset"), _json(201, record_json)]
    )
    sleeps: list[float] = []
    record = _client(transport, sleeps).create("Industry", {"name": "x", "description": "y"})
    assert record.seq == 1
    keys = {sent.headers["Idempotency-Key"] for sent in transport.sent}
    assert len(transport.sent) == 3 and len(keys) == 1
    assert transport.sent[0].url == "http://127.0.0.1:8080/create/"
    # The 503's Retry-After (5 s) is honoured; the transport error backs off 2 * 0.5 s.
    assert sleeps == [5.0, 1.0]


def test_each_logical_write_gets_its_own_key(record_json: dict[str, object]) -> None:
    transport = ScriptedTransport([_json(201, record_json), _json(201, record_json)])
    client = _client(transport, [])
    client.create("Industry", {})
    client.create("Industry", {})
    assert (
        transport.sent[0].headers["Idempotency-Key"] != transport.sent[1].headers["Idempotency-Key"]
    )


def test_retries_are_bounded_and_then_the_typed_error_is_raised() -> None:
    transport = ScriptedTransport([_problem(503, "storage-unavailable")] * 3)
    sleeps: list[float] = []
    client = _client(transport, sleeps, retry=RetryPolicy(attempts=3))
    with pytest.raises(StorageUnavailableError):
        client.get("e1")
    assert len(transport.sent) == 3 and len(sleeps) == 2


def test_a_retry_after_beyond_the_bound_is_not_waited_for() -> None:
    answer = _json(503, {"type": PROBLEMS + "storage-unavailable"}, **{"Retry-After": "3600"})
    transport = ScriptedTransport([answer])
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        _client(transport, sleeps).get("e1")
    assert sleeps == []


def test_client_errors_are_never_retried() -> None:
    transport = ScriptedTransport([_problem(409, "version-conflict", current_version=3)])
    with pytest.raises(VersionConflictError) as caught:
        _client(transport, []).supersede("e1", expected_version=1, reason="r")
    assert caught.value.current_version == 3 and caught.value.status == 409
    assert len(transport.sent) == 1


def test_a_write_without_a_key_is_not_retried_after_a_transport_error() -> None:
    transport = ScriptedTransport([TransportError("reset")])
    with pytest.raises(TransportError):
        _client(transport, []).request("POST", "create", "/", body={})
    assert len(transport.sent) == 1


def test_every_server_kind_maps_to_its_own_exception() -> None:
    for kind, status in STATUS_BY_KIND.items():
        error = from_problem(status, {"type": PROBLEMS + kind, "detail": "d"})
        assert error.kind == kind, kind
        assert isinstance(error, ClientError if status < 500 else ServerError), kind
    assert set(STATUS_BY_KIND) <= set(ERROR_BY_KIND)


def test_an_unknown_problem_falls_back_by_status_class() -> None:
    assert type(from_problem(418, {"type": "about:blank"})) is ClientError
    assert type(from_problem(502, {})) is ServerError
    assert isinstance(from_problem(500, {"type": PROBLEMS + "new-kind"}), ApiError)


def test_retry_after_takes_seconds_and_http_dates() -> None:
    assert parse_retry_after("7", now=0.0) == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == 60.0
    assert parse_retry_after("soon", now=0.0) is None


def test_a_token_is_not_sent_in_clear_text_off_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        Client("http://registry.example.com", token="t")
    Client("http://registry.example.com", token="t", insecure=True)
    Client("https://registry.example.com", token="t")


def test_a_forged_verify_answer_raises_evidence_error(signer: LocalSigner) -> None:
    log = signed_log(4, signer)
    forged = log.records[2].to_dict()
    forged["status"] = "retired"
    report = {
        "valid": True,
        "record": forged,
        "previous_chain_hash": log.records[1].chain_hash.hex(),
        "checkpoint": log.checkpoint(4).to_dict(),
        "inclusion_proof": {"leaf_index": 2, "tree_size": 4, "hashes": []},
    }
    transport = ScriptedTransport([_json(200, report)])
    client = Client(
        "http://127.0.0.1:8080",
        token="t",
        transport=transport,
        trusted_keys={signer.key_id: signer.public_key},
    )
    with pytest.raises(EvidenceError) as caught:
        client.verify(str(forged["entity_id"]))
    assert caught.value.check == "content" and caught.value.seq == 3
