"""Speech end to end on the real broker: an ElevenLabs voice (the fake API) through every stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from cli.client import generate_and_watch, submit
from cli.stack import Stack
from models.speech.audio_chunks import frame_align
from models.speech.sentences import split_sentences
from schemas.pipeline import AudioChunkMeta, CaptionChunk
from tests.e2e.gateway_util import final_status, wait_for_video
from tests.fakes.elevenlabs_server import CHAR_S, FakeElevenLabs

TEXT = ("Hello brave world. This second sentence is a good deal longer than the first one, "
        "so that its audio spans several chunks.")


def _decoded_audio(path: Path) -> np.ndarray:
    """The MP4's audio track as mono int16 at 16 kHz."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(out).astype(np.float64)


def _lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """The shift of ``a`` against ``b`` (a[i + lag] ~ b[i]) with the highest cross-correlation."""
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    xc = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lags = np.r_[0:max_lag + 1, -max_lag:0]
    return int(lags[np.argmax(xc[lags])])


async def _records(bootstrap: str, topic: str, job_id: str, seq: Callable[[ConsumerRecord], int],
                   until: int, timeout_s: float = 30) -> list[ConsumerRecord]:
    """The job's records on `topic`, one per `seq`, in order. A record may be there twice (a
    stage that redoes it after a seek sends it again): the copies must be the same, and the
    stages after keep the first."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[int, ConsumerRecord] = {}
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(found) < until:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.key == job_id.encode():
                        first = found.setdefault(seq(r), r)
                        assert (first.value, first.headers) == (r.value, r.headers), f"{topic} {seq(r)} differs"
    finally:
        await consumer.stop()
    return [found[k] for k in sorted(found)]


async def test_elevenlabs_job_streams_and_keeps_the_api_audio(stack: Stack, elevenlabs: FakeElevenLabs,
                                                              tmp_path: Path) -> None:
    result = await generate_and_watch(stack.url, TEXT, voice_id="elevenlabs:fake-rachel")
    sentences = split_sentences(TEXT)
    assert len(sentences) == 2
    pcm = [np.frombuffer(elevenlabs.streamed[s], "<i2") for s in sentences]
    expected = np.concatenate([frame_align(p, 16000, 25) for p in pcm])
    bodies = {r["json"]["text"]: r["json"] for r in elevenlabs.requests if "json" in r}  # type: ignore[index]
    assert bodies[sentences[0]]["next_text"] == sentences[1]
    assert bodies[sentences[1]]["previous_text"] == sentences[0]

    # The audio topic carries exactly that audio, with the true neighbours as context.
    audio = await _records(stack.bootstrap, stack.topics.audio, result.job_id,
                           lambda r: AudioChunkMeta.from_headers(r.headers).seq, len(result.media))
    chunks = [(AudioChunkMeta.from_headers(r.headers), r.value) for r in audio]
    assert [m.seq for m, _ in chunks] == list(range(len(result.media)))
    for meta, value in chunks:
        payload = np.frombuffer(value, "<i2")
        start, end = meta.frame_start * 640, (meta.frame_start + meta.n_frames) * 640
        assert np.array_equal(payload, expected[start - meta.context_before_samples:end + meta.context_after_samples])
        assert meta.context_before_samples == min(3200, start)
        assert meta.context_after_samples == min(4000, len(expected) - end)
    assert chunks[-1][0].is_last and (chunks[-1][0].frame_start + chunks[-1][0].n_frames) * 640 == len(expected)

    # Captions: ElevenLabs' character times, on the job's timeline.
    captions = [CaptionChunk.from_json(r.value) for r in
                await _records(stack.bootstrap, stack.topics.captions, result.job_id,
                               lambda r: CaptionChunk.from_json(r.value).seq, len(chunks))]
    words = [w for c in captions for w in c.words]
    assert [w.text for w in words] == TEXT.split()
    assert abs(words[1].start_s - 6 * CHAR_S) < 1e-3  # "brave"
    second = len(frame_align(pcm[0], 16000, 25)) / 16000
    assert abs(words[3].start_s - second) < 1e-3  # "This" starts sentence two

    # The final MP4's audio is that audio (AAC-coded: compare waveforms, not bits).
    out = tmp_path / "eleven.mp4"
    await wait_for_video(stack.url, result.job_id, out, timeout_s=60)
    decoded = _decoded_audio(out)
    assert abs(len(decoded) - len(expected)) <= 2048
    lag = _lag(decoded, expected.astype(np.float64), max_lag=2048)  # AAC priming shifts the start
    n = min(len(decoded) - max(lag, 0), len(expected)) - 2048
    seg, ref = decoded[max(lag, 0):max(lag, 0) + n], expected[max(-lag, 0):max(-lag, 0) + n].astype(np.float64)
    correlation = float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref)))
    assert correlation > 0.95, (correlation, lag)


async def test_elevenlabs_rejections_fail_the_job_with_their_cause(stack: Stack, elevenlabs: FakeElevenLabs) -> None:
    elevenlabs.faults.append("quota")
    job_id = await submit(stack.url, "Out of credit.", voice_id="elevenlabs:fake-adam")
    status = await final_status(stack.url, job_id, timeout_s=60)
    assert status["state"] == "failed" and "quota" in str(status["error"])
    assert elevenlabs.api_key not in str(status)
    job_id = await submit(stack.url, "Nobody speaks.", voice_id="elevenlabs:nobody")
    status = await final_status(stack.url, job_id, timeout_s=60)
    assert status["state"] == "failed" and "unknown ElevenLabs voice 'nobody'" in str(status["error"])


async def test_gateway_lists_elevenlabs_voices_and_refuses_unknown_backends(stack: Stack,
                                                                            elevenlabs: FakeElevenLabs) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        ids = {v["voice_id"] for v in (await http.get("/api/v1/voices")).json()["voices"]}
        assert {"piper:joe", "elevenlabs:fake-rachel"} <= ids
        response = await http.post("/api/v1/generate", json={"text": "Hi.", "voice_id": "acme:bob"})
        assert response.status_code == 404 and "acme:bob" in response.text


async def test_local_voice_captions_cover_every_word_in_order(stack: Stack) -> None:
    text = "Captions follow the words. Each one, in order!"
    result = await generate_and_watch(stack.url, text)
    captions = [CaptionChunk.from_json(r.value) for r in
                await _records(stack.bootstrap, stack.topics.captions, result.job_id,
                               lambda r: CaptionChunk.from_json(r.value).seq, len(result.media))]
    assert [c.seq for c in captions] == list(range(len(result.media)))
    words = [w for c in captions for w in c.words]
    assert [w.text for w in words] == text.split()
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in words)
    assert words[-1].end_s <= sum(m.duration_s for m in result.media) + 1e-3


async def test_bench_measures_first_audio_chunk_on_the_topic(stack: Stack) -> None:
    from cli.bench_tts import measure
    from cli.speech_commands import BENCH_SCRIPT

    assert len(BENCH_SCRIPT.split()) == 40
    (result,) = await measure(stack, BENCH_SCRIPT, runs=1)
    assert 0 < result["first_chunk_on_topic_s"] <= result["first_chunk_received_s"] < result["all_chunks_s"]
    assert 8 < result["audio_s"] < 16  # 40 words of speech
    assert result["rtf_on_topic"] == result["all_chunks_s"] / result["audio_s"]
