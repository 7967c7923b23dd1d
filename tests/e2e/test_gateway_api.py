"""The gateway's HTTP surface on the real stack: jobs list, batch, cancel-and-delete, errors, docs."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import orjson
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cli.client import generate_and_watch, submit
from cli.stack import Stack
from schemas.pipeline import CaptionChunk, SegmentMeta, WordTiming
from tests.e2e.gateway_util import completed, poll

LONG_TEXT = " ".join(f"This is sentence number {i}, spoken slowly so that the job runs for a while." for i in range(12))


async def test_batch_then_list_pages_and_filters(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        scripts = [{"text": f"Batch script {i}."} for i in range(3)]
        response = await http.post("/api/v1/batch", json={"scripts": scripts})
        assert response.status_code == 202, response.text
        ids = [job["job_id"] for job in response.json()["jobs"]]
        assert len(set(ids)) == 3

        listed = (await http.get("/api/v1/jobs", params={"limit": 500})).json()
        assert set(ids) <= {job["job_id"] for job in listed["jobs"]}
        first = (await http.get("/api/v1/jobs", params={"limit": 2})).json()
        second = (await http.get("/api/v1/jobs", params={"limit": 2, "offset": 2})).json()
        assert first["total"] == listed["total"] and first["next_offset"] == 2
        assert not {j["job_id"] for j in first["jobs"]} & {j["job_id"] for j in second["jobs"]}
        created = [j["created_at"] for j in listed["jobs"] if j["created_at"] is not None]
        assert created == sorted(created, reverse=True)

        for job_id in ids:
            await completed(stack.url, job_id)
        done = (await http.get("/api/v1/jobs", params={"state": "completed", "limit": 500})).json()
        assert set(ids) <= {j["job_id"] for j in done["jobs"]}
        assert all(j["state"] == "completed" and j["video_url"] for j in done["jobs"])
        running = (await http.get("/api/v1/jobs", params={"state": "queued,running"})).json()
        assert not set(ids) & {j["job_id"] for j in running["jobs"]}

        for params in ({"state": "bogus"}, {"limit": 0}, {"limit": "x"}, {"offset": -1}):
            response = await http.get("/api/v1/jobs", params=params)
            assert response.status_code == 400 and response.json()["error"], params


async def test_batch_rejects_all_when_one_is_bad(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        before = (await http.get("/api/v1/jobs")).json()["total"]
        response = await http.post("/api/v1/batch", json={"scripts": [{"text": "Fine."},
                                                                     {"text": "Who?", "avatar_id": "nobody"}]})
        assert response.status_code == 404 and response.json()["error"].startswith("scripts[1]")
        for body in ({"scripts": []}, {"scripts": [{"text": ""}]}, {"nope": 1}):
            assert (await http.post("/api/v1/batch", json=body)).status_code == 422
        json_type = {"content-type": "application/json"}
        assert (await http.post("/api/v1/batch", content=b"[", headers=json_type)).status_code == 400
        assert (await http.post("/api/v1/batch", content=b'{"scripts": [{"text": "Form?"}]}',
                                headers={"content-type": "text/plain"})).status_code == 415
        huge = {"scripts": [{"text": "x" * 19_000}] * 300}
        assert (await http.post("/api/v1/batch", json=huge)).status_code == 413
        assert (await http.get("/api/v1/jobs")).json()["total"] == before


async def _segment_kinds(stack: Stack, job_id: str) -> list[str]:
    """Every segments-topic record of the job, read from the beginning."""
    consumer = AIOKafkaConsumer(stack.topics.segments, bootstrap_servers=stack.bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        end = await consumer.end_offsets(list(consumer.assignment()) or [])
        kinds: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                kinds += [SegmentMeta.from_headers(r.headers).kind for r in records if r.key == job_id.encode()]
            positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
            if positions and all(positions[tp] >= end.get(tp, 0) for tp in positions):
                return kinds
    finally:
        await consumer.stop()
    return kinds


async def test_delete_cancels_in_flight_job_and_removes_files(stack: Stack) -> None:
    job_id = await submit(stack.url, LONG_TEXT)
    url = stack.url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}"
    async with websockets.connect(url, max_size=None) as ws:
        while not isinstance(await ws.recv(), bytes):
            pass  # the init segment: the job is running and has files
        job_dir = stack.data_dir / "jobs" / job_id
        await poll(lambda: _exists(job_dir / "segments"), 30)
        async with httpx.AsyncClient(base_url=stack.url) as http:
            response = await http.delete(f"/api/v1/jobs/{job_id}")
            assert response.status_code == 200 and response.json()["state"] == "cancelled"
            assert (await http.get(f"/api/v1/status/{job_id}")).status_code == 404
            assert (await http.delete(f"/api/v1/jobs/{job_id}")).status_code == 404
            listed = (await http.get("/api/v1/jobs", params={"limit": 500})).json()["jobs"]
            assert job_id not in {j["job_id"] for j in listed}
        errors = []
        try:
            async for message in ws:
                if isinstance(message, str):
                    errors.append(orjson.loads(message))
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == 4410 and errors[-1]["type"] == "error" and errors[-1]["code"] == 4410

    # A job submitted after the cancel completes; by then the cancelled one produced no end marker,
    # so no stage went on to finish it, and its files stay gone (the sweep catches late writes).
    after = await submit(stack.url, "After the cancel.")
    await completed(stack.url, after)
    assert "end" not in await _segment_kinds(stack, job_id)
    await poll(lambda: _absent(job_dir), 15)
    assert not (stack.data_dir / "jobs" / job_id / "final.mp4").exists()


async def _exists(path: Path) -> bool | None:
    return True if path.exists() else None


async def _absent(path: Path) -> bool | None:
    return True if not path.exists() else None


async def test_captions_are_relayed(stack: Stack) -> None:
    job_id = await submit(stack.url, "Captions travel with the stream. They are word timings.")
    words = [WordTiming(text="Captions", start_s=0.0, end_s=0.4), WordTiming(text="travel", start_s=0.4, end_s=0.7)]
    url = stack.url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}"
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()  # status: the relay is watching
            chunk = CaptionChunk(job_id=job_id, seq=900, words=words)
            await producer.send_and_wait(stack.topics.captions, chunk.to_json(), key=job_id.encode())
            captions = []
            async for message in ws:
                if isinstance(message, str):
                    control = orjson.loads(message)
                    captions += [control] if control["type"] == "captions" else []
                    if control["type"] == "end":
                        break
    finally:
        await producer.stop()
    ours = [c for c in captions if c["seq"] == 900]
    assert len(ours) == 1 and [w["text"] for w in ours[0]["words"]] == ["Captions", "travel"]


async def test_errors_are_json_and_ids_are_checked(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for path in ("/api/v1/status/.hidden", "/api/v1/video/-x", "/api/v1/video/a%20b", "/api/v1/status/" + "a" * 65):
            response = await http.get(path)
            assert response.status_code == 400 and "invalid job id" in response.json()["error"], path
        assert (await http.delete("/api/v1/jobs/.x")).status_code == 400
        response = await http.get("/api/v1/nothing-here")
        assert response.status_code == 404 and response.json() == {"v": 1, "error": "Not Found", "detail": None}
        response = await http.put("/api/v1/generate")
        assert response.status_code == 405 and response.json()["error"]
        response = await http.post("/api/v1/generate", content=b"x" * (300 * 1024),
                                   headers={"content-type": "application/json"})
        assert response.status_code == 413
        for headers in ({}, {"content-type": "text/plain"}):  # what a cross-site form could send
            response = await http.post("/api/v1/generate", content=b'{"text": "A form."}', headers=headers)
            assert response.status_code == 415 and response.json()["error"], headers
        response = await http.post("/api/v1/generate", json={"text": "Null\u0000byte."})
        assert response.status_code == 422 and "control character U+0000" in response.text
        job_id = await submit(stack.url, "Not yet.")
        response = await http.get(f"/api/v1/video/{job_id}")
        assert response.status_code in (200, 409)


async def test_openapi_and_offline_docs(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        doc = (await http.get("/openapi.json")).json()
        assert doc["openapi"].startswith("3.")
        for path, method in (("/api/v1/generate", "post"), ("/api/v1/jobs", "get"), ("/api/v1/jobs/{job_id}", "delete"),
                             ("/api/v1/batch", "post"), ("/api/v1/status/{job_id}", "get"),
                             ("/api/v1/video/{job_id}", "get"), ("/api/v1/stream/{job_id}", "get"), ("/health", "get")):
            assert method in doc["paths"][path], (path, method)
        body = doc["paths"]["/api/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"] == "#/components/schemas/GenerateRequest"
        tts = doc["paths"]["/api/v1/tts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert tts["$ref"] == "#/components/schemas/TtsRequest"
        assert "409" in doc["paths"]["/api/v1/avatars/{avatar_id}"]["delete"]["responses"]
        for name in ("GenerateRequest", "JobList", "BatchRequest", "WsCaptions", "WsError", "RenderOptions",
                     "AvatarRecord", "AvatarPage", "VoiceList", "CloneResponse"):
            assert name in doc["components"]["schemas"], name
        page = await http.get("/docs")
        assert page.status_code == 200 and "/static/docs.js" in page.text
        for asset in ("/", "/docs", "/static/docs.js", "/static/player.js", "/static/player.css"):
            text = (await http.get(asset)).text
            assert not re.search(r"(src|href)=\"https?://|from \"https?://|url\(https?://", text), asset


async def test_restarted_gateway_lists_and_streams_a_finished_job(stack: Stack, tmp_path: Path) -> None:
    from tests.e2e.gateway_util import extra_gateway

    result = await generate_and_watch(stack.url, "A job from before the restart. It has two sentences.")
    await completed(stack.url, result.job_id)
    with extra_gateway(stack, "gateway-restarted") as url:
        async with httpx.AsyncClient(base_url=url) as http:
            listed = (await http.get("/api/v1/jobs", params={"state": "completed", "limit": 500})).json()
            assert result.job_id in {j["job_id"] for j in listed["jobs"]}
            status = (await http.get(f"/api/v1/status/{result.job_id}")).json()
            assert status["state"] == "completed" and status["segments"] == len(result.media)
        from cli.client import watch
        replay = await watch(url, result.job_id, time.perf_counter())
    assert replay.init == result.init
    assert [m.data for m in replay.media] == [m.data for m in result.media]
    assert [(m.seq, round(m.start_s, 6), round(m.duration_s, 6)) for m in replay.media] == \
        [(m.seq, round(m.start_s, 6), round(m.duration_s, 6)) for m in result.media]
    init_messages = [m for m in replay.messages if m["type"] == "init"]
    assert init_messages and init_messages[0]["mime"].startswith('video/mp4; codecs="avc1.')
    await asyncio.sleep(0)
