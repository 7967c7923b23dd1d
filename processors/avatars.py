"""avatar training requests -> prepared avatars in the store, progress on the status topic.

The upload waits in the shared store; preparation runs in the CPU pool and
writes the avatar atomically. The upload is removed whatever the outcome, so a
failed run leaves nothing behind; a redelivered request whose avatar is already
stored is acknowledged without redoing the work.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import faust

from core.settings import AvatarSettings
from core.store import MediaStore
from models.avatars.avatar import Avatar, save_avatar
from models.avatars.prep import PrepSettings, Progress, prepare_file
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar
from processors.context import StageContext
from schemas.avatars import AVATAR_STAGE, AvatarTrainRequest
from schemas.status import JobState

log = logging.getLogger(__name__)
STAGE = AVATAR_STAGE


def prep_settings(settings: AvatarSettings) -> PrepSettings:
    return PrepSettings(max_duration_s=settings.max_duration_s, max_side=settings.max_side,
                        max_pixels=settings.max_pixels, pads=settings.pads)


def outcome_message(avatar: Avatar) -> str:
    """The completed status's message, with the quality verdict of the avatar just built."""
    return f"ready ({'good' if avatar.quality is None else avatar.quality.verdict})"


def build_avatar(store: MediaStore, request: AvatarTrainRequest, prep: PrepSettings,
                 progress: Progress) -> Avatar:
    """In the CPU pool: the upload prepared into an avatar, saved to the store."""
    avatar = prepare_file(store.upload_path(request.upload), request.avatar_id, request.name, prep,
                          progress)
    save_avatar(avatar, store.avatar_dir(request.avatar_id))
    return avatar


async def _relay_progress(ctx: StageContext, avatar_id: str,
                          progress: asyncio.Queue[float]) -> None:
    reported = 0.0
    while True:
        fraction = await progress.get()
        if fraction >= reported + 0.1:
            reported = fraction
            await ctx.report(avatar_id, STAGE, JobState.RUNNING,
                             progress=round(min(fraction, 0.99), 3), avatar_id=avatar_id,
                             message=f"preparing: {fraction:.0%}")


async def _build_reporting(ctx: StageContext, request: AvatarTrainRequest,
                           prep: PrepSettings) -> Avatar:
    """:func:`build_avatar` in the CPU pool, its progress relayed to the status topic meanwhile."""
    loop = asyncio.get_running_loop()
    progress: asyncio.Queue[float] = asyncio.Queue()

    def tick(fraction: float) -> None:  # called from the CPU pool
        loop.call_soon_threadsafe(progress.put_nowait, fraction)

    relay = asyncio.create_task(_relay_progress(ctx, request.avatar_id, progress))
    try:
        return await ctx.run_cpu(build_avatar, ctx.store, request, prep, tick)
    finally:
        relay.cancel()


def _parse(event: faust.EventT) -> AvatarTrainRequest:
    return AvatarTrainRequest.from_json(event.value)


async def avatars(ctx: StageContext, stream: faust.StreamT) -> None:
    prep = prep_settings(ctx.settings.avatars)
    async for _event, request in ctx.records(stream, STAGE, _parse):
        avatar_id = request.avatar_id
        upload = ctx.store.upload_path(request.upload)
        if ctx.store.has_avatar(avatar_id):
            upload.unlink(missing_ok=True)
            continue  # a redelivery after the avatar was stored
        await ctx.report(avatar_id, STAGE, JobState.RUNNING, progress=0.0, avatar_id=avatar_id,
                         created_at=request.submitted_at, message="preparing", tenant=request.tenant,
                         webhook_url=request.webhook_url)
        try:
            if not upload.is_file():
                raise FileNotFoundError(f"the upload {request.upload!r} is gone from the store")
            avatar = await _build_reporting(ctx, request, prep)
        except Exception as exc:  # noqa: BLE001 - unusable media, a lost upload or a decoder crash
            await ctx.fail(avatar_id, STAGE, exc, tenant=request.tenant, avatar_id=avatar_id,
                           webhook_url=request.webhook_url)
            continue
        finally:
            upload.unlink(missing_ok=True)
        await ctx.report(avatar_id, STAGE, JobState.COMPLETED, progress=1.0, avatar_id=avatar_id,
                         message=outcome_message(avatar), tenant=request.tenant)


def register(ctx: StageContext) -> None:
    ctx.app.agent(ctx.topics.avatars, name=STAGE)(functools.partial(avatars, ctx))


def ensure_sample_avatar(store: MediaStore) -> None:
    """The astronaut avatar is made on first run (and again if stored before it had a quality
    report), so the default request works."""
    if store.avatar_summary(SAMPLE_AVATAR_ID) is None:
        log.info("preparing the sample avatar %r", SAMPLE_AVATAR_ID)
        save_avatar(sample_avatar(), store.avatar_dir(SAMPLE_AVATAR_ID))
