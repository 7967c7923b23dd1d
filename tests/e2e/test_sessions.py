"""Live sessions on the real stack (one broker, gateway and worker for the whole run):
`say`s (partial tokens among them) on one timeline and one MP4, `interrupt` silencing what
was being said, a `say` produced to the session-input topic reaching the viewer, bad input
answered while the session goes on, and the idle timeout closing a session with its reason."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import httpx
import numpy as np

from cli.session_client import SessionView, connect, open_session
from cli.stack import Stack
from models.media.assemble import probe
from schemas.sessions import SessionEnd, SessionInputRecord, SessionSay
from schemas.ws import MediaMessage
from tests.e2e.gateway_util import final_status, wait_for_video
from tests.e2e.kafka_util import produce, read_topic

FRAME_S = 1 / 25
SPEECH_RMS = 200.0  # int16: a segment with speech in it is far above; an interrupted one is 0


def loudness(init: bytes, segment: MediaMessage) -> float:
    """RMS of one media segment's decoded AAC (init + moof/mdat on their own)."""
    with av.open(io.BytesIO(init + segment.data)) as container:
        samples = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    if not samples:  # a segment shorter than one AAC packet may own none
        return 0.0
    pcm = np.concatenate(samples).astype(np.float64) * (32768.0 if samples[0].dtype.kind == "f" else 1.0)
    return float(np.sqrt((pcm**2).mean()))


def assert_one_timeline(view: SessionView) -> None:
    """One init segment; seqs 0..n-1; each segment starts where the one before ended."""
    assert len(view.init) == 1
    assert [m.seq for m in view.media] == list(range(len(view.media)))
    assert view.media[0].start_s == 0.0
    for before, after in zip(view.media, view.media[1:], strict=False):
        assert abs(before.start_s + before.duration_s - after.start_s) < 1e-6, (before, after)


def ended(view: SessionView) -> bool:
    return bool(view.of_type("end"))


async def test_two_says_one_of_them_in_tokens_make_one_timeline_and_one_mp4(stack: Stack, tmp_path: Path) -> None:
    session_id = await open_session(stack.url)
    async with connect(stack.url, session_id) as socket:
        for token in ["Hello", " there", ", my", " friend.", " How are", " you", " today?"]:
            await socket.send(type="say", text=token, final=False)
        await socket.send(type="say", text="", final=True)  # speaks "How are you today?"
        await socket.send(type="say", text="Goodbye now.")
        await socket.send(type="end")
        await socket.until(lambda v: v.closed, timeout_s=90)
    view = socket.view
    assert ended(view)
    assert view.close_code == 1000 and view.close_reason.startswith("session ended"), view.close_reason
    assert_one_timeline(view)
    spoken = [loudness(view.init[0], m) > SPEECH_RMS for m in view.media]
    assert sum(spoken) >= 3, spoken
    words = " ".join(w["text"] for c in view.of_type("captions") for w in c["words"])
    for said in ("Hello", "friend", "today", "Goodbye"):
        assert said in words, words
    streamed_s = sum(m.duration_s for m in view.media)
    out = tmp_path / "session.mp4"
    await wait_for_video(stack.url, session_id, out)
    info = probe(out)
    assert abs(info.video_duration_s - streamed_s) <= FRAME_S + 1e-6, (info, streamed_s)
    assert abs(info.audio_duration_s - info.video_duration_s) <= FRAME_S + 1e-6, info


async def test_interrupt_silences_what_was_being_said_within_a_segment(stack: Stack) -> None:
    session_id = await open_session(stack.url)
    text = ("This is a long answer that the person will not let me finish. It has a second sentence. "
            "And a third one, which nobody will ever hear. And a fourth one to be sure.")
    async with connect(stack.url, session_id) as socket:
        await socket.send(type="say", text=text)
        await socket.until(lambda v: len(v.media) >= 1)
        cut_at = len(socket.view.media)
        interrupted = await socket.send(type="interrupt")
        await socket.send(type="say", text="Okay.")  # after the interrupt: one partition, in order
        await socket.send(type="end")
        await socket.until(ended, timeout_s=90)
    view = socket.view
    assert_one_timeline(view)
    spoken = [loudness(view.init[0], m) > SPEECH_RMS for m in view.media]
    after = spoken[cut_at:]
    silent_from = after.index(False)  # interrupted segments are silent...
    assert silent_from <= 2, spoken  # ...from within about one segment of the interrupt
    assert any(after[silent_from:]), spoken  # and "Okay." is spoken after them
    stop_s = view.arrived[cut_at + silent_from] - interrupted
    assert stop_s < 5.0, stop_s
    heard_s = sum(m.duration_s for m, s in zip(view.media, spoken, strict=True) if s)
    assert heard_s < 6.0, spoken  # the whole text takes about 10 s to say


async def test_a_say_produced_to_the_session_input_topic_reaches_the_viewer(stack: Stack) -> None:
    session_id = await open_session(stack.url)
    async with connect(stack.url, session_id) as socket:
        await socket.until(lambda v: bool(v.of_type("status")))
        records = [SessionInputRecord(session_id=session_id, message=m, sent_at=time.time())
                   for m in (SessionSay(text="Kafka says hello."), SessionEnd())]
        await produce(stack, stack.topics.session_input,
                      [(session_id.encode(), r.to_json(), None) for r in records])
        await socket.until(ended, timeout_s=90)
    view = socket.view
    assert_one_timeline(view)
    assert any(loudness(view.init[0], m) > SPEECH_RMS for m in view.media)
    words = " ".join(w["text"] for c in view.of_type("captions") for w in c["words"])
    assert "Kafka" in words, words


async def test_bad_input_is_answered_and_the_session_goes_on(stack: Stack) -> None:
    async with connect(stack.url, "session-0000") as unknown:
        await unknown.until(lambda v: v.closed)
    assert unknown.view.close_code == 4404 and "unknown session" in unknown.view.of_type("error")[0]["error"]
    async with httpx.AsyncClient(base_url=stack.url) as http:
        refused = await http.post("/api/v1/sessions", json={"avatar_id": "nobody"})
        assert refused.status_code == 404 and "unknown avatar_id" in refused.json()["error"]
    session_id = await open_session(stack.url)
    async with connect(stack.url, session_id) as socket:
        await socket.send(type="dance")
        await socket.send_raw("not json")
        await socket.send_raw(b"\x00\x01")
        await socket.send(type="say", text=123)
        await socket.until(lambda v: len(v.of_type("error")) == 4)
        errors = [e["error"] for e in socket.view.of_type("error")]
        assert "'say', 'interrupt', 'end'" in errors[0] and errors[2].startswith("send JSON"), errors
        assert all(e.get("code") is None for e in socket.view.of_type("error"))
        await socket.send(type="say", text="Still here.")
        await socket.send(type="end")
        await socket.send(type="say", text="Too late.")
        await socket.until(lambda v: len(v.of_type("error")) == 5)
        assert "has ended" in socket.view.of_type("error")[4]["error"]
        await socket.until(ended, timeout_s=90)
    assert (await final_status(stack.url, session_id))["state"] == "completed"
    stray = SessionInputRecord(session_id="session-stray", message=SessionSay(text="Anyone?"))
    await produce(stack, stack.topics.session_input, [(b"session-stray", stray.to_json(), None)])
    letters = await read_topic(stack, stack.topics.deadletter, lambda r: r.key == b"session-stray",
                               until=bool)
    assert "unknown session 'session-stray'" in dict(letters[0].headers)["meta"].decode()


async def test_an_idle_session_is_closed_with_its_reason(stack: Stack) -> None:
    session_id = await open_session(stack.url, idle_timeout_s=1)
    async with connect(stack.url, session_id) as socket:
        await socket.until(lambda v: v.closed, timeout_s=30)
    view = socket.view
    assert view.close_code == 1000 and view.close_reason == "session closed: no `say` for 1 s", view.close_reason
    assert (await final_status(stack.url, session_id))["state"] == "completed"
    assert len(view.media) == 1 and view.media[0].duration_s == FRAME_S  # the session's one silent frame


async def test_the_player_page_drives_a_live_session(stack: Stack) -> None:
    """Headless Chromium: open a session, say the script box (sent as word-sized pieces),
    interrupt, say more, end; the page plays the session as it is made and offers the MP4."""
    from playwright.async_api import async_playwright

    from tests.e2e.test_player_browser import ARGS, CHROMIUM

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(stack.url + "/")
            await page.evaluate("window.player.ready")
            await page.click("#live")
            await page.wait_for_function("!document.querySelector('#say').disabled", timeout=30_000)
            await page.fill("#text", "Hello from the live page. This second sentence may be cut off.")
            await page.click("#say")
            await page.wait_for_function("document.querySelector('#video').currentTime > 0", timeout=60_000)
            await page.click("#interrupt")
            await page.fill("#text", "Bye.")
            await page.click("#say")
            await page.click("#end")
            await page.locator("#download").wait_for(state="visible", timeout=90_000)
            assert await page.evaluate("window.player.errors") == []
            assert await page.evaluate("document.querySelector('#video').error") is None
            seqs = await page.evaluate("window.player.segments.map((s) => s.seq)")
            session_id = await page.evaluate("window.player.jobId")
        finally:
            await browser.close()
    assert seqs == list(range(len(seqs))) and len(seqs) >= 2
    assert session_id.startswith("session-")
    assert (await final_status(stack.url, session_id))["state"] == "completed"
