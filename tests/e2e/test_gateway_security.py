"""API keys, rate limits, CORS, body limits and opaque 500s, on a keyed gateway app instance.

The app runs in-process (Starlette's TestClient, lifespan included) against the
session stack's real broker and data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cli.stack import Stack
from core.settings import KafkaSettings
from streamer.app import create_app
from streamer.auth import key_hash
from streamer.settings import GatewaySettings

KEY, OTHER_KEY = "k-alpha-0123456789", "k-beta-9876543210"


@pytest.fixture
def keyed(stack: Stack) -> Iterator[Any]:
    """A factory: keyed(**settings) -> a started TestClient (stopped at teardown)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        kafka = KafkaSettings.from_env({**stack.env, "KAFKA_BOOTSTRAP_SERVERS": str(stack.bootstrap)})
        fields: dict[str, Any] = {"kafka": kafka, "data_dir": stack.data_dir, "dev_mode": False,
                                  "api_key_hashes": frozenset({key_hash(KEY), key_hash(OTHER_KEY)}), **overrides}
        client = TestClient(create_app(GatewaySettings(**fields)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _refusal(client: TestClient, url: str) -> tuple[dict[str, Any], int, str]:
    """A refused socket is accepted, told why, then closed: the message, close code and reason."""
    with client.websocket_connect(url) as ws:
        message = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return message, closed.value.code, closed.value.reason


def test_keys_required_on_http_and_websocket(keyed: Any) -> None:
    client = keyed()
    response = client.get("/api/v1/jobs")
    assert response.status_code == 401 and "API key" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/api/v1/jobs", headers={"X-API-Key": OTHER_KEY}).status_code == 200
    assert client.get(f"/api/v1/jobs?api_key={KEY}").status_code == 200
    for public in ("/", "/health", "/openapi.json", "/docs", "/static/player.js"):
        assert client.get(public).status_code == 200, public

    assert _refusal(client, "/api/v1/stream/somejob")[1] == 4401
    # Past the key check: the job is unknown.
    assert _refusal(client, f"/api/v1/stream/somejob?api_key={KEY}")[1] == 4404


def test_rate_limit_per_key_with_retry_after(keyed: Any) -> None:
    client = keyed(rate_per_s=0.2, rate_burst=3)
    codes = [client.get("/api/v1/jobs", headers={"X-API-Key": KEY}).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = client.get("/api/v1/jobs", headers={"X-API-Key": KEY})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate limit exceeded"
    assert client.get("/api/v1/jobs", headers={"X-API-Key": OTHER_KEY}).status_code == 200
    message, code, _ = _refusal(client, f"/api/v1/stream/somejob?api_key={KEY}")
    assert code == message["code"] == 4429 and message["retry_after_s"] >= 1


def test_body_limit_declared_and_streamed(keyed: Any) -> None:
    client = keyed(max_body_bytes=1000)
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    response = client.post("/api/v1/generate", content=b'{"text": "' + b"a" * 2000 + b'"}', headers=headers)
    assert response.status_code == 413 and "1000" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        yield b'{"text": "'
        for _ in range(20):
            yield b"b" * 100
        yield b'"}'

    response = client.post("/api/v1/generate", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert client.post("/api/v1/generate", json={"text": "Small."}, headers=headers).status_code == 202


def test_cors_preflight(keyed: Any) -> None:
    client = keyed(cors_origins=("https://app.example",))
    allowed = client.options("/api/v1/generate", headers={"Origin": "https://app.example",
                                                          "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "authorization"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    denied = client.options("/api/v1/generate", headers={"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
    assert denied.json()["error"]  # JSON, like every 4xx
    delete = client.options("/api/v1/jobs/x", headers={"Origin": "https://app.example",
                                                       "Access-Control-Request-Method": "DELETE"})
    assert delete.status_code == 200 and "DELETE" in delete.headers["access-control-allow-methods"]
    plain = keyed()
    assert "access-control-allow-origin" not in plain.get("/health", headers={"Origin": "https://app.example"}).headers


def test_unexpected_errors_leak_nothing(keyed: Any) -> None:
    client = keyed()
    state = client.app.state.gateway  # type: ignore[attr-defined]

    def broken(*args: Any) -> Any:
        raise RuntimeError(f"database password is {KEY}")

    state.board.page = broken
    response = client.get("/api/v1/jobs", headers={"X-API-Key": KEY})
    assert response.status_code == 500 and response.json() == {"v": 1, "error": "internal server error",
                                                               "detail": None}
    assert KEY not in response.text and "Traceback" not in response.text


async def test_keyed_gateway_process_end_to_end(stack: Stack) -> None:
    """A real keyed gateway (subprocess, real sockets): the client's key works on HTTP and WebSocket."""
    import httpx
    import orjson
    import websockets

    from cli.client import generate_and_watch
    from tests.e2e.gateway_util import extra_gateway

    env = {"AVATAR_API_KEYS": key_hash(KEY), "AVATAR_DEV_MODE": "0", "AVATAR_AUTH_FAILURES_MAX": "3"}
    with extra_gateway(stack, "gateway-keyed", env) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.post("/api/v1/generate", json={"text": "No key."})).status_code == 401
        result = await generate_and_watch(url, "With a key.", api_key=KEY)
        assert result.media and result.messages[-1]["type"] == "end"
        ws_base = url.replace("http", "ws", 1) + "/api/v1/stream/"
        ws_url = ws_base + result.job_id
        # A refusal reaches the client as its code and reason (it was an HTTP 403, so 1006 in a browser).
        message, code, reason = await _real_refusal(ws_url)
        assert code == message["code"] == 4401 and "API key is required" in reason
        message, code, reason = await _real_refusal(f"{ws_url}?api_key=wrong-1")
        assert (code, reason) == (4401, "invalid API key")
        long_id = quote("é" * 100)  # the reason would be 215 bytes: a close frame takes 123
        message, code, reason = await _real_refusal(f"{ws_base}{long_id}?api_key={KEY}")
        assert code == 4404 and len(reason.encode()) <= 123 and reason.startswith("unknown job 'éé")
        message, code, reason = await _real_refusal(f"{ws_url}?api_key={KEY}", origin="https://evil.example")
        assert code == 4403 and "https://evil.example" in reason
        async with websockets.connect(f"{ws_url}?api_key={KEY}", max_size=None, open_timeout=10) as ws:
            first = orjson.loads(await ws.recv())  # the browser's way: the key in the query
        assert first["type"] == "status" and first["status"]["job_id"] == result.job_id
        # Last, as it holds this address back for a minute: two more wrong keys make three.
        async with httpx.AsyncClient(base_url=url) as http:
            for n in (2, 3):
                assert (await http.get("/api/v1/jobs", headers={"X-API-Key": f"wrong-{n}"})).status_code == 401
            throttled = await http.get("/api/v1/jobs", headers={"X-API-Key": KEY})
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 1
        message, code, reason = await _real_refusal(f"{ws_url}?api_key={KEY}")
        assert code == 4429 and f"retry after {message['retry_after_s']} s" in reason


async def _real_refusal(url: str, **kwargs: Any) -> tuple[dict[str, Any], int | None, str | None]:
    import orjson
    import websockets

    async with websockets.connect(url, open_timeout=10, **kwargs) as ws:
        message = orjson.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosedError):
            await ws.recv()
    return message, ws.close_code, ws.close_reason
