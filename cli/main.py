"""The `avatar-stream` command: broker, worker, gateway, up, demo, schemas."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from cli import avatar_commands, fault_commands, load_commands, render_commands, speech_commands
from core.settings import data_dir_from, log_level_from

log = logging.getLogger("avatar_stream")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format='{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def _signalled() -> threading.Event:
    """Set on SIGINT or SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    return done


def _wait_for_signal() -> None:
    """Blocks until SIGINT or SIGTERM."""
    _signalled().wait()


def cmd_broker(args: argparse.Namespace) -> int:
    from cli.embedded_kafka import EmbeddedKafka

    broker = EmbeddedKafka(Path(args.data_dir) / "kafka", port=args.port)
    try:
        print(broker.start(), flush=True)
        _wait_for_signal()
    finally:
        broker.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from processors.settings import WorkerSettings
    from processors.worker import run_worker

    env = dict(os.environ)
    if args.stages:
        env["AVATAR_STAGES"] = args.stages
    run_worker(WorkerSettings.from_env(env), Path(args.ready_file) if args.ready_file else None)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    import uvicorn

    from streamer.app import create_app
    from streamer.settings import GatewaySettings

    env = dict(os.environ)
    if args.host:  # the bind address decides dev mode, so it must reach the settings
        env["AVATAR_HOST"] = args.host
    settings = GatewaySettings.from_env(env)
    uvicorn.run(create_app(settings), host=settings.host, port=args.port or settings.port,
                log_level=settings.log_level, ws_max_size=16 * 1024 * 1024)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """0 after Ctrl-C or SIGTERM; 1, with the reason logged, when a part died for good."""
    from cli.stack import Stack, StackError

    stack = Stack(Path(args.data_dir), port=args.port)
    try:
        url = stack.start()
        print(url, flush=True)
        log.info("serving at %s; logs in %s; Ctrl-C stops everything", url, stack.data_dir / "logs")
        stack.supervise(_signalled())
    except StackError as exc:
        log.error("up stops: %s", exc)
        return 1
    finally:
        stack.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(Path(args.data_dir), text=args.text, out=Path(args.out), as_json=args.json, port=args.port)


def cmd_bench_demo(args: argparse.Namespace) -> int:
    from cli.demo import bench_demo

    return bench_demo(Path(args.data_dir), runs=args.runs, out=Path(args.out))


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.export import write_json_schemas

    for path in write_json_schemas(Path(args.out)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-stream", description=__doc__)
    parser.add_argument("--data-dir", default=str(data_dir_from(os.environ)),
                        help="avatars, segments, final files and the embedded broker's logs")
    sub = parser.add_subparsers(dest="command", required=True)
    avatar_commands.add_commands(sub)
    speech_commands.add_commands(sub)
    render_commands.add_commands(sub)
    load_commands.add_commands(sub)
    fault_commands.add_commands(sub)
    p = sub.add_parser("broker", help="run the embedded Kafka broker alone; prints its bootstrap address")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(fn=cmd_broker)
    p = sub.add_parser("worker", help="run pipeline stages (a Faust worker)")
    p.add_argument("--stages", default=None, help="comma-separated: chunker,tts,lipsync,encoder,assembler")
    p.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_worker)
    p = sub.add_parser("gateway", help="run the HTTP/WebSocket gateway")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(fn=cmd_gateway)
    p = sub.add_parser("up", help="broker (unless configured), worker and gateway; prints the URL")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("demo", help="start everything, speak a text through the API, save the MP4")
    p.add_argument("--text", default=None)
    p.add_argument("--out", default="demo.mp4")
    p.add_argument("--json", action="store_true", help="print one JSON line of results")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("bench-demo", help="run the demo N times; median time to first segment after the first")
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--out", default="out/bench-demo.mp4")
    p.set_defaults(fn=cmd_bench_demo)
    p = sub.add_parser("schemas", help="write JSON Schema files for producers in other languages")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(log_level_from(os.environ))
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
