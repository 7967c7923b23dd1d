"""The `avatar-stream` command: broker, worker, gateway, up, demo, schemas."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from cli import avatar_commands, fault_commands, load_commands, render_commands, speech_commands
from cli.errors import UsageError
from cli.preflight import BROKER_ENV, ensure_broker_reachable, ensure_port_free, port_arg
from core.logs import setup_logging, uvicorn_log_config
from core.settings import data_dir_from, log_level_from

log = logging.getLogger("avatar_stream")


def _signalled() -> threading.Event:
    """Set on SIGINT or SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    return done


def _wait_for_signal() -> None:
    """Blocks until SIGINT or SIGTERM."""
    _signalled().wait()


def _check_stack_can_start(port: int | None) -> None:
    """What `up` and `demo` need before starting anything: the gateway's port free on the
    address the gateway will bind, and the broker reachable when one is configured (without
    one they start their own)."""
    from streamer.settings import GatewaySettings

    if port:
        ensure_port_free(GatewaySettings.from_env(os.environ).host, port)
    if (bootstrap := os.environ.get(BROKER_ENV)) is not None:
        ensure_broker_reachable(bootstrap)


def cmd_broker(args: argparse.Namespace) -> int:
    from cli.embedded_kafka import EmbeddedKafka

    if args.port:
        ensure_port_free("127.0.0.1", args.port)  # the embedded broker listens on loopback
    broker = EmbeddedKafka(Path(args.data_dir) / "kafka", port=args.port)
    try:
        print(broker.start(), flush=True)
        _wait_for_signal()
    finally:
        broker.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from processors.settings import WorkerSettings

    env = {**os.environ, "AVATAR_DATA_DIR": args.data_dir}  # settings read it, as `up`'s children do
    if args.stages:
        env["AVATAR_STAGES"] = args.stages
    settings = WorkerSettings.from_env(env)
    ensure_broker_reachable(settings.kafka.bootstrap_servers)
    # Faust and the models take seconds to import: after the check, so a wrong address is said at once
    from processors.worker import run_worker

    run_worker(settings, Path(args.ready_file) if args.ready_file else None)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    import uvicorn

    from streamer.app import create_app
    from streamer.settings import GatewaySettings

    env = {**os.environ, "AVATAR_DATA_DIR": args.data_dir}  # settings read it, as `up`'s children do
    if args.host:  # the bind address decides dev mode, so it must reach the settings
        env["AVATAR_HOST"] = args.host
    settings = GatewaySettings.from_env(env)
    port = args.port or settings.port
    ensure_port_free(settings.host, port)
    ensure_broker_reachable(settings.kafka.bootstrap_servers)
    uvicorn.run(create_app(settings), host=settings.host, port=port,
                log_level=settings.log_level, log_config=uvicorn_log_config(settings.log_level),
                ws_max_size=16 * 1024 * 1024)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """0 after Ctrl-C or SIGTERM; 1, with the reason logged, when a part died for good."""
    from cli.stack import Stack, StackError

    _check_stack_can_start(args.port)
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

    _check_stack_can_start(args.port)
    return run_demo(Path(args.data_dir), text=args.text, out=Path(args.out), as_json=args.json, port=args.port)


def cmd_bench_demo(args: argparse.Namespace) -> int:
    from cli.demo import bench_demo

    return bench_demo(Path(args.data_dir), runs=args.runs, out=Path(args.out))


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.export import write_json_schemas

    for path in write_json_schemas(Path(args.out)):
        print(path)
    return 0


DATA_DIR_HELP = "avatars, segments, final files and the embedded broker's logs"


class _SubcommandParser(argparse.ArgumentParser):
    """The parser of every subcommand (and of theirs, such as `avatar create`): it takes
    --data-dir too, so `avatar-stream up --data-dir D` works like `avatar-stream --data-dir D up`.
    Its default is SUPPRESS because a subcommand's defaults overwrite the top level's value:
    left out after the name, the top-level one (or its default) stands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--data-dir", default=argparse.SUPPRESS, help=DATA_DIR_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-stream", description=__doc__)
    parser.add_argument("--data-dir", default=str(data_dir_from(os.environ)), help=DATA_DIR_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)
    avatar_commands.add_commands(sub)
    speech_commands.add_commands(sub)
    render_commands.add_commands(sub)
    load_commands.add_commands(sub)
    fault_commands.add_commands(sub)
    p = sub.add_parser("broker", help="run the embedded Kafka broker alone; prints its bootstrap address")
    p.add_argument("--port", type=port_arg, default=None)
    p.set_defaults(fn=cmd_broker)
    p = sub.add_parser("worker", help="run pipeline stages (a Faust worker)")
    p.add_argument("--stages", default=None, help="comma-separated: chunker,tts,lipsync,encoder,assembler,avatars,webhooks")
    p.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_worker)
    p = sub.add_parser("gateway", help="run the HTTP/WebSocket gateway")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=port_arg, default=None)
    p.set_defaults(fn=cmd_gateway)
    p = sub.add_parser("up", help="broker (unless configured), worker and gateway; prints the URL")
    p.add_argument("--port", type=port_arg, default=None)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("demo", help="start everything, speak a text through the API, save the MP4")
    p.add_argument("--text", default=None)
    p.add_argument("--out", default="demo.mp4")
    p.add_argument("--json", action="store_true", help="print one JSON line of results")
    p.add_argument("--port", type=port_arg, default=None)
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
    setup_logging(log_level_from(os.environ))
    try:
        return int(args.fn(args))
    except UsageError as exc:
        print(f"avatar-stream: error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
