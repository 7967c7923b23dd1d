"""The only faust.App, built from settings; stages register their agents on it."""

from __future__ import annotations

import faust

from processors import kafka_driver
from processors.fence import FencedTable
from processors.settings import WorkerSettings
from schemas.topics import MAX_RECORD_BYTES


def create_app(settings: WorkerSettings) -> faust.App:
    kafka_driver.install()
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        Table=FencedTable,  # stale work writes no table (processors/fence.py)
        topic_replication_factor=1,
        topic_partitions=settings.kafka.partitions,
        table_standby_replicas=0,
        web_enabled=False,
        broker_session_timeout=10.0,
        # a member learns of a rebalance (a worker leaving, joining) at its next heartbeat
        broker_heartbeat_interval=0.3,
        broker_rebalance_timeout=20.0,
        # what a new owner does again after a crash is what came since the last commit
        broker_commit_interval=0.5,
        producer_max_request_size=MAX_RECORD_BYTES,
        consumer_max_fetch_size=MAX_RECORD_BYTES,
        consumer_auto_offset_reset="earliest",
        producer_linger=0.0,
        stream_wait_empty=False,
        datadir=str(settings.data_dir / "faust"),
    )
