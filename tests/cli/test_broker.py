"""`avatar-stream broker` runs a real Kafka alone and prints where to reach it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def _create_and_list(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("probe", 2, 1)])
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_broker_command_prints_bootstrap_and_stops_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--data-dir", str(tmp_path), "broker"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
    try:
        assert proc.stdout is not None
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:")
        assert "probe" in asyncio.run(_create_and_list(bootstrap))
        assert (tmp_path / "kafka" / "logs").is_dir() and (tmp_path / "kafka" / "broker.log").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
