"""The assembler on the real broker takes a job's segments in any order and any number of
times: a finished job's segment records, copied under a new job_id and produced shuffled,
with repeats and the end marker before most of them, make the same final MP4."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import av
import numpy as np
from aiokafka import ConsumerRecord

from cli.stack import Stack
from models.media.assemble import probe
from schemas.pipeline import SegmentMeta
from schemas.requests import ScriptRequest
from tests.e2e.gateway_util import job_status, wait_for_video
from tests.e2e.kafka_util import processed, produce, read_topic


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _renamed(record: ConsumerRecord, job_id: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    meta = SegmentMeta.from_headers(record.headers).model_copy(update={"job_id": job_id})
    return job_id.encode(), record.value, meta.to_headers()


async def test_shuffled_repeated_segments_make_the_same_mp4(stack: Stack, tmp_path: Path) -> None:
    source_id = f"source-{uuid.uuid4().hex[:10]}"
    request = ScriptRequest(job_id=source_id, text="Segments in any order. Twice, even.")
    await produce(stack, stack.topics.requests, [(source_id.encode(), request.to_json(), None)])
    source = tmp_path / "source.mp4"
    await wait_for_video(stack.url, source_id, source)
    records = await read_topic(stack, stack.topics.segments, lambda r: r.key == source_id.encode())
    metas = [SegmentMeta.from_headers(r.headers) for r in records]
    ends = [r for r, m in zip(records, metas) if m.kind == "end"]
    segments = [r for r, m in zip(records, metas) if m.kind != "end"]
    total = SegmentMeta.from_headers(ends[0].headers).total
    assert total is not None and total >= 3 and len(segments) >= total + 1

    job_id = f"shuffled-{uuid.uuid4().hex[:10]}"
    rng = random.Random(job_id)
    shuffled = segments + rng.sample(segments, 3)  # three segments twice
    rng.shuffle(shuffled)
    order = [ends[0], *shuffled[:-1], ends[0], shuffled[-1]]  # an end first, one in the middle
    order.insert(len(order) // 2, ends[0])
    placed = await produce(stack, stack.topics.segments, [_renamed(r, job_id) for r in order])

    copy = tmp_path / "copy.mp4"
    await wait_for_video(stack.url, job_id, copy)
    await processed(stack, stack.topics.segments, *placed[-1])  # every repeat has been seen
    status = await job_status(stack.url, job_id)
    assert status is not None and status["state"] == "completed" and status["segments"] == total
    got, want = probe(copy), probe(source)
    assert got.video_frames == want.video_frames
    assert abs(got.audio_duration_s - want.audio_duration_s) < 1e-3
    assert np.array_equal(_decode(copy), _decode(source))  # packets copied, never re-encoded
