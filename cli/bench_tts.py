"""`avatar-stream bench-tts`: time to the first audio chunk on the topic, and TTS speed.

Runs the broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and a worker with only the
chunker and tts stages, writes script requests straight to the requests topic and
watches the audio topic. The first job warms the path; the rest are measured.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cli.stack import Stack
from schemas.options import AUDIO_SAMPLE_RATE_HZ
from schemas.pipeline import AudioChunkMeta
from schemas.requests import ScriptRequest


async def _one_job(stack: Stack, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, text: str,
                   timeout_s: float = 60.0) -> dict[str, float]:
    job_id = f"bench-tts-{uuid.uuid4().hex[:12]}"
    request = ScriptRequest(job_id=job_id, text=text, submitted_at=time.time())
    sent_at = time.time()
    await producer.send_and_wait(stack.topics.requests, request.to_json(), key=job_id.encode())
    first_on_topic = first_seen = None
    own_samples = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                meta = AudioChunkMeta.from_headers(record.headers)
                if meta.job.job_id != job_id:
                    continue
                if first_on_topic is None:
                    first_on_topic, first_seen = record.timestamp / 1000.0, time.time()
                own_samples += meta.n_frames * AUDIO_SAMPLE_RATE_HZ // meta.job.options.fps
                if meta.is_last:
                    audio_s = own_samples / AUDIO_SAMPLE_RATE_HZ
                    done_s = record.timestamp / 1000.0 - sent_at
                    assert first_on_topic is not None and first_seen is not None
                    return {"first_chunk_on_topic_s": first_on_topic - sent_at,
                            "first_chunk_received_s": first_seen - sent_at,
                            "all_chunks_s": done_s, "audio_s": audio_s, "rtf_on_topic": done_s / audio_s}
    raise TimeoutError(f"job {job_id} produced no last audio chunk in {timeout_s:.0f} s")


async def measure(stack: Stack, text: str, runs: int) -> list[dict[str, float]]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=None, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        partitions = await producer.partitions_for(stack.topics.audio)
        consumer.assign([TopicPartition(stack.topics.audio, p) for p in partitions])
        await consumer.seek_to_end()
        return [await _one_job(stack, producer, consumer, text) for _ in range(runs + 1)][1:]
    finally:
        await consumer.stop()
        await producer.stop()


def _piper_rtf(text: str, runs: int) -> float:
    """Synthesis time over audio time for the whole script, in this process: the median of
    ``runs`` passes after one warm-up pass (onnxruntime sizes its buffers on first use)."""
    from models.speech.sentences import split_sentences
    from models.speech.tts_piper import PiperSpeaker

    speaker = PiperSpeaker(deterministic=True)
    sentences = split_sentences(text)
    rtfs = []
    for _ in range(runs + 1):
        started, audio_s = time.perf_counter(), 0.0
        for sentence in sentences:
            audio_s += speaker.synthesize(sentence).duration_s
        rtfs.append((time.perf_counter() - started) / audio_s)
    return statistics.median(rtfs[1:])


def run_bench(data_dir: Path, text: str, runs: int = 3) -> dict[str, object]:
    stack = Stack(data_dir / "bench-tts", stages=("chunker", "tts"))
    try:
        stack.start()
        results = asyncio.run(measure(stack, text, max(1, runs)))
    finally:
        stack.stop()
    first = [r["first_chunk_on_topic_s"] for r in results]
    return {
        "words": len(text.split()),
        "runs": len(results),
        "first_audio_chunk_on_topic_s": round(statistics.median(first), 4),
        "first_audio_chunk_on_topic_max_s": round(max(first), 4),
        "first_audio_chunk_received_s": round(statistics.median(r["first_chunk_received_s"] for r in results), 4),
        "all_audio_chunks_s": round(statistics.median(r["all_chunks_s"] for r in results), 4),
        "audio_s": round(results[0]["audio_s"], 3),
        "rtf_on_topic": round(statistics.median(r["rtf_on_topic"] for r in results), 4),
        "tts_rtf": round(_piper_rtf(text, max(1, runs)), 4),
    }
