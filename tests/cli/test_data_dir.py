"""--data-dir before or after any subcommand's name, and `worker` and `gateway` use it."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import build_parser, main


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every subcommand's parser with its name path, nested ones (`avatar create`) too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


def test_every_subcommand_takes_data_dir() -> None:
    found = dict(_subcommands(build_parser()))
    assert {("up",), ("worker",), ("gateway",), ("chunk",), ("avatar", "create")} <= set(found)
    missing = [" ".join(path) for path, sub in found.items() if "--data-dir" not in sub._option_string_actions]
    assert not missing


@pytest.mark.parametrize(("argv", "expected"), [
    (["--data-dir", "A", "up"], "A"),
    (["up", "--data-dir", "B"], "B"),
    (["--data-dir", "A", "up", "--data-dir", "B"], "B"),  # the later, nearer one wins
    (["up"], "from-env"),
    (["--data-dir", "A", "avatar", "create", "f.mp4", "--name", "n"], "A"),
    (["avatar", "create", "f.mp4", "--name", "n", "--data-dir", "C"], "C"),
    (["avatar", "--data-dir", "D", "create", "f.mp4", "--name", "n"], "D"),
])
def test_data_dir_on_either_side_of_the_name(argv: list[str], expected: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVATAR_DATA_DIR", "from-env")
    assert build_parser().parse_args(argv).data_dir == expected


@pytest.fixture
def broker_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """KAFKA_BOOTSTRAP_SERVERS pointing to a listening socket, so the start-up check passes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{sock.getsockname()[1]}")
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("flag_after", [False, True])
def test_worker_uses_data_dir(flag_after: bool, tmp_path: Path, broker_stand_in: None,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import processors.worker

    seen: list[Any] = []
    monkeypatch.setattr(processors.worker, "run_worker", lambda settings, ready: seen.append(settings))
    monkeypatch.setenv("AVATAR_DATA_DIR", str(tmp_path / "not-this"))
    flag = ["--data-dir", str(tmp_path / "this")]
    assert main(["worker", *flag] if flag_after else [*flag, "worker"]) == 0
    assert [s.data_dir for s in seen] == [tmp_path / "this"]


@pytest.mark.parametrize("flag_after", [False, True])
def test_gateway_uses_data_dir(flag_after: bool, tmp_path: Path, broker_stand_in: None,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import streamer.app

    seen: list[Any] = []
    monkeypatch.setattr(streamer.app, "create_app", seen.append)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setenv("AVATAR_DATA_DIR", str(tmp_path / "not-this"))
    flag = ["--data-dir", str(tmp_path / "this")]
    port = ["--port", str(_free_port())]
    assert main(["gateway", *port, *flag] if flag_after else [*flag, "gateway", *port]) == 0
    assert [s.data_dir for s in seen] == [tmp_path / "this"]
