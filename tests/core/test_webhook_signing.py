"""Webhook signatures: what the sender writes is what the README's receiver accepts."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

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


def test_the_readme_snippet_verifies_what_the_sender_signs() -> None:
    """The receiver code in README's Webhooks section, run as it is printed there."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Webhooks"):]
    snippet = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python"))]
    scope: dict[str, object] = {}
    exec(snippet, scope)  # noqa: S102 - our own README
    readme_verify = scope["verify"]
    now = int(time.time())
    header = signature_header(SECRET, now, BODY)
    assert readme_verify(SECRET, header, BODY)  # type: ignore[operator]
    assert not readme_verify(SECRET, header, BODY + b" ")  # type: ignore[operator]
    assert not readme_verify(SECRET, signature_header(SECRET, now - 600, BODY), BODY)  # type: ignore[operator]
