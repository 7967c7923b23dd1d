"""core.logs: one JSON object per line (real processes), job ids, repeats summarised, and
secret query values redacted from uvicorn's access lines."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.logs import JsonLineFormatter, RepeatSummary, redact

ROOT = Path(__file__).resolve().parents[2]
CONNECT_ERROR = "Unable connect to node with id %s: %s"


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=True)


def json_lines(stderr: str) -> list[dict]:
    """Every line parsed; json.loads raises on the first that is not one whole object."""
    lines = stderr.split("\n")
    assert lines[-1] == ""  # ends with a newline, nothing after it
    return [json.loads(line) for line in lines[:-1]]


def test_every_line_of_a_real_process_is_one_json_object() -> None:
    job_id = uuid.uuid4().hex
    done = run_python(f"""
        import logging
        from core.logs import setup_logging
        setup_logging("info")
        log = logging.getLogger("avatar_stream.test")
        log.debug("not at info")
        log.info('she said "hi"\\nand left\\ttabbed \\u2028 {{"a": 1}}')
        try:
            {{}}["missing"]
        except KeyError:
            log.exception("job %s failed: %s", "{job_id}", 'a "quoted"\\nreason')
        log.warning("handed over", extra={{"job_id": "j-1", "stage": "tts"}})
    """)
    assert done.stdout == ""
    said, failed, handed = json_lines(done.stderr)
    assert said["message"] == 'she said "hi"\nand left\ttabbed \u2028 {"a": 1}'
    assert said["level"] == "INFO" and said["logger"] == "avatar_stream.test"
    assert isinstance(said["pid"], int) and said["time"].endswith("+00:00")
    assert "job_id" not in said
    assert failed["job_id"] == job_id and failed["level"] == "ERROR"
    assert failed["message"] == f'job {job_id} failed: a "quoted"\nreason'
    assert failed["exc_info"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in failed["exc_info"]
    assert handed["job_id"] == "j-1" and handed["stage"] == "tts"


def test_faust_worker_logging_writes_json_lines() -> None:
    """What faust.Worker does to logging when it starts, given our config (as run_worker
    does): the root handler is ours, and a stray print becomes a JSON line too."""
    done = run_python("""
        import logging, tempfile
        import faust
        from core.logs import logging_config
        app = faust.App("t", broker="kafka://127.0.0.1:1", datadir=tempfile.mkdtemp())
        worker = faust.Worker(app, loglevel="info", logging_config=logging_config("info"),
                              quiet=True)
        worker._setup_logging()  # the first step of its start
        logging.getLogger("processors.x").info('a "quoted" message')
        print("a stray print")
    """)
    lines = json_lines(done.stderr)
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("processors.x", 'a "quoted" message'), ("mode.redirect", "a stray print")]


def format_line(record: logging.LogRecord) -> dict:
    return json.loads(JsonLineFormatter().format(record))


def make_record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_job_id_from_extra_else_from_the_message() -> None:
    job_id = uuid.uuid4().hex
    assert format_line(make_record("job %s queued", job_id))["job_id"] == job_id
    assert format_line(make_record("segment %s/3.mp4 done", job_id))["job_id"] == job_id
    assert format_line(make_record("about %s", job_id, job_id="given"))["job_id"] == "given"
    assert "job_id" not in format_line(make_record("no job here"))
    digest = "ab" * 32  # a sha256 hex digest is not a job id
    assert "job_id" not in format_line(make_record("key %s", digest))


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, RepeatSummary, io.StringIO]]:
    """A logger whose records go through RepeatSummary and the JSON formatter to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    summary = RepeatSummary(window_s=5.0)
    handler.addFilter(summary)
    logger = logging.getLogger(f"aiokafka.test.{uuid.uuid4().hex[:8]}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, summary, stream
    logger.removeHandler(handler)


def lines_of(stream: io.StringIO) -> list[dict]:
    return json_lines(stream.getvalue())


def timeless(message: str) -> str:
    """A summary's message with its duration, which depends on the machine's speed, as T."""
    return re.sub(r"in [\d.]+ s\)$", "in T s)", message)


def test_a_flood_is_one_line_and_one_summary(
        captured: tuple[logging.Logger, RepeatSummary, io.StringIO]) -> None:
    log, summary, stream = captured
    for _ in range(500):
        log.error(CONNECT_ERROR, 1, "[Errno 111] Connect call failed")
    assert len(lines_of(stream)) == 1
    summary.flush()  # as at exit, or when the window ends
    first, repeats = lines_of(stream)
    assert first["message"] == "Unable connect to node with id 1: [Errno 111] Connect call failed"
    assert repeats["message"].startswith(first["message"] + " (repeated 499 times in ")
    assert repeats["repeated"] == 499 and repeats["level"] == "ERROR"
    assert repeats["logger"] == first["logger"]


def test_the_summary_comes_when_the_window_ends(
        captured: tuple[logging.Logger, RepeatSummary, io.StringIO]) -> None:
    log, summary, stream = captured
    summary.window_s = 0.2
    for _ in range(50):
        log.error(CONNECT_ERROR, 1, "refused")
    deadline = time.monotonic() + 5
    while len(lines_of(stream)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    _, repeats = lines_of(stream)
    assert repeats["repeated"] == 49
    log.error(CONNECT_ERROR, 1, "refused")  # after the window: a new run, passed again
    assert len(lines_of(stream)) == 3


def test_other_messages_are_not_hidden_by_a_flood(
        captured: tuple[logging.Logger, RepeatSummary, io.StringIO]) -> None:
    log, summary, stream = captured
    other = logging.getLogger(log.name + ".other")  # propagates to the same handler
    for _ in range(100):
        log.error(CONNECT_ERROR, 1, "refused")
        log.error("Unable to update metadata from %s", [1])  # a second flood, interleaved
    other.error(CONNECT_ERROR, 1, "refused")  # same template, another logger
    log.info("rebalance done")  # a different record of the flooding logger
    for _ in range(10):
        log.error(CONNECT_ERROR, 1, "refused")
    log.error("Failed fetch messages from %s: %s", 1, "closed")  # a new error there
    summary.flush()
    got = [(line["logger"].removeprefix(log.name), timeless(line["message"]))
           for line in lines_of(stream)]
    assert got == [
        ("", "Unable connect to node with id 1: refused"),
        ("", "Unable to update metadata from [1]"),
        (".other", "Unable connect to node with id 1: refused"),
        ("", "Unable connect to node with id 1: refused (repeated 99 times in T s)"),
        ("", "Unable to update metadata from [1] (repeated 99 times in T s)"),
        ("", "rebalance done"),
        ("", "Unable connect to node with id 1: refused (repeated 10 times in T s)"),
        ("", "Failed fetch messages from 1: closed"),
    ]


def test_each_jobs_warning_is_shown(
        captured: tuple[logging.Logger, RepeatSummary, io.StringIO]) -> None:
    """Same template, but about another job, or with all its text in the args: not a repeat."""
    log, summary, stream = captured
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    log.warning("job %s failed in %s", first, "tts")
    log.warning("job %s failed in %s", second, "tts")
    log.warning("job %s failed in %s", second, "tts")  # a repeat
    log.warning("%s", "tts stream cut short")
    log.warning("%s", "dead letter from avatar.requests")
    log.warning("stage %s failed", "tts", extra={"job_id": "j-1"})
    log.warning("stage %s failed", "tts", extra={"job_id": "j-2"})
    summary.flush()
    assert [(timeless(line["message"]), line.get("job_id")) for line in lines_of(stream)] == [
        (f"job {first} failed in tts", first),
        (f"job {second} failed in tts", second),
        # the next record passed from this logger writes its count so far first
        (f"job {second} failed in tts (repeated 1 times in T s)", second),
        ("tts stream cut short", None),
        ("dead letter from avatar.requests", None),
        ("stage tts failed", "j-1"),
        ("stage tts failed", "j-2"),
    ]


def test_secret_query_values_are_redacted() -> None:
    assert redact("GET /v1/jobs?api_key=s3cret&x=1&token=t0k&key=k&signature=sig&monkey=ok") == (
        "GET /v1/jobs?api_key=***&x=1&token=***&key=***&signature=***&monkey=ok")
    assert redact("api_key in the body is not a query") == "api_key in the body is not a query"


def test_uvicorn_access_log_is_json_without_the_key() -> None:
    """A real uvicorn server, configured with uvicorn_log_config(), serving one request."""
    done = run_python("""
        import asyncio, httpx, uvicorn
        from core.logs import uvicorn_log_config

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def main():
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                   log_config=uvicorn_log_config("info")))
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/v1/jobs?api_key=s3cret&limit=2")
            server.should_exit = True
            await serving

        asyncio.run(main())
    """)
    assert "s3cret" not in done.stderr + done.stdout
    lines = json_lines(done.stderr)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert len(access) == 1
    assert '"GET /v1/jobs?api_key=***&limit=2 HTTP/1.1" 204' in access[0]["message"]
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # the server's own lines
