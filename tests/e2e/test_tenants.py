"""Tenants on a keyed gateway with the real broker and workers: two tenant keys and an admin key.

One keyed gateway app (in-process, lifespan included) on the session stack; one job of A's
runs through the whole pipeline and the checks share it: B gets 404 for everything of A's,
the admin sees both, tickets and signed URLs open that one job and only for a while.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cli.stack import Stack
from core.settings import KafkaSettings
from schemas.status import StatusEvent
from streamer.app import create_app
from streamer.auth import key_hash
from streamer.settings import GatewaySettings
from streamer.tickets import UrlSigner
from tests.e2e.kafka_util import read_topic

KEY_A, KEY_B, ADMIN = "k-tenant-a-0123456789", "k-tenant-b-0123456789", "k-admin-0123456789"
A, B = key_hash(KEY_A), key_hash(KEY_B)
SECRET = "test-signing-secret"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def gw(stack: Stack) -> Iterator[TestClient]:
    kafka = KafkaSettings.from_env({**stack.env, "KAFKA_BOOTSTRAP_SERVERS": str(stack.bootstrap)})
    settings = GatewaySettings(kafka=kafka, data_dir=stack.data_dir, dev_mode=False,
                               api_key_hashes=frozenset({A, B, key_hash(ADMIN)}),
                               admin_key_hashes=frozenset({key_hash(ADMIN)}), signing_secret=SECRET,
                               rate_burst=1000, rate_per_s=1000.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _completed(gw: TestClient, job_id: str, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = gw.get(f"/api/v1/status/{job_id}", headers=_auth(key)).json()
        assert status.get("state") not in ("failed", "cancelled"), status
        if status.get("state") == "completed":
            return dict(status)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not completed")


@pytest.fixture(scope="module")
def job_a(gw: TestClient) -> dict[str, Any]:
    """A's job, completed: its final status as A sees it."""
    answer = gw.post("/api/v1/generate", json={"text": "A job of tenant A."}, headers=_auth(KEY_A))
    assert answer.status_code == 202, answer.text
    return _completed(gw, answer.json()["job_id"], KEY_A)


@pytest.fixture(scope="module")
def job_b(gw: TestClient) -> str:
    """B's job, made by a batch: only its id (it need not finish)."""
    batch = gw.post("/api/v1/batch", json={"scripts": [{"text": "A batch job of tenant B."}]}, headers=_auth(KEY_B))
    assert batch.status_code == 202, batch.text
    return str(batch.json()["jobs"][0]["job_id"])


def _ws_close(gw: TestClient, url: str, **kwargs: Any) -> tuple[int, str]:
    with gw.websocket_connect(url, **kwargs) as ws:
        message = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert message["type"] == "error", message
    return closed.value.code, closed.value.reason


def _ws_streams(gw: TestClient, url: str, **kwargs: Any) -> list[str]:
    """The message types of a whole stream that got past the guard."""
    types = []
    with gw.websocket_connect(url, **kwargs) as ws:
        while True:
            try:
                message = ws.receive()
            except WebSocketDisconnect:
                break
            if message["type"] == "websocket.close":
                break
            if message.get("text"):
                types.append(orjson.loads(message["text"])["type"])
    return types


def test_another_key_gets_404_for_everything_of_the_job(gw: TestClient, job_a: dict[str, Any]) -> None:
    job_id = job_a["job_id"]
    assert job_a["tenant"] == A
    for method, path in (("GET", f"/api/v1/status/{job_id}"), ("GET", f"/api/v1/video/{job_id}"),
                         ("POST", f"/api/v1/jobs/{job_id}/ticket"), ("DELETE", f"/api/v1/jobs/{job_id}")):
        response = gw.request(method, path, headers=_auth(KEY_B))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == f"unknown job {job_id!r}"  # as for a job that never was
    assert _ws_close(gw, f"/api/v1/stream/{job_id}", headers=_auth(KEY_B))[0] == 4404
    listed = gw.get("/api/v1/jobs?limit=500", headers=_auth(KEY_B)).json()
    assert job_id not in {j["job_id"] for j in listed["jobs"]}
    assert all(j["tenant"] == B for j in listed["jobs"])
    # still there for its owner, whole
    assert gw.get(f"/api/v1/status/{job_id}", headers=_auth(KEY_A)).json()["state"] == "completed"


def test_batch_jobs_are_the_callers_and_the_admin_sees_every_tenant(gw: TestClient, job_a: dict[str, Any],
                                                                    job_b: str) -> None:
    b_job = job_b
    assert gw.get(f"/api/v1/status/{b_job}", headers=_auth(KEY_B)).json()["tenant"] == B
    assert gw.get(f"/api/v1/status/{b_job}", headers=_auth(KEY_A)).status_code == 404
    admin_list = {j["job_id"]: j["tenant"] for j in gw.get("/api/v1/jobs?limit=500", headers=_auth(ADMIN)).json()["jobs"]}
    assert admin_list[job_a["job_id"]] == A and admin_list[b_job] == B
    video = gw.get(f"/api/v1/video/{job_a['job_id']}", headers=_auth(ADMIN))
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


async def test_every_status_event_of_the_job_names_its_owner(stack: Stack, job_a: dict[str, Any]) -> None:
    """Workers carry the tenant, so the compacted topic's last word (the completed event) keeps it."""
    job_id = job_a["job_id"]
    records = await read_topic(stack, stack.topics.status, lambda r: r.key == job_id.encode())
    events = [StatusEvent.from_json(r.value) for r in records]
    assert {e.stage for e in events} >= {"gateway", "chunker", "tts", "assembler"}
    assert {e.tenant for e in events} == {A} and events[-1].state == "completed"


def test_a_ticket_opens_its_own_job_once_and_only_for_a_while(gw: TestClient, job_a: dict[str, Any]) -> None:
    job_id = job_a["job_id"]
    other = gw.post("/api/v1/generate", json={"text": "Another job of A."}, headers=_auth(KEY_A)).json()["job_id"]
    ticket = gw.post(f"/api/v1/jobs/{job_id}/ticket", headers=_auth(KEY_A))
    assert ticket.status_code == 200, ticket.text
    body = ticket.json()
    assert KEY_A not in ticket.text and body["expires_at"] - time.time() <= 61
    assert _ws_streams(gw, body["stream_url"])[-1] == "end"  # no key: the ticket is enough
    assert _ws_streams(gw, f"/api/v1/stream/{job_id}", subprotocols=[f"ticket.{body['ticket']}"])[-1] == "end"
    code, reason = _ws_close(gw, f"/api/v1/stream/{other}?ticket={body['ticket']}")
    assert code == 4401 and reason.startswith("invalid ticket")
    expired, _ = UrlSigner.create(SECRET, 60, 3600).ticket(f"/api/v1/stream/{job_id}", now=time.time() - 120)
    assert _ws_close(gw, f"/api/v1/stream/{job_id}?ticket={expired}") == (4401, "the ticket has expired")
    deleted = gw.delete(f"/api/v1/jobs/{other}", headers=_auth(ADMIN))  # the admin manages A's jobs too
    assert deleted.status_code == 200 and gw.get(f"/api/v1/status/{other}", headers=_auth(KEY_A)).status_code == 404


def test_the_signed_video_url_downloads_without_a_key_and_expires(gw: TestClient, job_a: dict[str, Any]) -> None:
    job_id = job_a["job_id"]
    signed = job_a["video_url"]
    assert signed.startswith(f"/api/v1/video/{job_id}?expires=") and "signature=" in signed
    video = gw.get(signed)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert gw.get(f"/api/v1/video/{job_id}").status_code == 401  # unsigned, no key
    query = signed.split("?", 1)[1]
    forged = gw.get(f"/api/v1/video/not-{job_id[4:]}?{query}")
    assert forged.status_code == 401 and forged.json()["error"].startswith("invalid signed URL")
    stale = UrlSigner.create(SECRET, 60, 3600).signed_url(f"/api/v1/video/{job_id}", now=time.time() - 7200)
    refused = gw.get(stale)
    assert refused.status_code == 401 and refused.json() == {"v": 1, "error": "the signed URL has expired",
                                                             "detail": None}
    assert gw.delete(signed).status_code == 401  # a signed URL only downloads


def test_usage_per_tenant_and_metrics_for_the_admin(gw: TestClient, job_a: dict[str, Any], job_b: str) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    window = {"from": today, "to": today}
    mine = gw.get("/api/v1/usage", params=window, headers=_auth(KEY_A)).json()["days"]
    assert mine and {d["tenant"] for d in mine} == {A}
    theirs = gw.get("/api/v1/usage", params=window, headers=_auth(KEY_B)).json()["days"]
    assert A not in {d["tenant"] for d in theirs}
    assert gw.get("/api/v1/usage", params={**window, "tenant": A}, headers=_auth(KEY_B)).status_code == 403
    every = {d["tenant"] for d in gw.get("/api/v1/usage", params=window, headers=_auth(ADMIN)).json()["days"]}
    assert {A, B} <= every
    one = gw.get("/api/v1/usage", params={**window, "tenant": A}, headers=_auth(ADMIN)).json()["days"]
    assert {d["tenant"] for d in one} == {A}
    assert gw.get("/metrics", headers=_auth(KEY_A)).status_code == 403
    assert gw.get("/metrics", headers=_auth(ADMIN)).status_code == 200


async def test_dev_mode_is_one_tenant(stack: Stack) -> None:
    """The session's own gateway has no keys: its jobs are `default`'s, and it sees them all."""
    import httpx

    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        answer = await http.post("/api/v1/generate", json={"text": "Dev mode has one tenant."})
        job_id = answer.json()["job_id"]
        assert (await http.get(f"/api/v1/status/{job_id}")).json()["tenant"] == "default"
        listed = (await http.get("/api/v1/jobs", params={"limit": 500})).json()["jobs"]
        assert job_id in {j["job_id"] for j in listed}
        ticket = await http.post(f"/api/v1/jobs/{job_id}/ticket")  # harmless there, and the same shape
        assert ticket.status_code == 200 and ticket.json()["job_id"] == job_id
        await http.delete(f"/api/v1/jobs/{job_id}")


async def test_a_request_written_to_kafka_belongs_to_the_tenant_it_names(stack: Stack, gw: TestClient) -> None:
    """No gateway in between: the chunker's first status event carries the record's tenant."""
    from schemas.requests import ScriptRequest
    from tests.e2e.kafka_util import produce

    job_id = f"kafka-{int(time.time() * 1000)}"
    request = ScriptRequest(job_id=job_id, text="Written straight to Kafka.", submitted_at=time.time(), tenant=A)
    await produce(stack, stack.topics.requests, [(job_id.encode(), request.to_json(), None)])
    deadline = time.monotonic() + 60
    while (seen := gw.get(f"/api/v1/status/{job_id}", headers=_auth(KEY_A))).status_code == 404:
        assert time.monotonic() < deadline, "the job never showed up for its tenant"
        await asyncio.sleep(0.2)
    assert seen.json()["tenant"] == A
    assert gw.get(f"/api/v1/status/{job_id}", headers=_auth(KEY_B)).status_code == 404
    assert gw.delete(f"/api/v1/jobs/{job_id}", headers=_auth(KEY_A)).status_code == 200
