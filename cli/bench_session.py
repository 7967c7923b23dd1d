"""`python -m cli.bench_session [URL]`: a live session's latencies, as a client sees them.

From a `say` (sent to an idle avatar) to the first media segment with speech in it, over
a number of utterances (p50 and the worst), and from an `interrupt` sent mid-speech to the
first silent segment, with how much speech still arrived after it. Without a URL it runs
the whole service on a fresh embedded broker first, as `avatar-stream up` does.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
from pathlib import Path

import av
import numpy as np

from cli.session_client import SessionSocket, connect, open_session
from schemas.ws import MediaMessage

SPEECH_RMS = 200.0
QUIET_S = 1.5  # no new segment this long: the utterance is all out


def loudness(init: bytes, segment: MediaMessage) -> float:
    with av.open(io.BytesIO(init + segment.data)) as container:
        samples = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    if not samples:
        return 0.0
    pcm = np.concatenate(samples).astype(np.float64) * (32768.0 if samples[0].dtype.kind == "f" else 1.0)
    return float(np.sqrt((pcm**2).mean()))


def _spoken_after(socket: SessionSocket, first: int) -> int | None:
    view = socket.view
    return next((k for k in range(first, len(view.media))
                 if loudness(view.init[0], view.media[k]) > SPEECH_RMS), None)


async def _quiet(socket: SessionSocket) -> None:
    """Until no segment came for QUIET_S (a bench's wait, not a test's)."""
    seen = -1
    while seen != len(socket.view.media):
        seen = len(socket.view.media)
        await asyncio.sleep(QUIET_S)


async def bench(url: str, utterances: int) -> None:
    session_id = await open_session(url)
    async with connect(url, session_id) as socket:
        await socket.until(lambda v: bool(v.of_type("status")))
        latencies = []
        for k in range(utterances):
            first = len(socket.view.media)
            sent = await socket.send(type="say", text=f"This is utterance number {k + 1}.")
            await socket.until(lambda v, first=first: _spoken_after(socket, first) is not None)
            latencies.append(socket.view.arrived[_spoken_after(socket, first) or 0] - sent)
            await _quiet(socket)
        print(f"say -> first spoken segment: p50 {statistics.median(latencies):.3f} s, "
              f"max {max(latencies):.3f} s over {utterances} ({', '.join(f'{s:.2f}' for s in latencies)})")
        first = len(socket.view.media)
        await socket.send(type="say", text="Here is a long answer that goes on. It has a second sentence. "
                                            "And a third one that will not be heard. And a fourth.")
        await socket.until(lambda v: _spoken_after(socket, first) is not None)
        cut = len(socket.view.media)
        sent = await socket.send(type="interrupt")
        await _quiet(socket)
        view = socket.view
        spoken = [loudness(view.init[0], m) > SPEECH_RMS for m in view.media[cut:]]
        silent = spoken.index(False) if False in spoken else None
        after_s = sum(m.duration_s for m, s in zip(view.media[cut:], spoken, strict=True) if s)
        stop = "never" if silent is None else f"{view.arrived[cut + silent] - sent:.3f} s"
        print(f"interrupt -> first silent segment: {stop}; {sum(spoken)} speech segment(s), "
              f"{after_s:.2f} s of speech, arrived after the interrupt")
        at_s = view.media[cut - 1].start_s + view.media[cut - 1].duration_s  # the timeline when it was sent
        first = len(view.media)
        await socket.send(type="say", text="Okay.")
        await socket.until(lambda v: _spoken_after(socket, first) is not None)
        reply = socket.view.media[_spoken_after(socket, first) or 0]
        print(f"the next say's speech starts {reply.start_s - at_s:.2f} s of timeline after the interrupt "
              "(the interrupted speech already cut into chunks, played as silence)")
        await socket.send(type="end")
        await socket.until(lambda v: bool(v.of_type("end")), timeout_s=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="a running gateway (default: start the service here)")
    parser.add_argument("--utterances", type=int, default=10)
    args = parser.parse_args()
    if args.url:
        asyncio.run(bench(args.url, args.utterances))
        return
    from cli.stack import Stack

    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp)) as stack:
        asyncio.run(bench(stack.url, args.utterances))


if __name__ == "__main__":
    main()
