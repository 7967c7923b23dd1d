"""A real Prometheus (Debian's package) scrapes a running stack: a gateway that wants an admin
key (given in the scrape config, as a deployment would) and the session's worker; after one job
its counters have moved, as Prometheus's own HTTP API reports them."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cli.client import submit
from cli.embedded_kafka import free_port
from cli.stack import Stack
from streamer.auth import key_hash
from tests.deploy.test_monitoring import dashboard_queries
from tests.e2e.gateway_util import completed, extra_gateway, poll

KEY = "k-prometheus-scrape-0123456789"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"  # deploy/setup-debian.sh installs it


@contextlib.contextmanager
def prometheus(tmp: Path, gateway: str, worker: str) -> Iterator[str]:
    """Prometheus scraping `gateway` (with the key) and `worker` every second; yields its URL."""
    config = tmp / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "gateway", "authorization": {"type": "Bearer", "credentials": KEY},
             "static_configs": [{"targets": [gateway]}]},
            {"job_name": "worker", "static_configs": [{"targets": [worker]}]},
        ]}))
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "prometheus did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


async def _result(url: str, query: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        body = (await http.get("/api/v1/query", params={"query": query})).json()
    assert body["status"] == "success", (query, body)
    return list(body["data"]["result"])


async def _value(url: str, query: str) -> float | None:
    """The query's one value now, or None while it has none."""
    result = await _result(url, query)
    return float(result[0]["value"][1]) if result else None


async def test_prometheus_scrapes_gateway_and_worker(stack: Stack, tmp_path: Path) -> None:
    ready = json.loads(stack.ready_file.read_text())
    assert ready["metrics_port"], "the session's worker serves metrics"
    # the metrics key must be an admin key: a tenant's key gets 403
    tenant_key = "k-not-admin-0123456789"
    keyed = {"AVATAR_API_KEYS": key_hash(tenant_key), "AVATAR_ADMIN_KEYS": key_hash(KEY), "AVATAR_DEV_MODE": "0"}
    with extra_gateway(stack, "gateway-metrics", keyed) as gateway:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{gateway}/metrics")).status_code == 401
            forbidden = await http.get(f"{gateway}/metrics", headers={"authorization": f"Bearer {tenant_key}"})
            assert forbidden.status_code == 403
        targets = (gateway.removeprefix("http://"), f"127.0.0.1:{ready['metrics_port']}")
        with prometheus(tmp_path, *targets) as prom:
            async def scraped() -> bool | None:  # both targets up: the key was taken
                up = await _value(prom, 'sum(up{job=~"gateway|worker"})')
                return True if up == 2 else None
            await poll(scraped, 30)
            frames_query = 'sum(avatar_stream_frames_rendered_total{job="worker"})'
            before = {q: await _value(prom, q) or 0.0 for q in (
                frames_query, 'sum(avatar_stream_tts_characters_total{job="worker"})',
                'avatar_stream_first_segment_seconds_count{job="gateway"}',
                'avatar_stream_jobs{job="gateway",state="completed"}')}

            text = "Prometheus watches this job. Its counters move."
            await completed(stack.url, await submit(stack.url, text))

            async def moved() -> dict[str, float] | None:
                now = {q: await _value(prom, q) or 0.0 for q in before}
                return now if all(now[q] > before[q] for q in before) else None
            after = await poll(moved, 30, every_s=0.5)
            assert after['sum(avatar_stream_tts_characters_total{job="worker"})'] - before[
                'sum(avatar_stream_tts_characters_total{job="worker"})'] >= len(text) - 2
            stage = await _value(prom, 'sum(avatar_stream_stage_seconds_count{job="worker",stage="lipsync"})')
            assert stage is not None and stage > 0

            # every panel of the shipped dashboard is a query Prometheus runs; those about
            # work the job did have data
            answered = {query: await _result(prom, query) for query in dashboard_queries()}
            empty = [q for q, result in answered.items() if not result and not any(
                name in q for name in ("failures", "dead_letters"))]  # none happened
            assert not empty, empty
