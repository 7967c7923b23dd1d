"""Webhook signatures: what the sender writes is what the README's receiver accepts."""

from __future__ import annotations

import hashlib
import hmac

from core.webhook_signing import signature, signature_header, verify

SECRET = "whsec-test"
BODY = b'{"event":"job.completed","job_id":"j1"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, BODY) == expected
    assert signature_header(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_a_valid_header_verifies_within_the_window() -> None:
    header = signature_header(SECRET, 1700000000, BODY)
    assert verify(SECRET, header, BODY, now=1700000000 + 299)


def test_tampering_a_wrong_secret_or_an_old_timestamp_fail() -> None:
    header = signature_header(SECRET, 1700000000, BODY)
    assert not verify(SECRET, header, BODY.replace(b"j1", b"j2"), now=1700000000)
    assert not verify("other-secret", header, BODY, now=1700000000)
    assert not verify(SECRET, header, BODY, now=1700000000 + 301)  # a replay after the window
    # the timestamp is signed: moving it forward breaks the signature
    moved = header.replace("t=1700000000", "t=1700000100")
    assert not verify(SECRET, moved, BODY, now=1700000100)


def test_malformed_headers_are_refused() -> None:
    for header in ("", "v1=abc", "t=x,v1=abc", "t=1700000000", "garbage"):
        assert not verify(SECRET, header, BODY, now=1700000000), header


def test_any_of_several_v1_signatures_may_match() -> None:
    """Room for a secret rotation: the sender may sign with old and new secrets at once."""
    good = signature(SECRET, 1700000000, BODY)
    assert verify(SECRET, f"t=1700000000,v1={'0' * 64},v1={good}", BODY, now=1700000000)
