"""JSON Schema files, so producers in other languages can write valid records."""

from __future__ import annotations

from pathlib import Path

import orjson

from schemas.avatars import AvatarPage, AvatarRecord, AvatarTrainRequest
from schemas.base import Message
from schemas.http import (
    BatchRequest,
    BatchResponse,
    ErrorBody,
    GenerateRequest,
    GenerateResponse,
    Health,
    JobList,
    JobStatus,
)
from schemas.pipeline import (
    AudioChunkMeta,
    CaptionChunk,
    DeadLetterMeta,
    FrameChunkMeta,
    SegmentMeta,
    Sentence,
)
from schemas.requests import ScriptRequest
from schemas.sessions import SessionInputRecord, SessionRequest, SessionResponse, SessionState
from schemas.speech import CloneResponse, TtsRequest, Voice, VoiceList
from schemas.status import StatusEvent
from schemas.tickets import TicketResponse
from schemas.usage import UsageRecord, UsageReport
from schemas.webhooks import WebhookDelivery, WebhookDeliveryList, WebhookEvent
from schemas.workers import WorkerHeartbeat

EXPORTED: tuple[type[Message], ...] = (
    ScriptRequest, Sentence, AudioChunkMeta, FrameChunkMeta, SegmentMeta, StatusEvent, DeadLetterMeta,
    CaptionChunk, GenerateRequest, GenerateResponse, JobStatus, ErrorBody, BatchRequest, BatchResponse,
    JobList, AvatarTrainRequest, AvatarRecord, AvatarPage, Voice, VoiceList, CloneResponse, TtsRequest,
    WorkerHeartbeat, Health, UsageRecord, UsageReport, TicketResponse, WebhookEvent, WebhookDelivery,
    WebhookDeliveryList, SessionInputRecord, SessionRequest, SessionResponse, SessionState,
)


def write_json_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in EXPORTED:
        path = out_dir / f"{model.__name__}.schema.json"
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2))
        paths.append(path)
    return paths
