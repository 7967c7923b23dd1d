"""/openapi.json describes what the code enforces: each status a request here gets is documented
for its operation, and the constraints it lists are the ones the handlers check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from schemas.base import PLAIN_TEXT_PATTERN
from schemas.status import JobState, StatusEvent
from streamer.auth import key_hash
from tests.streamer.app_util import completed_job, offline_client

JPEG = b"\xff\xd8 not really"
# (method, operation path, request path, keyword arguments): one request for each kind of answer.
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/generate", "/api/v1/generate", {"content": b"{}", "headers": {"content-type": "text/plain"}}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"json": {"text": "\x00"}}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"json": {"text": "Hi.", "avatar_id": "nobody"}}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"json": {"text": "x"}, "headers": {"origin": "https://evil"}}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"json": {"text": "x" * 300_000}}),
    ("GET", "/api/v1/status/{job_id}", "/api/v1/status/-bad", {}),
    ("GET", "/api/v1/status/{job_id}", "/api/v1/status/nope", {}),
    ("GET", "/api/v1/status/{job_id}", "/api/v1/status/done", {}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/done", {}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/done", {"headers": {"range": "bytes=0-1"}}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/done", {"headers": {"range": "bytes=999-"}}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/done", {"headers": {"range": "bytes=5-1"}}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/done", {"headers": {"if-none-match": "*"}}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/running", {}),
    ("GET", "/api/v1/video/{job_id}", "/api/v1/video/nope", {}),
    ("GET", "/api/v1/jobs", "/api/v1/jobs?limit=0", {}),
    ("GET", "/api/v1/jobs", "/api/v1/jobs", {}),
    ("DELETE", "/api/v1/jobs/{job_id}", "/api/v1/jobs/nope", {}),
    ("DELETE", "/api/v1/jobs/{job_id}", "/api/v1/jobs/.x", {}),
    ("POST", "/api/v1/batch", "/api/v1/batch", {"json": {"scripts": []}}),
    ("POST", "/api/v1/batch", "/api/v1/batch", {"json": {"scripts": [{"text": "a", "avatar_id": "nobody"}]}}),
    ("POST", "/api/v1/batch", "/api/v1/batch", {"content": b"[]"}),
    ("POST", "/api/v1/avatars/train", "/api/v1/avatars/train", {"content": JPEG, "headers": {"content-type": "image/jpeg"}}),
    ("POST", "/api/v1/avatars/train", "/api/v1/avatars/train", {"files": {"file": ("a.jpg", JPEG)}}),
    ("POST", "/api/v1/avatars/train", "/api/v1/avatars/train", {"files": {"file": ("a.jpg", JPEG)}, "data": {"name": "A"}}),
    ("POST", "/api/v1/avatars/train", "/api/v1/avatars/train", {"files": {"other": ("a.jpg", JPEG)}, "data": {"name": "A"}}),
    ("GET", "/api/v1/avatars", "/api/v1/avatars?limit=101", {}),
    ("GET", "/api/v1/avatars/{avatar_id}", "/api/v1/avatars/nope", {}),
    ("GET", "/api/v1/avatars/{avatar_id}", "/api/v1/avatars/-x", {}),
    ("DELETE", "/api/v1/avatars/{avatar_id}", "/api/v1/avatars/astronaut", {}),
    ("DELETE", "/api/v1/avatars/{avatar_id}", "/api/v1/avatars/nope", {}),
    ("GET", "/api/v1/avatars/{avatar_id}/thumbnail", "/api/v1/avatars/nope/thumbnail", {}),
    ("GET", "/api/v1/voices", "/api/v1/voices", {}),
    ("POST", "/api/v1/voices/clone", "/api/v1/voices/clone", {"files": {"files": ("a.wav", b"x")}, "data": {"name": "Me"}}),
    ("POST", "/api/v1/tts", "/api/v1/tts", {"json": {"text": "Hi.", "voice_id": "piper:nobody"}}),
    ("POST", "/api/v1/tts", "/api/v1/tts", {"json": {"text": ""}}),
    ("POST", "/api/v1/tts", "/api/v1/tts", {"content": b"{}"}),
    ("POST", "/api/v1/generate", "/api/v1/generate", {"json": {"text": "Hi.", "webhook_url": "http://10.0.0.1/"}}),
    ("GET", "/api/v1/jobs/{job_id}/webhooks", "/api/v1/jobs/done/webhooks", {}),
    ("GET", "/api/v1/jobs/{job_id}/webhooks", "/api/v1/jobs/nope/webhooks", {}),
    ("GET", "/api/v1/jobs/{job_id}/webhooks", "/api/v1/jobs/-x/webhooks", {}),
]


def _client(tmp_path: Path, **settings: Any) -> tuple[TestClient, dict[str, Any]]:
    client, state = offline_client(tmp_path, **settings)
    completed_job(state, "done", b"0123456789" * 10)
    state.board.apply_status(StatusEvent(job_id="running", state=JobState.RUNNING, stage="tts", at=1.0))
    return client, client.get("/openapi.json").json()


def test_every_status_the_code_answers_is_documented(tmp_path: Path) -> None:
    client, doc = _client(tmp_path)
    seen: set[tuple[str, str, int]] = set()
    for method, operation, url, kwargs in CASES:
        status = client.request(method, url, **kwargs).status_code
        assert str(status) in doc["paths"][operation][method.lower()]["responses"], (method, url, status)
        seen.add((method, operation, status))
    assert {s for _, _, s in seen} == {200, 206, 304, 400, 403, 404, 409, 413, 415, 416, 422}
    keyed, keyed_doc = _client(tmp_path / "keyed", dev_mode=False, api_key_hashes=frozenset({key_hash("k")}),
                               auth_failures_max=1)
    for status in (401, 429):  # a wrong key, then the same address throttled
        assert keyed.get("/api/v1/jobs", headers={"X-API-Key": "wrong"}).status_code == status
        assert str(status) in keyed_doc["paths"]["/api/v1/jobs"]["get"]["responses"]


def test_parameters_and_bodies_carry_the_checked_constraints(tmp_path: Path) -> None:
    client, doc = _client(tmp_path)
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    pattern = param["schema"]["pattern"]
                    assert re.match(pattern, "abc-1") and not re.match(pattern, "x" * 65), path
    schemas = doc["components"]["schemas"]
    for model in ("GenerateRequest", "TtsRequest"):
        text = schemas[model]["properties"]["text"]
        assert text["minLength"] == 1 and text["pattern"] == PLAIN_TEXT_PATTERN and text["maxLength"]
    for path, fields in (("/api/v1/avatars/train", {"file", "name"}), ("/api/v1/voices/clone", {"files", "name"})):
        body = doc["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert set(body["required"]) == fields and body["properties"]["name"]["minLength"] == 1, path
    assert doc["paths"]["/api/v1/avatars/train"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"]["properties"]["file"]["format"] == "binary"
    for path in ("/api/v1/jobs", "/api/v1/avatars"):  # the documented bounds are the enforced ones
        limit = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "limit")["schema"]
        assert limit["type"] == "integer" and limit["minimum"] == 1
        assert client.get(path, params={"limit": limit["maximum"]}).status_code == 200
        assert client.get(path, params={"limit": limit["maximum"] + 1}).status_code == 400
        assert client.get(path).json()["limit"] == limit["default"]
    stream = doc["paths"]["/api/v1/stream/{job_id}"]["get"]
    assert "4401" in stream["description"] and "4429" in stream["description"]


def test_keys_are_documented_where_they_are_asked_for(tmp_path: Path) -> None:
    keyed, _ = offline_client(tmp_path, dev_mode=False, api_key_hashes=frozenset({"0" * 64}))
    doc = keyed.get("/openapi.json").json()
    assert "api_key" in {s["name"] for s in doc["components"]["securitySchemes"].values() if "name" in s}
    assert doc["paths"]["/api/v1/jobs"]["get"]["security"]
    dev, _ = offline_client(tmp_path)  # dev mode: no operation asks for a key
    doc = dev.get("/openapi.json").json()
    assert "securitySchemes" not in doc["components"]
    assert not any("security" in op for ops in doc["paths"].values() for op in ops.values())


def test_cors_preflight_allows_delete_and_refusals_are_json(tmp_path: Path) -> None:
    client, _ = offline_client(tmp_path, cors_origins=("https://app.example",))
    allowed = client.options("/api/v1/jobs/x", headers={"Origin": "https://app.example",
                                                        "Access-Control-Request-Method": "DELETE",
                                                        "Access-Control-Request-Headers": "if-none-match"})
    assert allowed.status_code == 200 and "DELETE" in allowed.headers["access-control-allow-methods"]
    assert "if-none-match" in allowed.headers["access-control-allow-headers"].lower()
    denied = client.options("/api/v1/jobs/x", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "DELETE"})
    assert denied.status_code == 400 and denied.json()["error"] == "Disallowed CORS origin"
