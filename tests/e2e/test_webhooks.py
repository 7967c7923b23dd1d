"""Signed webhooks on the real broker: a job's job.completed reaches a receiver on loopback
(allow-listed) with a valid signature, retried while the receiver fails, every attempt
visible through the API; a webhooks worker SIGKILLed with a delivery pending resumes it after
its restart under the same delivery id; a URL that is not a public http(s) one is a 422."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from cli.client import submit
from cli.stack import Stack
from core.kafka_admin import ensure_topics
from core.settings import KafkaSettings
from core.webhook_signing import verify
from schemas.status import JobState, StatusEvent
from schemas.webhooks import WebhookDelivery, WebhookEvent, delivery_id_of
from tests.conftest import WEBHOOK_ENV, WEBHOOK_SECRET
from tests.e2e.gateway_util import poll
from tests.e2e.kafka_util import produce, read_topic

TEXT = "Tell the receiver when this is done."


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers 500 to a path's first `fail_first[path]`
    requests, 503 while `down` holds the path, 204 otherwise; keeps every request."""

    port: int = 0
    fail_first: dict[str, int] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            seen = sum(1 for r in self.received if r.path == path)
            code = 503 if path in self.down else 500 if seen < self.fail_first.get(path, 0) else 204
            self.received.append(Received(path, headers, body, code))
            return code

    def of(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = state.answer(self.path, dict(self.headers.items()), body)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class HooksWorker:
    """A webhooks-only worker on topics of their own (another prefix on the session's broker),
    so that no other worker's webhooks stage sees its jobs."""

    stack: Stack
    prefix: str
    env: dict[str, str]
    kafka: KafkaSettings

    @property
    def ready(self) -> Path:
        return self.stack.ready_file_of(self.prefix)

    def start(self) -> None:
        self.ready.unlink(missing_ok=True)
        self.stack.spawn(self.prefix, ["worker", "--ready-file", str(self.ready)], self.env)

    async def wait_ready(self) -> None:
        async def check() -> bool | None:
            assert self.stack.procs[self.prefix].poll() is None, "the webhooks worker exited"
            return True if self.ready.exists() else None
        await poll(check, 90, every_s=0.2)


@pytest.fixture(scope="module", autouse=True)
def hooks_worker(stack: Stack) -> Iterator[HooksWorker]:
    """Started before the module's first test, so that it is ready by the kill test."""
    prefix = f"hooks{secrets.token_hex(3)}"
    env = {**WEBHOOK_ENV, "AVATAR_TOPIC_PREFIX": prefix, "AVATAR_STAGES": "webhooks",
           "AVATAR_APP_ID": f"avatar-stream-{prefix}", "AVATAR_METRICS_PORT": "0"}
    kafka = KafkaSettings.from_env({**stack._child_env(), **env})
    asyncio.run(ensure_topics(kafka.bootstrap_servers, kafka.topics.specs(kafka.partitions)))
    worker = HooksWorker(stack, prefix, env, kafka)
    worker.start()
    try:
        yield worker
    finally:
        proc = stack.procs.pop(prefix, None)
        if proc is not None and proc.poll() is None:
            proc.kill()  # its topics and group are this module's own: nothing to hand over
            proc.wait(20)


async def test_a_completed_job_is_signed_retried_and_its_attempts_listed(stack: Stack, receiver: Receiver) -> None:
    path = f"/flaky-{secrets.token_hex(4)}"
    receiver.fail_first[path] = 2
    job_id = await submit(stack.url, TEXT, webhook_url=receiver.url(path))

    async def delivered() -> list[Received] | None:
        got = receiver.of(path)
        return got if got and got[-1].answered == 204 else None

    got = await poll(delivered, 90)
    assert [r.answered for r in got] == [500, 500, 204]
    expected_id = delivery_id_of(job_id, "job.completed")
    for request in got:  # every attempt: the same delivery, signed afresh, verifiable
        assert request.headers["Avatar-Delivery"] == expected_id
        assert request.headers["Avatar-Event"] == "job.completed"
        assert verify(WEBHOOK_SECRET, request.headers["Avatar-Signature"], request.body)
        assert not verify("another-secret", request.headers["Avatar-Signature"], request.body)
    event = WebhookEvent.from_json(got[-1].body)
    assert (event.event, event.job_id, event.state, event.delivery_id) == (
        "job.completed", job_id, "completed", expected_id)
    assert event.video_url == f"/api/v1/video/{job_id}" and event.created_at is not None
    assert event.finished_at >= event.created_at

    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        async def listed() -> dict | None:
            body = (await http.get(f"/api/v1/jobs/{job_id}/webhooks")).json()
            done = [d for d in body["deliveries"] if d["state"] == "delivered"]
            return body if done else None

        body = await poll(listed, 30)
        (delivery,) = body["deliveries"]
        assert delivery["delivery_id"] == expected_id and delivery["url"] == receiver.url(path)
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 204]
        assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500", "HTTP 500", None]
        assert all(a["next_attempt_at"] is not None for a in delivery["attempts"][:2])
        assert delivery["attempts"][-1]["next_attempt_at"] is None
        times = [a["at"] for a in delivery["attempts"]]
        assert times == sorted(times)
        missing = await http.get("/api/v1/jobs/no-such-job/webhooks")
        assert missing.status_code == 404 and "unknown job" in missing.json()["error"]


@pytest.mark.parametrize("url", ["http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]:9/hook", "ftp://example.com/hook", "not a url",
                                 "http://user:pw@127.0.0.1/hook"])
async def test_a_private_or_invalid_webhook_url_is_a_422(stack: Stack, url: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        response = await http.post("/api/v1/generate", json={"text": TEXT, "webhook_url": url})
        assert response.status_code == 422, response.text
        assert "webhook_url" in response.json()["error"]
        batch = await http.post("/api/v1/batch", json={"scripts": [{"text": TEXT},
                                                                   {"text": TEXT, "webhook_url": url}]})
        assert batch.status_code == 422 and batch.json()["detail"] == {"field": "scripts[1].webhook_url"}
        trained = await http.post("/api/v1/avatars/train", files={"file": ("a.jpg", b"\xff\xd8 jpeg")},
                                  data={"name": "Hooked", "webhook_url": url})
        assert trained.status_code == 422 and "webhook_url" in trained.json()["error"]


async def _deliveries(stack: Stack, topic: str, delivery_id: str, until: object) -> list[WebhookDelivery]:
    records = await read_topic(stack, topic, lambda r: r.key == delivery_id.encode(),
                               until=lambda found: until([WebhookDelivery.from_json(r.value) for r in found]),
                               timeout_s=60)
    return [WebhookDelivery.from_json(r.value) for r in records]


async def test_a_killed_webhooks_worker_resumes_a_pending_delivery(
        stack: Stack, receiver: Receiver, hooks_worker: HooksWorker) -> None:
    """The webhooks-only worker SIGKILLed while its receiver is down, started again."""
    hooks, topics = hooks_worker, hooks_worker.kafka.topics
    path = f"/down-{hooks.prefix}"
    receiver.down.add(path)
    try:
        await hooks.wait_ready()
        job_id = f"hookjob-{hooks.prefix}"
        now = time.time()
        running = StatusEvent(job_id=job_id, state=JobState.RUNNING, stage="chunker", at=now,
                              created_at=now, webhook_url=receiver.url(path))
        done = StatusEvent(job_id=job_id, state=JobState.FAILED, stage="tts", at=now + 1, error="tts: boom")
        await produce(stack, topics.status, [(job_id.encode(), e.to_json(), None) for e in (running, done)])
        delivery_id = delivery_id_of(job_id, "job.failed")
        before = await _deliveries(stack, topics.webhook_deliveries, delivery_id,
                                   lambda found: any(len(d.attempts) >= 2 for d in found))
        assert all(d.state == "pending" for d in before)

        proc = stack.procs[hooks.prefix]
        proc.kill()  # SIGKILL: no goodbye, nothing flushed on the way out
        await asyncio.to_thread(proc.wait, 20)
        attempted = len(receiver.of(path))
        receiver.down.discard(path)
        hooks.start()
        await hooks.wait_ready()

        async def answered() -> Received | None:
            return next((r for r in receiver.of(path)[attempted:] if r.answered == 204), None)

        got = await poll(answered, 60)
        assert got.headers["Avatar-Delivery"] == delivery_id
        assert verify(WEBHOOK_SECRET, got.headers["Avatar-Signature"], got.body)
        event = WebhookEvent.from_json(got.body)
        assert (event.event, event.state, event.error) == ("job.failed", "failed", "tts: boom")
        after = await _deliveries(stack, topics.webhook_deliveries, delivery_id,
                                  lambda found: any(d.state == "delivered" for d in found))
        final = next(d for d in after if d.state == "delivered")
        # the attempts made before the kill are still on the record: resumed, not made anew
        assert len(final.attempts) > max(len(d.attempts) for d in before)
        assert [a.status_code for a in final.attempts[:2]] == [503, 503]
        assert final.attempts[-1].status_code == 204
    finally:
        receiver.down.discard(path)


async def test_an_avatar_ready_event_and_a_redelivered_status_make_one_delivery(
        stack: Stack, receiver: Receiver, hooks_worker: HooksWorker) -> None:
    """The avatars stage's final event is avatar.ready; the same final event twice (a
    redelivery) is the same delivery, sent once."""
    topics = hooks_worker.kafka.topics
    await hooks_worker.wait_ready()
    path = f"/avatar-{hooks_worker.prefix}"
    avatar_id = f"av-{hooks_worker.prefix}"
    now = time.time()
    queued = StatusEvent(job_id=avatar_id, state=JobState.QUEUED, stage="avatars", at=now,
                         avatar_id=avatar_id, created_at=now, webhook_url=receiver.url(path))
    ready = StatusEvent(job_id=avatar_id, state=JobState.COMPLETED, stage="avatars", at=now + 1,
                        avatar_id=avatar_id, message="ready (good)")
    await produce(stack, topics.status, [(avatar_id.encode(), e.to_json(), None) for e in (queued, ready, ready)])

    async def answered() -> list[Received] | None:
        got = receiver.of(path)
        return got or None

    (got,) = await poll(answered, 60)
    event = WebhookEvent.from_json(got.body)
    assert (event.event, event.state, event.avatar_id, event.video_url) == ("avatar.ready", "ready", avatar_id, None)
    assert got.headers["Avatar-Delivery"] == delivery_id_of(avatar_id, "avatar.ready")
    records = await _deliveries(stack, topics.webhook_deliveries, event.delivery_id,
                                lambda found: any(d.state == "delivered" for d in found))
    assert {d.delivery_id for d in records} == {event.delivery_id}
    assert [len(d.attempts) for d in records] == [0, 1]  # made once, delivered at the first try
    assert len(receiver.of(path)) == 1
