from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.core.errors import InputError, VerificationError
from shared.core.hashing import sha256
from shared.core.note import Ed25519NoteSigner, sign_note
from shared.core.tlog import TreeHead, open_checkpoint, tenant_origin

ROOT = sha256(b"root")
ROOT_B64 = base64.b64encode(ROOT).decode()
ORIGIN = "registry.example.com/plant/acme"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Same bytes, but the last character's two unused bits set: decodes, yet is not canonical.
NON_CANONICAL_ROOT = ROOT_B64[:-2] + _ALPHABET[(_ALPHABET.index(ROOT_B64[-2]) & ~3) | 1] + "="


def signer(label: str = "log") -> Ed25519NoteSigner:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(sha256(label.encode()))
    return Ed25519NoteSigner.from_private_key(ORIGIN, key)


def test_text_is_the_spec_layout() -> None:
    assert TreeHead(ORIGIN, 20852163, ROOT).text() == f"{ORIGIN}\n20852163\n{ROOT_B64}\n"
    assert TreeHead(ORIGIN, 0, ROOT, ("ext one",)).text().endswith("\next one\n")


def test_the_spec_example_body_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    head = TreeHead.parse(text)
    assert (head.origin, head.size) == ("example.com/behind-the-sofa", 20852163)
    assert head.text() == text


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n3\n{ROOT_B64}",  # no final newline
        f"{ORIGIN}\n3\n",  # no root
        f"{ORIGIN}\n03\n{ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n-3\n{ROOT_B64}\n",
        f"{ORIGIN}\n+3\n{ROOT_B64}\n",
        f"{ORIGIN}\n9223372036854775808\n{ROOT_B64}\n",  # beyond int64
        f"{ORIGIN}\n3\n{ROOT_B64[:-4]}\n",  # short root
        f"{ORIGIN}\n3\n{NON_CANONICAL_ROOT}\n",
        f"{ORIGIN}\n3\n{ROOT_B64}\n\n",  # empty extension line
        f"\n3\n{ROOT_B64}\n",  # empty origin
    ],
)
def test_malformed_bodies_are_rejected(text: str) -> None:
    with pytest.raises(VerificationError) as info:
        TreeHead.parse(text)
    assert info.value.check == "checkpoint"


def test_open_checkpoint_checks_signature_and_origin() -> None:
    head = TreeHead(ORIGIN, 3, ROOT)
    message = sign_note(head.text(), [signer()])
    assert open_checkpoint(message, origin=ORIGIN, verifiers=[signer().verifier]) == head
    with pytest.raises(VerificationError, match=r"not 'registry\.example\.com/plant/other'"):
        open_checkpoint(
            message,
            origin=tenant_origin("registry.example.com/plant", "other"),
            verifiers=[signer().verifier],
        )
    with pytest.raises(VerificationError, match="no signature by a trusted key"):
        open_checkpoint(message, origin=ORIGIN, verifiers=[signer("other").verifier])


def test_tenant_origin() -> None:
    assert tenant_origin("registry.example.com/plant/", "acme") == ORIGIN
    with pytest.raises(InputError):
        tenant_origin("registry.example.com/plant", "a b")


def test_tree_head_refuses_bad_values() -> None:
    with pytest.raises(InputError):
        TreeHead(ORIGIN, -1, ROOT)
    with pytest.raises(InputError):
        TreeHead(ORIGIN, 1, ROOT[:31])
    with pytest.raises(InputError):
        TreeHead("two\nlines", 1, ROOT)
