"""Child process of test_memory.py: the real create function, one huge batch, peak RSS.

Run as ``python -m tests.performance.memory_probe <runtime_url> <workdir>``; prints one
JSON line: the idle RSS, the peak RSS during the request (VmHWM, reset just before) and
the response status, sizes in bytes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import functions_framework
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from functions import runtime
from shared.auth import TokenVerifier
from shared.keys import generate_ed25519_private_key_pem
from shared.service import Registry
from shared.settings import Settings

MAIN = str(Path(__file__).resolve().parents[2] / "main.py")
# A character outside the Basic Multilingual Plane: four bytes in UTF-8 and four in a
# Python str, the most memory a body byte can turn into.
WIDE = "\U0001f331"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def largest_batch(max_bytes: int) -> bytes:
    """A batch of 1000 Skills as close under ``max_bytes`` as whole characters allow."""

    def body(description_chars: int) -> bytes:
        entities = [
            {
                "entity_type": "Skill",
                "data": {
                    "name": f"skill {i} " + WIDE * 150,
                    "description": WIDE * description_chars,
                    "category": "technical",
                    "tags": [f"t{j}" + WIDE * 40 for j in range(32)],
                },
            }
            for i in range(1000)
        ]
        return json.dumps({"entities": entities}, ensure_ascii=False).encode()

    low, high = 1, 4000
    while low < high:
        mid = (low + high + 1) // 2
        if len(body(mid)) <= max_bytes:
            low = mid
        else:
            high = mid - 1
    return body(low)


def main() -> None:
    runtime_url, workdir = sys.argv[1], Path(sys.argv[2])
    private = ed25519.Ed25519PrivateKey.generate()
    public_file = workdir / "jwt.pem"
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signing_file = workdir / "signing.pem"
    signing_file.write_bytes(generate_ed25519_private_key_pem())
    checkpoint_file = workdir / "checkpoint.pem"
    checkpoint_file.write_bytes(generate_ed25519_private_key_pem())
    settings = Settings(
        database_url=runtime_url,
        jwt_public_key_file=public_file,
        jwt_issuer="memory-probe",
        jwt_audience="plant-registry",
        signing_key_file=signing_file,
        checkpoint_key_file=checkpoint_file,
        log_origin="registry.example.com/memory-probe",
        checkpoint_every=0,
        tenant_rate_limit_per_s=0,
    )
    runtime.install(
        runtime.Runtime(
            settings=settings,
            registry=Registry.from_settings(settings),
            tokens=TokenVerifier.from_settings(settings),
        )
    )
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": "probe",
            "tenant_id": f"memory-{now}",
            "scope": "registry:read registry:write registry:admin",
            "iss": "memory-probe",
            "aud": "plant-registry",
            "iat": now,
            "exp": now + 3600,
        },
        private,
        algorithm="EdDSA",
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    create = functions_framework.create_app("create", source=MAIN).test_client()
    query = functions_framework.create_app("query", source=MAIN).test_client()
    warm = create.post(
        "/",
        headers=headers,
        json={
            "entity_type": "Industry",
            "data": {"name": "Warm-up", "description": "so that imports and pools are idle"},
        },
    )
    assert warm.status_code == 201, warm.get_data()
    body = largest_batch(settings.max_batch_body_bytes)
    idle = _status_kib("VmRSS")
    _reset_peak()
    response = create.post(
        "/batch", headers={**headers, "Idempotency-Key": "memory-probe"}, data=body
    )
    peak = _status_kib("VmHWM")
    status = response.status_code
    response_bytes = len(response.get_data())
    del response
    page = query.get("/log?limit=1000", headers=headers)
    print(
        json.dumps(
            {
                "body_bytes": len(body),
                "idle_rss": idle,
                "peak_rss": peak,
                "status": status,
                "response_bytes": response_bytes,
                "log_page_status": page.status_code,
                "log_page_bytes": len(page.get_data()),
                "log_page_items": len(json.loads(page.get_data()).get("items", [])),
            }
        )
    )


if __name__ == "__main__":
    main()
