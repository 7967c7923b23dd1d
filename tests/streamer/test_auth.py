"""The guard, through the whole app: WebSocket refusals are accepted, explained and closed
with 4000 + the HTTP status; wrong keys are throttled per address; foreign origins refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from schemas.status import JobState, StatusEvent
from streamer.auth import key_hash
from streamer.state import GatewayState
from tests.streamer.app_util import offline_client

KEY = "k-test-0123456789"


def _with_job(client: TestClient, state: GatewayState) -> TestClient:
    """A finished job of KEY's with no segments: a stream of it sends status and end, then closes 1000."""
    state.board.apply_status(StatusEvent(job_id="job", state=JobState.COMPLETED, stage="assembler", at=1.0,
                                         segments=0, tenant=key_hash(KEY)))
    return client


def _keyed(tmp_path: Path, **settings: Any) -> TestClient:
    return _with_job(*offline_client(tmp_path, dev_mode=False, api_key_hashes=frozenset({key_hash(KEY)}),
                                     **settings))


def _streams(client: TestClient, url: str, **kwargs: Any) -> bool:
    """The socket got past the guard: the job's whole (empty) stream, then a normal close."""
    with client.websocket_connect(url, **kwargs) as ws:
        assert [ws.receive_json()["type"], ws.receive_json()["type"]] == ["status", "end"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return closed.value.code == 1000


def _refusal(client: TestClient, url: str, **kwargs: Any) -> tuple[dict[str, Any], int, str]:
    """The error message a refused socket gets after the handshake, and its close code and reason."""
    with client.websocket_connect(url, **kwargs) as ws:
        message = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return message, closed.value.code, closed.value.reason


def test_websocket_refusals_say_why(tmp_path: Path) -> None:
    client = _keyed(tmp_path)
    message, code, reason = _refusal(client, "/api/v1/stream/job")
    assert (message["type"], message["code"], code) == ("error", 4401, 4401)
    assert "API key is required" in message["error"] and reason == message["error"]
    message, code, reason = _refusal(client, "/api/v1/stream/job?api_key=wrong")
    assert code == 4401 and reason == message["error"] == "invalid API key"
    assert _streams(client, f"/api/v1/stream/job?api_key={KEY}")


def test_unknown_job_reason_fits_a_close_frame(tmp_path: Path) -> None:
    client = _keyed(tmp_path)
    job_id = "x" * 200
    message, code, reason = _refusal(client, f"/api/v1/stream/{job_id}?api_key={KEY}")
    assert code == message["code"] == 4404 and job_id in message["error"]  # the message is whole
    assert len(reason.encode()) <= 123 and reason.startswith("unknown job 'xxx") and reason.endswith("…")


def test_wrong_keys_are_throttled_per_address(tmp_path: Path) -> None:
    client = _keyed(tmp_path, auth_failures_max=3, auth_failures_window_s=60.0)
    missing = [client.get("/api/v1/jobs").status_code for _ in range(5)]
    assert missing == [401] * 5  # no key at all is not a guess
    wrong = [client.get("/api/v1/jobs", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(3)]
    assert wrong == [401, 401, 401]
    for headers in ({"X-API-Key": "guess-4"}, {"X-API-Key": KEY}):  # a guess while throttled tells nothing
        limited = client.get("/api/v1/jobs", headers=headers)
        assert limited.status_code == 429 and 55 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"] == "too many invalid API keys from this address"
        assert limited.json()["detail"]["retry_after_s"] == int(limited.headers["retry-after"])
    message, code, reason = _refusal(client, f"/api/v1/stream/job?api_key={KEY}")
    assert code == 4429 and message["retry_after_s"] >= 55
    assert f"retry after {message['retry_after_s']} s" in message["error"] and reason == message["error"]
    elsewhere = TestClient(client.app, client=("198.51.100.7", 5000))  # another address, the same gateway
    assert elsewhere.get("/api/v1/jobs", headers={"X-API-Key": KEY}).status_code == 200


def test_rate_limited_websocket_says_when(tmp_path: Path) -> None:
    client = _keyed(tmp_path, rate_per_s=0.1, rate_burst=1)
    assert client.get("/api/v1/jobs", headers={"X-API-Key": KEY}).status_code == 200
    message, code, _ = _refusal(client, f"/api/v1/stream/job?api_key={KEY}")
    assert code == 4429 and message["error"].startswith("rate limit exceeded; retry after")
    assert 1 <= message["retry_after_s"] <= 10


def test_foreign_origins_are_refused_in_dev_mode_too(tmp_path: Path) -> None:
    client = _with_job(*offline_client(tmp_path, cors_origins=("https://app.example",)))
    message, code, reason = _refusal(client, "/api/v1/stream/job", headers={"Origin": "https://evil.example"})
    assert code == 4403 and "https://evil.example" in reason and message["code"] == 4403
    for origin in ("http://testserver", "https://app.example"):  # this site, and a listed one
        assert _streams(client, "/api/v1/stream/job", headers={"Origin": origin}), origin
    forged = client.post("/api/v1/avatars/train", headers={"Origin": "https://evil.example"},
                         files={"file": ("a.jpg", b"x", "image/jpeg")}, data={"name": "a"})
    assert forged.status_code == 403 and "not allowed" in forged.json()["error"]  # a cross-site form
    assert client.get("/api/v1/jobs", headers={"Origin": "https://evil.example"}).status_code == 200  # reads: CORS
    behind_proxy = client.delete("/api/v1/jobs/nope", headers={"Origin": "https://gw.example",
                                                               "X-Forwarded-Host": "gw.example"})
    assert behind_proxy.status_code == 404
