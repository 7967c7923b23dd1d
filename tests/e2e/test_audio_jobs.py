"""An audio-driven job on the real broker stack: a WAV uploaded to POST /api/v1/generate
streams its segments and ends as an MP4 whose audio is the upload's, as long as it to a
frame; DELETE removes the stored upload with the job's other files. A request written to
Kafka names a file in the job's audio folder instead."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import av
import httpx
import numpy as np

from cli.client import watch
from cli.stack import Stack
from core.store import MediaStore
from models.media.assemble import probe
from schemas.requests import ScriptRequest
from tests.e2e.gateway_util import final_status, wait_for_video
from tests.e2e.kafka_util import produce
from tests.models.speech.audio_fixtures import write_audio

DURATION_S = 10.0
FRAME_S = 1 / 25


def _loudness_by_second(path: Path) -> np.ndarray:
    """RMS per second of the MP4's audio: the fixture tone gets louder as it goes."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        samples = np.concatenate([out.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                                  for out in resampler.resample(frame)]).astype(np.float64)
    whole = samples[: len(samples) // 16_000 * 16_000].reshape(-1, 16_000)
    return np.sqrt((whole**2).mean(axis=1))


async def test_an_uploaded_wav_streams_and_ends_as_an_mp4_of_its_length(stack: Stack, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "voice", "wav", DURATION_S)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await http.post("/api/v1/generate", files={"audio": ("voice.wav", wav.read_bytes(), "audio/wav")},
                                   data={"options": '{"fps": 25}'})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        stored = MediaStore(stack.data_dir).job_dir(job_id) / "audio"
        assert [p.name for p in stored.iterdir()] == ["source"]  # under the job's own folder
        result = await watch(stack.url, job_id, started, timeout_s=60)
        seqs = [m.seq for m in result.media]
        assert seqs == list(range(len(seqs))) and len(seqs) >= 3
        assert result.messages[-1]["type"] == "end"
        assert all(not m["words"] for m in result.messages if m["type"] == "captions")  # no captions
        streamed_s = sum(m.duration_s for m in result.media)
        assert abs(streamed_s - DURATION_S) <= FRAME_S + 1e-6

        out = tmp_path / "job.mp4"
        await wait_for_video(stack.url, job_id, out)
        info = probe(out)
        assert abs(info.audio_duration_s - DURATION_S) <= FRAME_S + 1e-6, info
        assert abs(info.video_duration_s - info.audio_duration_s) <= FRAME_S + 1e-6, info
        loudness = _loudness_by_second(out)
        assert loudness[-1] > 2.5 * loudness[0], loudness  # the upload's sound, not a voice's

        status = (await http.get(f"/api/v1/status/{job_id}")).json()
        assert status["state"] == "completed" and status["voice_id"] == "own-audio"
        assert (await http.delete(f"/api/v1/jobs/{job_id}")).status_code == 200
        assert not stored.exists()


async def test_a_kafka_request_names_a_file_in_the_jobs_audio_folder(stack: Stack, tmp_path: Path) -> None:
    """A producer on the shared media store: the file first, then the request; a request
    naming no file fails its job with the reason."""
    job_id, missing = f"kafka-audio-{uuid.uuid4().hex[:8]}", f"kafka-audio-{uuid.uuid4().hex[:8]}"
    path = MediaStore(stack.data_dir).job_audio_path(job_id, "clip.mp3")
    path.parent.mkdir(parents=True)
    write_audio(tmp_path / "clip", "mp3", 3.0).rename(path)
    requests = [ScriptRequest(job_id=j, audio_upload="clip.mp3", submitted_at=time.time()) for j in (job_id, missing)]
    await produce(stack, stack.topics.requests, [(r.job_id.encode(), r.to_json(), None) for r in requests])
    failed = await final_status(stack.url, missing, timeout_s=60)
    assert failed["state"] == "failed" and "no audio file 'clip.mp3'" in str(failed["error"]), failed
    out = tmp_path / "kafka.mp4"
    await wait_for_video(stack.url, job_id, out)
    assert abs(probe(out).audio_duration_s - 3.0) <= FRAME_S + 1e-6


async def test_the_player_starts_an_audio_job_from_a_chosen_file(stack: Stack, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    from tests.e2e.test_player_browser import ARGS, CHROMIUM

    wav = write_audio(tmp_path / "voice", "wav", 3.0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(stack.url + "/")
            await page.evaluate("window.player.ready")
            await page.set_input_files("#audiofile", str(wav))
            await page.click("#go")
            await page.locator("#download").wait_for(state="visible", timeout=60_000)
            assert await page.evaluate("window.player.errors") == []
            job_id = await page.evaluate("window.player.jobId")
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=stack.url) as http:
        status = (await http.get(f"/api/v1/status/{job_id}")).json()
    assert status["state"] == "completed" and status["voice_id"] == "own-audio", status
