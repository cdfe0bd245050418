"""GET /verify/log/checkpoint: the tenant's newest checkpoint as a C2SP signed note.

What a tlog-tiles client does with it: fetch the verifier key from ``GET /verify/keys``,
open the note with it, and check tiles against the root. Tampered, foreign and pre-note
checkpoints are never served as the log's checkpoint.
"""

from __future__ import annotations

import urllib.parse

import pytest

from functions import runtime
from shared.core.checkpoints import Checkpoint
from shared.core.commands import parse_batch
from shared.core.hashing import leaf_hash
from shared.core.merkle import root
from shared.core.note import Ed25519NoteVerifier, parse_note
from shared.core.principal import Principal
from shared.core.tiles import parse_entry_bundle
from shared.core.tlog import open_checkpoint, tenant_origin
from shared.service import Registry
from tests.conftest import ALL_SCOPES, TEST_LOG_ORIGIN
from tests.functions.http_support import Api, assert_problem
from tests.integration.helpers import Dba, skill_data

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_registry")]


def _fill(api: Api, n: int) -> None:
    items = [{"entity_type": "Skill", "data": skill_data()} for _ in range(n)]
    response = api.call("create", "POST", "/batch", json={"entities": items})
    assert response.status_code == 201, response.get_json()


def _vkey(api: Api, tenant: str | None = None) -> str:
    query = urllib.parse.quote(tenant or api.tenant, safe="")
    keys = api.call("verify", "GET", f"/keys?tenant={query}", auth=False)
    assert keys.status_code == 200
    log = keys.get_json()["log"]
    assert log["origin"] == tenant_origin(TEST_LOG_ORIGIN, tenant or api.tenant)
    return str(log["vkey"])


def test_the_checkpoint_is_a_signed_note_the_vkey_opens(api: Api) -> None:
    _fill(api, 300)
    response = api.call("verify", "GET", "/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, no-cache"
    origin = f"{TEST_LOG_ORIGIN}/{api.tenant}"
    head = open_checkpoint(
        response.data, origin=origin, verifiers=[Ed25519NoteVerifier.from_vkey(_vkey(api))]
    )
    assert head.size == 300
    # The root is the root of the entries the read API serves.
    entries = [
        *parse_entry_bundle(api.call("verify", "GET", "/log/tile/entries/000").data),
        *parse_entry_bundle(api.call("verify", "GET", "/log/tile/entries/001.p/44").data),
    ]
    assert head.root_hash == root([leaf_hash(e) for e in entries])
    # The JSON checkpoint carries the same note.
    document = api.call("verify", "GET", "/checkpoint").get_json()
    assert Checkpoint.from_dict(document).note == response.data


def test_keys_list_the_checkpoint_key_beside_the_record_key(
    api: Api, real_registry: runtime.Runtime
) -> None:
    body = api.call("verify", "GET", "/keys", auth=False).get_json()
    registry = real_registry.registry
    assert isinstance(registry, Registry)  # the runtime holds it as the RegistryAPI
    assert registry.checkpoint_key is not None
    ids = {key["key_id"] for key in body["keys"]}
    assert {registry.signer.key_id, registry.checkpoint_key.key_id} <= ids
    assert body["log"] == {
        "key_id": registry.checkpoint_key.key_id,
        "origin_prefix": TEST_LOG_ORIGIN,
    }
    # A tenant id with "+" gets an origin its key name can hold.
    assert _vkey(api, "team+blue").startswith(f"{TEST_LOG_ORIGIN}/team%2Bblue+")
    assert_problem(
        api.call("verify", "GET", "/keys?tenant=a%20b", auth=False), 400, "invalid-input"
    )


def test_the_checkpoint_needs_a_read_token_of_the_tenant(api: Api, other_api: Api) -> None:
    _fill(api, 120)
    assert api.call("verify", "GET", "/log/checkpoint", auth=False).status_code == 401
    # Another tenant's token sees its own log, which has no checkpoint.
    assert_problem(other_api.call("verify", "GET", "/log/checkpoint"), 404, "not-found")
    # And the vkey of another tenant's log does not open this one's note.
    note = api.call("verify", "GET", "/log/checkpoint").data
    with pytest.raises(Exception, match="no signature by a trusted key"):
        open_checkpoint(
            note,
            origin=f"{TEST_LOG_ORIGIN}/{api.tenant}",
            verifiers=[Ed25519NoteVerifier.from_vkey(_vkey(api, other_api.tenant))],
        )


def test_a_tampered_stored_note_is_not_served(api: Api, admin_engine: object) -> None:
    _fill(api, 120)
    good = api.call("verify", "GET", "/log/checkpoint").data
    size = parse_note(good).text.split("\n")[1]
    forged = good.replace(f"\n{size}\n".encode(), b"\n7\n", 1)
    Dba(admin_engine, api.tenant).run(  # type: ignore[arg-type]
        "UPDATE registry.checkpoints SET note = :n WHERE tenant_id = :t AND tree_size = :s",
        n=forged,
        s=int(size),
    )
    assert_problem(api.call("verify", "GET", "/log/checkpoint"), 500, "integrity-violation")


def test_pre_note_checkpoints_still_verify_and_are_not_served_as_notes(
    api: Api, real_registry: runtime.Runtime
) -> None:
    # A registry without a checkpoint key signs the JSON statements of before 0008.
    registry = real_registry.registry
    assert isinstance(registry, Registry)
    legacy = Registry(registry.engine, registry.signer, registry.trusted_keys)
    writer = Principal("loader@example.com", api.tenant, ALL_SCOPES)
    legacy.create(
        writer, parse_batch({"entities": [{"entity_type": "Skill", "data": skill_data()}]})
    )
    old = legacy.sign_checkpoint(writer)
    assert old.note is None and old.tree_size == 1
    assert_problem(api.call("verify", "GET", "/log/checkpoint"), 404, "not-found")
    # The next checkpoint is a note; both kinds verify, in /verify and in the audit.
    _fill(api, 100)
    assert api.call("verify", "GET", "/log/checkpoint").status_code == 200
    audit = api.call("verify", "POST", "/audit").get_json()
    assert audit["valid"] and audit["checkpoints_checked"] >= 2, audit
    consistency = api.call("verify", "GET", "/consistency?first=1&second=101").get_json()
    assert consistency["valid"], consistency
    assert consistency["first_checkpoint"]["format"] == "plant-registry/checkpoint/v1"
    assert consistency["second_checkpoint"]["format"] == "c2sp.org/tlog-checkpoint"
