"""The relay at the ASGI level: a client whose socket stops draining is dropped, others are not slowed.

An ASGI server's `send` blocks while the client's socket is full; here one client's
`send` blocks forever after a few messages, exactly what a stalled reader looks like
to the app. The job is fed straight into the board, as the Kafka reader would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from core.settings import KafkaSettings
from core.store import MediaStore
from schemas.pipeline import SegmentMeta
from schemas.status import JobState, StatusEvent
from schemas.ws import KIND_INIT, KIND_MEDIA, MediaMessage
from streamer import relay
from streamer.jobs import JobBoard
from streamer.kafka_io import GatewayKafka
from streamer.settings import GatewaySettings
from streamer.state import GatewayState

SEGMENT_BYTES = 40_000


def _app(tmp_path: Path, **settings: Any) -> tuple[Starlette, JobBoard]:
    config = GatewaySettings(data_dir=tmp_path, dev_mode=True, **settings)
    board = JobBoard()
    app = Starlette(routes=relay.routes)
    app.state.gateway = GatewayState(config, board, GatewayKafka(KafkaSettings(), board), MediaStore(tmp_path))
    return app, board


async def _client(app: Starlette, job_id: str, block_after: int | None, sent: list[dict[str, Any]],
                  query: bytes = b"") -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if block_after is not None and len(sent) > block_after:
            await asyncio.Event().wait()  # a socket that never drains again
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    scope = {"type": "websocket", "path": f"/api/v1/stream/{job_id}", "raw_path": b"", "query_string": query,
             "headers": [], "scheme": "ws", "server": ("test", 80), "client": ("test", 1), "root_path": "",
             "subprotocols": [], "asgi": {"version": "3.0"}}
    await app(scope, inbox.get, send)


def _texts(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(m["text"]) for m in sent if m["type"] == "websocket.send" and m.get("text")]


async def test_stalled_client_dropped_fast_client_complete(tmp_path: Path) -> None:
    app, board = _app(tmp_path, ws_queue_bytes=100_000, ws_queue_messages=1000, ws_stall_s=0.3)
    board.apply_status(StatusEvent(job_id="job", state=JobState.RUNNING, stage="tts", at=1.0))
    board.apply_segment(SegmentMeta(job_id="job", kind="init", seq=0, mime="video/mp4"), b"init")
    slow_sent: list[dict[str, Any]] = []
    fast_sent: list[dict[str, Any]] = []
    slow = asyncio.create_task(_client(app, "job", block_after=4, sent=slow_sent))
    fast = asyncio.create_task(_client(app, "job", block_after=None, sent=fast_sent))
    total = 20
    for seq in range(total):  # the pipeline keeps producing while the slow client is stuck
        board.apply_segment(SegmentMeta(job_id="job", kind="media", seq=seq, start_s=seq, duration_s=1.0),
                            bytes([seq]) * SEGMENT_BYTES)
        await asyncio.sleep(0.01)
    board.apply_segment(SegmentMeta(job_id="job", kind="end", seq=0, total=total), b"")
    await asyncio.wait_for(fast, 10)
    await asyncio.wait_for(slow, 10)

    media = [MediaMessage.unpack(m["bytes"]) for m in fast_sent if m.get("bytes")]
    assert [m.seq for m in media if m.kind == KIND_MEDIA] == list(range(total))
    assert _texts(fast_sent)[-1]["type"] == "end" and fast_sent[-1] == {"type": "websocket.close", "code": 1000,
                                                                         "reason": ""}
    errors = [t for t in _texts(slow_sent) if t["type"] == "error"]
    assert errors and errors[-1]["code"] == relay.CODE_TOO_SLOW and "too slow" in errors[-1]["error"]
    assert {"type": "websocket.close", "code": relay.CODE_TOO_SLOW, "reason": "client too slow"} in slow_sent
    assert len([m for m in slow_sent if m.get("bytes")]) < total


async def test_segments_replayed_from_the_store_keep_their_records_metadata(tmp_path: Path) -> None:
    """A job whose segments are no longer in memory (an older job, or one from before a
    restart): timing and MSE type come from the metadata stored beside each segment."""
    app, board = _app(tmp_path)
    store: MediaStore = app.state.gateway.store
    mime = 'video/mp4; codecs="avc1.test, mp4a.40.2"'
    store.write_segment_record(SegmentMeta(job_id="old", kind="init", seq=0, mime=mime), b"init bytes")
    timings = [(0.0, 0.4), (0.4, 1.0), (1.4, 0.28)]
    for seq, (start_s, duration_s) in enumerate(timings):
        meta = SegmentMeta(job_id="old", kind="media", seq=seq, start_s=start_s, duration_s=duration_s)
        assert store.write_segment_record(meta, bytes([seq]) * 100)
    assert not store.write_segment_record(SegmentMeta(job_id="old", kind="media", seq=0), b"again")
    store.write_segment("old", "media", 3, b"stored without metadata")
    board.apply_status(StatusEvent(job_id="old", state=JobState.COMPLETED, stage="assembler", at=1.0,
                                   segments=4))
    sent: list[dict[str, Any]] = []
    await asyncio.wait_for(_client(app, "old", None, sent, query=b"from_seq=1"), 5)

    texts = _texts(sent)
    assert [t["type"] for t in texts] == ["status", "init", "end"] and texts[1]["mime"] == mime
    init, *media = [MediaMessage.unpack(m["bytes"]) for m in sent if m.get("bytes")]
    assert init.kind == KIND_INIT and init.data == b"init bytes"
    assert [(m.seq, m.start_s, m.duration_s) for m in media] == [(1, 0.4, 1.0), (2, 1.4, 0.28), (3, 0.0, 0.0)]
    assert [m.data for m in media] == [bytes([1]) * 100, bytes([2]) * 100, b"stored without metadata"]


async def test_unknown_job_and_bad_from_seq_are_refused(tmp_path: Path) -> None:
    app, board = _app(tmp_path)
    sent: list[dict[str, Any]] = []
    await asyncio.wait_for(_client(app, "nobody", None, sent), 5)
    assert _texts(sent)[0]["code"] == relay.CODE_UNKNOWN_JOB and sent[-1]["code"] == relay.CODE_UNKNOWN_JOB
    board.apply_status(StatusEvent(job_id="job", state=JobState.RUNNING, stage="tts", at=1.0))
    sent: list[dict[str, Any]] = []
    await asyncio.wait_for(_client(app, "job", None, sent, query=b"from_seq=-1"), 5)
    assert _texts(sent)[0]["code"] == relay.CODE_BAD_REQUEST and sent[-1]["code"] == relay.CODE_BAD_REQUEST
