"""`avatar-stream chunk`, `tts` and `bench-tts`: the speech half of the service from a shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import wave
from pathlib import Path

BENCH_SCRIPT = (
    "Hello and welcome. Today I will show you how this service turns a short written script "
    "into speech and video, one sentence at a time, so that you can start watching long before "
    "the whole script has been fully spoken."
)  # 40 words


def cmd_chunk(args: argparse.Namespace) -> int:
    from cli.errors import UsageError
    from models.speech.sentences import split_sentences
    from processors.settings import WorkerSettings

    settings = WorkerSettings.from_env()
    try:  # a script over AVATAR_MAX_SCRIPT_CHARS (ScriptTooLongError) or a --max-chars under 1
        pieces = split_sentences(args.text, max_chars=args.max_chars or settings.max_sentence_chars,
                                 first_max_chars=settings.first_sentence_chars,
                                 max_script_chars=settings.max_script_chars)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not pieces:  # no output at all would look like success to a script reading it
        raise UsageError("--text has no words to split into sentences")
    for seq, text in enumerate(pieces):
        print(json.dumps({"seq": seq, "text": text}, ensure_ascii=False))
    return 0


async def _speak(text: str, voice_id: str, out: Path) -> dict[str, object]:
    from core.voices import build_registry
    from models.speech.sentences import split_sentences
    from models.speech.tts_piper import PiperBackend, PiperSpeaker
    from processors.settings import WorkerSettings

    settings = WorkerSettings.from_env()
    started = time.perf_counter()
    speaker = await asyncio.to_thread(PiperSpeaker, deterministic=settings.tts_deterministic)
    load_s = time.perf_counter() - started
    registry = build_registry(PiperBackend(lambda: speaker), settings.elevenlabs)
    backend, voice = registry.resolve(voice_id)
    sentences = split_sentences(text, max_chars=settings.max_sentence_chars,
                                first_max_chars=settings.first_sentence_chars)
    if not sentences:
        raise ValueError("the text has no words to speak")
    started = time.perf_counter()
    first_audio_s = None
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(backend.sample_rate_hz)
        n_samples = 0
        for i, sentence in enumerate(sentences):
            utterance = await backend.synthesize(voice, sentence, sentences[i - 1] if i else None,
                                                 sentences[i + 1] if i + 1 < len(sentences) else None)
            first_audio_s = first_audio_s or time.perf_counter() - started
            wav.writeframes(utterance.samples.astype("<i2").tobytes())
            n_samples += len(utterance.samples)
    synth_s = time.perf_counter() - started
    audio_s = n_samples / backend.sample_rate_hz
    return {"out": str(out), "voice_id": voice_id, "sentences": len(sentences), "audio_s": round(audio_s, 3),
            "synth_s": round(synth_s, 3), "rtf": round(synth_s / max(audio_s, 1e-9), 4),
            "first_audio_s": round(first_audio_s or 0.0, 3), "model_load_s": round(load_s, 3)}


def cmd_tts(args: argparse.Namespace) -> int:
    from models.speech.tts_backend import SpeechError

    try:
        result = asyncio.run(_speak(args.text, args.voice, Path(args.out)))
    except (LookupError, ValueError, SpeechError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def cmd_bench_tts(args: argparse.Namespace) -> int:
    from cli.bench_tts import run_bench

    result = run_bench(Path(args.data_dir), args.text or BENCH_SCRIPT, runs=args.runs)
    print(json.dumps(result))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("chunk", help="split a script into sentences; prints JSON lines {seq, text}")
    p.add_argument("--text", required=True)
    p.add_argument("--max-chars", type=int, default=None, help="longest chunk (default AVATAR_MAX_SENTENCE_CHARS)")
    p.set_defaults(fn=cmd_chunk)
    p = sub.add_parser("tts", help="speak a text to a WAV file (offline with the local voice)")
    p.add_argument("--text", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--voice", default=os.environ.get("AVATAR_VOICE_ID", "piper:joe"))
    p.set_defaults(fn=cmd_tts)
    p = sub.add_parser("bench-tts", help="time to first audio chunk on the topic and TTS real-time factor")
    p.add_argument("--text", default=None, help="the script (default: a 40-word script)")
    p.add_argument("--runs", type=int, default=3)
    p.set_defaults(fn=cmd_bench_tts)
