"""Helpers for the gateway tests: an extra gateway process on the session's broker, polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

from cli.embedded_kafka import free_port
from cli.stack import Stack

T = TypeVar("T")


@contextlib.contextmanager
def extra_gateway(stack: Stack, name: str, env: dict[str, str] | None = None,
                  timeout_s: float = 60.0) -> Iterator[str]:
    """Another `avatar-stream gateway` process against the same broker and data dir (a replica,
    or the same gateway after a restart); yields its URL once /health answers."""
    port = free_port()
    stack.spawn(name, ["gateway", "--port", str(port)], env)
    proc = stack.procs[name]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, (stack.data_dir / "logs" / f"{name}.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)
        yield url
    finally:
        stack.procs.pop(name, None)
        proc.terminate()
        proc.wait(20)


async def poll(check: Callable[[], Awaitable[T | None]], timeout_s: float = 60.0, every_s: float = 0.1) -> T:
    """Calls `check` until it returns something other than None, or fails at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await check()
        if result is not None:
            return result
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def job_status(base_url: str, job_id: str) -> dict[str, object] | None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(f"/api/v1/status/{job_id}")
    return response.json() if response.status_code == 200 else None


async def completed(base_url: str, job_id: str) -> dict[str, object]:
    async def check() -> dict[str, object] | None:
        status = await job_status(base_url, job_id)
        assert status is None or status["state"] != "failed", status
        return status if status is not None and status["state"] == "completed" else None
    return await poll(check, 120)


async def final_status(base_url: str, job_id: str, timeout_s: float = 90) -> dict[str, object]:
    """The job's status once it is completed, failed or cancelled."""
    async def check() -> dict[str, object] | None:
        status = await job_status(base_url, job_id)
        return status if status is not None and status["state"] in ("completed", "failed", "cancelled") else None
    return await poll(check, timeout_s, every_s=0.2)


async def wait_for_video(base_url: str, job_id: str, out: Path, timeout_s: float = 120) -> None:
    """Polls until the final MP4 downloads; a failed job fails the test at once."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        async def check() -> bool | None:
            response = await http.get(f"/api/v1/video/{job_id}")
            if response.status_code == 200:
                out.write_bytes(response.content)
                return True
            assert response.status_code in (404, 409), response.text
            status = (await http.get(f"/api/v1/status/{job_id}")).json() if response.status_code == 409 else {}
            assert status.get("state") != "failed", status
            return None
        await poll(check, timeout_s, every_s=0.2)
