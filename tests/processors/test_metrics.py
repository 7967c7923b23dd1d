"""A worker's metrics endpoint: its port setting, a port already taken, lag per partition."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import serve
from processors.metrics import WorkerMetrics
from processors.settings import WorkerSettings


def test_port_setting() -> None:
    assert WorkerSettings.from_env({}).metrics_port == 9464
    assert WorkerSettings.from_env({"AVATAR_METRICS_PORT": "0"}).metrics_port == 0
    assert WorkerSettings.from_env({"AVATAR_METRICS_PORT": "off"}).metrics_port is None
    for bad in ("-1", "70000", "nine"):
        with pytest.raises(ValueError, match="AVATAR_METRICS_PORT"):
            WorkerSettings.from_env({"AVATAR_METRICS_PORT": bad})


def test_served_with_lag_per_partition() -> None:
    metrics = WorkerMetrics()
    lag = {("tts", "avatar.sentences", 3): 7}
    metrics.watch_lag(lambda: lag)
    metrics.frames.labels("animator").inc(25)
    server = serve(metrics.registry, 0, "127.0.0.1")
    assert server is not None
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        assert samples[("avatar_stream_consumer_lag_records",
                        (("partition", "3"), ("stage", "tts"), ("topic", "avatar.sentences")))] == 7
        assert samples[("avatar_stream_frames_rendered_total", (("renderer", "animator"),))] == 25
        lag.clear()  # read at scrape time: a partition given away is no longer reported
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
        assert "avatar_stream_consumer_lag_records{" not in text
    finally:
        server.stop()


def test_a_taken_port_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="core.metrics"):
            assert serve(WorkerMetrics().registry, port, "127.0.0.1") is None
    assert f"127.0.0.1:{port} is not available" in caplog.text and "AVATAR_METRICS_PORT" in caplog.text
