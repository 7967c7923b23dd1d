"""Usage measured on the real pipeline: a watched job's status carries the CPU seconds of
each stage that worked on it, the characters spoken, its video seconds and the bytes its
client received; `/api/v1/usage` sums them for the day, priced by a gateway that has prices."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from cli.client import generate_and_watch
from cli.stack import Stack
from tests.e2e.gateway_util import completed, extra_gateway, poll

PRICED = {"AVATAR_PRICE_CPU_HOUR": "3.6", "AVATAR_PRICE_TTS_1K_CHARS": "piper=1", "AVATAR_PRICE_CURRENCY": "EUR"}


async def _status(url: str, job_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return dict((await http.get(f"/api/v1/status/{job_id}")).json())


async def test_a_jobs_usage_in_its_status_and_the_daily_report(stack: Stack) -> None:
    text = "Usage is measured where the work runs. Each piece counts once."
    with extra_gateway(stack, "gateway-priced", PRICED) as priced:
        watched = await generate_and_watch(stack.url, text)
        job_id = watched.job_id
        status = await completed(stack.url, job_id)

        async def streamed() -> dict[str, Any] | None:  # the stream's record follows its end
            usage = (await _status(priced, job_id)).get("usage") or {}
            return usage if usage.get("bytes_streamed") else None
        usage = await poll(streamed, 30)

    for stage in ("tts", "lipsync", "encoder", "assembler"):
        assert usage["cpu_s"].get(stage, 0) > 0, (stage, usage)
    assert usage["gpu_s"] == {}  # the animator, on CPUs
    assert usage["tts_characters"] == {"piper": len(text) - 1}  # the space between sentences
    assert abs(usage["video_s"] - status["video_duration_s"]) < 0.1, (usage, status)
    received = sum(len(m.data) for m in watched.media) + len(watched.init)
    assert usage["bytes_streamed"] >= received
    expected = sum(usage["cpu_s"].values()) / 3600 * 3.6 + (len(text) - 1) / 1000
    assert usage["currency"] == "EUR" and abs(usage["cost"] - expected) < 1e-5

    today = dt.datetime.now(dt.UTC).date().isoformat()
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        report = (await http.get("/api/v1/usage", params={"from": today, "to": today})).json()
        assert (await http.get("/api/v1/usage", params={"from": "yesterday"})).status_code == 422
    [day] = [d for d in report["days"] if d["day"] == today and d["tenant"] == "default"]
    assert day["jobs"] >= 1 and day["usage"]["tts_characters"]["piper"] >= len(text) - 1
    assert day["usage"]["video_s"] >= usage["video_s"]
