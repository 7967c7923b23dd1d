"""Tenants, tickets and signed URLs without a broker: the signer, the Caller, and the guard
and handlers of the whole app with two tenant keys and an admin key."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from core.logs import JsonLineFormatter
from schemas.status import JobState, StatusEvent
from streamer.auth import key_hash
from streamer.jobs import JobBoard
from streamer.owners import AVATARS, Owners
from streamer.settings import GatewaySettings
from streamer.state import GatewayState
from streamer.tenants import DEV_CALLER, Caller
from streamer.tickets import BadCredential, UrlSigner
from tests.streamer.app_util import completed_job, offline_client

KEY_A, KEY_B, ADMIN = "k-a-0123456789", "k-b-0123456789", "k-admin-0123456789"
A, B = key_hash(KEY_A), key_hash(KEY_B)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _keyed(tmp_path: Path, **settings: Any) -> tuple[TestClient, GatewayState]:
    return offline_client(tmp_path, dev_mode=False, api_key_hashes=frozenset({A, B, key_hash(ADMIN)}),
                          admin_key_hashes=frozenset({key_hash(ADMIN)}), signing_secret="s3cret", **settings)


def _job_of(state: GatewayState, job_id: str, tenant: str) -> None:
    completed_job(state, job_id, b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    state.board.apply_status(StatusEvent(job_id=job_id, state=JobState.COMPLETED, stage="gateway", at=1.0,
                                         segments=0, tenant=tenant))


# --- the signer -------------------------------------------------------------------------------


def test_a_ticket_opens_its_own_path_until_it_expires() -> None:
    signer = UrlSigner.create("secret", ticket_ttl_s=60, url_ttl_s=3600)
    ticket, expires = signer.ticket("/api/v1/stream/a", now=1000.0)
    assert expires == 1060
    signer.check_ticket("/api/v1/stream/a", ticket, now=1059.0)
    with pytest.raises(BadCredential, match="expired"):
        signer.check_ticket("/api/v1/stream/a", ticket, now=1061.0)
    with pytest.raises(BadCredential, match="invalid ticket"):
        signer.check_ticket("/api/v1/stream/b", ticket, now=1000.0)
    with pytest.raises(BadCredential, match="invalid ticket"):  # a later expiry is not the one signed
        signer.check_ticket("/api/v1/stream/a", "99999." + ticket.split(".", 1)[1], now=1000.0)
    for garbage in ("", "abc", "12.", ".sig", "1" * 20 + ".sig"):
        with pytest.raises(BadCredential, match="malformed"):
            signer.check_ticket("/api/v1/stream/a", garbage, now=1000.0)


def test_secrets_stream_tickets_and_downloads_do_not_stand_for_each_other() -> None:
    one, other = UrlSigner.create("one", 60, 3600), UrlSigner.create("two", 60, 3600)
    ticket, _ = one.ticket("/api/v1/video/a", now=0.0)
    with pytest.raises(BadCredential):
        other.check_ticket("/api/v1/video/a", ticket, now=0.0)
    expires, mac = ticket.split(".", 1)
    with pytest.raises(BadCredential, match="invalid signed URL"):  # a stream ticket is no download
        one.check_signature("/api/v1/video/a", expires, mac, now=0.0)
    url = one.signed_url("/api/v1/video/a", now=0.0)
    query = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))
    assert int(query["expires"]) == 3600
    one.check_signature("/api/v1/video/a", query["expires"], query["signature"], now=10.0)


def test_without_a_secret_each_signer_has_its_own_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = UrlSigner.create(None, 60, 3600)
    assert "do not survive a restart" in caplog.text
    ticket, _ = first.ticket("/p", now=0.0)
    with pytest.raises(BadCredential):
        UrlSigner.create(None, 60, 3600, warn=False).check_ticket("/p", ticket, now=0.0)


def test_caller_sees_its_own_shared_things_and_an_admin_everything() -> None:
    mine = Caller(A)
    assert mine.sees(A) and mine.sees(None) and not mine.sees(B) and not mine.sees("default")
    assert Caller(B, is_admin=True).sees(A) and DEV_CALLER.sees(A)


def test_admin_keys_are_api_keys_too() -> None:
    settings = GatewaySettings.from_env({"AVATAR_API_KEYS": A, "AVATAR_ADMIN_KEYS": key_hash(ADMIN),
                                         "AVATAR_TICKET_TTL_S": "30", "AVATAR_SIGNING_SECRET": "x"})
    assert settings.api_key_hashes == {A, key_hash(ADMIN)} and settings.admin_key_hashes == {key_hash(ADMIN)}
    assert settings.ticket_ttl_s == 30 and settings.signed_url_ttl_s == 3600
    assert "signing_secret" not in repr(settings)  # the one secret the settings hold is never printed
    assert GatewaySettings.from_env({}).signing_secret is None


def test_the_job_board_keeps_the_first_named_owner() -> None:
    board = JobBoard()
    board.apply_status(StatusEvent(job_id="j", state=JobState.QUEUED, stage="gateway", at=1.0, tenant=A))
    board.apply_status(StatusEvent(job_id="j", state=JobState.RUNNING, stage="tts", at=2.0))  # says default
    board.apply_status(StatusEvent(job_id="j", state=JobState.COMPLETED, stage="assembler", at=3.0, tenant=B))
    view = board.get("j")
    assert view is not None and view.status.tenant == A


def test_ticket_values_are_redacted_from_log_lines() -> None:
    record = logging.makeLogRecord({"msg": '127.0.0.1 - "GET /api/v1/stream/j?from_seq=0&ticket=123.abc HTTP/1.1"'
                                           ' and /api/v1/video/j?expires=9&signature=zzz'})
    line = JsonLineFormatter().format(record)
    assert "123.abc" not in line and "zzz" not in line and "ticket=***" in line and "signature=***" in line


# --- the app ----------------------------------------------------------------------------------


def test_other_keys_get_404_and_lists_hold_only_their_own(tmp_path: Path) -> None:
    client, state = _keyed(tmp_path)
    _job_of(state, "ja", A)
    _job_of(state, "jb", B)
    for path in ("/api/v1/status/ja", "/api/v1/video/ja"):
        assert client.get(path, headers=_auth(KEY_B)).json() == {"v": 1, "error": "unknown job 'ja'",
                                                                 "detail": None}
    assert client.post("/api/v1/jobs/ja/ticket", headers=_auth(KEY_B)).status_code == 404
    assert client.get("/api/v1/status/ja", headers=_auth(KEY_A)).json()["tenant"] == A
    assert [j["job_id"] for j in client.get("/api/v1/jobs", headers=_auth(KEY_A)).json()["jobs"]] == ["ja"]
    assert {j["job_id"] for j in client.get("/api/v1/jobs", headers=_auth(ADMIN)).json()["jobs"]} == {"ja", "jb"}
    assert client.get("/metrics", headers=_auth(KEY_A)).status_code == 403


def test_a_sessions_ticket_opens_its_two_way_socket(tmp_path: Path) -> None:
    client, state = _keyed(tmp_path)
    _job_of(state, "session-a", A)
    body = client.post("/api/v1/jobs/session-a/ticket", headers=_auth(KEY_A)).json()
    assert body["stream_url"] == f"/api/v1/sessions/session-a/stream?ticket={body['ticket']}"
    with client.websocket_connect(body["stream_url"]) as ws:
        assert ws.receive_json()["type"] == "status"
    with client.websocket_connect(f"/api/v1/stream/session-a?ticket={body['ticket']}") as ws:
        assert ws.receive_json()["code"] == 4401  # a ticket names its path


def test_a_ticket_streams_one_job_without_a_key(tmp_path: Path) -> None:
    client, state = _keyed(tmp_path)
    _job_of(state, "ja", A)
    _job_of(state, "jb", A)
    body = client.post("/api/v1/jobs/ja/ticket", headers=_auth(KEY_A)).json()
    assert body["stream_url"] == f"/api/v1/stream/ja?ticket={body['ticket']}"
    with client.websocket_connect(body["stream_url"]) as ws:
        assert ws.receive_json()["type"] == "status"
    with client.websocket_connect("/api/v1/stream/ja", subprotocols=[f"ticket.{body['ticket']}"]) as ws:
        assert ws.accepted_subprotocol == f"ticket.{body['ticket']}"  # echoed, or browsers drop it
        assert ws.receive_json()["type"] == "status"
    with client.websocket_connect(f"/api/v1/stream/jb?ticket={body['ticket']}") as ws:
        assert ws.receive_json()["code"] == 4401
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4401
    expired, _ = UrlSigner.create("s3cret", 60, 3600).ticket("/api/v1/stream/ja", now=time.time() - 61)
    with client.websocket_connect("/api/v1/stream/ja", subprotocols=[f"ticket.{expired}"]) as ws:
        assert ws.accepted_subprotocol == f"ticket.{expired}"  # so a browser reads why
        assert ws.receive_json()["error"] == "the ticket has expired"
    # a ticket is no key for anything else
    assert client.get(f"/api/v1/status/ja?ticket={body['ticket']}").status_code == 401


def test_status_and_avatars_carry_signed_urls_that_download_without_a_key(tmp_path: Path) -> None:
    client, state = _keyed(tmp_path)
    _job_of(state, "ja", A)
    url = client.get("/api/v1/status/ja", headers=_auth(KEY_A)).json()["video_url"]
    assert url.startswith("/api/v1/video/ja?expires=") and KEY_A not in url
    assert client.get(url).status_code == 200
    assert client.get("/api/v1/video/ja").status_code == 401
    expired = UrlSigner.create("s3cret", 60, 3600).signed_url("/api/v1/video/ja", now=time.time() - 3601)
    assert client.get(expired).json()["error"] == "the signed URL has expired"


def test_owned_avatars_are_hidden_from_other_keys_and_shared_ones_are_not(tmp_path: Path) -> None:
    client, state = _keyed(tmp_path)
    owners = Owners(state.store.root)
    owners.set(AVATARS, "mine", A)
    assert owners.get(AVATARS, "mine") == A and owners.get(AVATARS, "astronaut") is None
    state.board.apply_status(StatusEvent(job_id="mine", state=JobState.RUNNING, stage="avatars", at=1.0,
                                         avatar_id="mine", created_at=1.0, tenant=A))
    assert client.get("/api/v1/avatars/mine", headers=_auth(KEY_A)).json()["tenant"] == A
    assert client.get("/api/v1/avatars/mine", headers=_auth(KEY_B)).status_code == 404
    assert client.delete("/api/v1/avatars/mine", headers=_auth(KEY_B)).status_code == 404
    assert "mine" not in {a["avatar_id"] for a in client.get("/api/v1/avatars", headers=_auth(KEY_B)).json()["items"]}
    assert "mine" in {a["avatar_id"] for a in client.get("/api/v1/avatars", headers=_auth(ADMIN)).json()["items"]}
