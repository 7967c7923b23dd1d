"""avatar training requests -> prepared avatars in the store, progress on the status topic.

The upload waits in the shared store; preparation runs in the CPU pool and
writes the avatar atomically. The upload is removed whatever the outcome, so a
failed run leaves nothing behind; a redelivered request whose avatar is already
stored is acknowledged without redoing the work.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from core.settings import AvatarSettings
from core.store import MediaStore
from models.avatars.avatar import save_avatar
from models.avatars.prep import PrepSettings, prepare_file
from models.avatars.sample import SAMPLE_AVATAR_ID, sample_avatar
from processors.context import StageContext
from schemas.avatars import AVATAR_STAGE, AvatarTrainRequest
from schemas.status import JobState

log = logging.getLogger(__name__)
STAGE = AVATAR_STAGE


def prep_settings(settings: AvatarSettings) -> PrepSettings:
    return PrepSettings(max_duration_s=settings.max_duration_s, max_side=settings.max_side,
                        max_pixels=settings.max_pixels, pads=settings.pads)


def register(ctx: StageContext) -> None:
    prep = prep_settings(ctx.settings.avatars)

    def parse(event: faust.EventT) -> AvatarTrainRequest:
        return AvatarTrainRequest.from_json(event.value)

    def build(request: AvatarTrainRequest, progress: asyncio.Queue[float],
              loop: asyncio.AbstractEventLoop) -> None:
        def tick(fraction: float) -> None:
            loop.call_soon_threadsafe(progress.put_nowait, fraction)

        avatar = prepare_file(ctx.store.upload_path(request.upload), request.avatar_id, request.name, prep, tick)
        save_avatar(avatar, ctx.store.avatar_dir(request.avatar_id))

    async def relay_progress(avatar_id: str, progress: asyncio.Queue[float]) -> None:
        reported = 0.0
        while True:
            fraction = await progress.get()
            if fraction >= reported + 0.1:
                reported = fraction
                await ctx.report(avatar_id, STAGE, JobState.RUNNING, progress=round(min(fraction, 0.99), 3),
                                 avatar_id=avatar_id, message=f"preparing: {fraction:.0%}")

    async def avatars(stream: faust.StreamT) -> None:
        async for _event, request in ctx.records(stream, STAGE, parse):
            avatar_id = request.avatar_id
            upload = ctx.store.upload_path(request.upload)
            if ctx.store.has_avatar(avatar_id):
                upload.unlink(missing_ok=True)
                continue  # a redelivery after the avatar was stored
            await ctx.report(avatar_id, STAGE, JobState.RUNNING, progress=0.0, avatar_id=avatar_id,
                             created_at=request.submitted_at, message="preparing")
            progress: asyncio.Queue[float] = asyncio.Queue()
            relay = asyncio.create_task(relay_progress(avatar_id, progress))
            try:
                if not upload.is_file():
                    raise FileNotFoundError(f"the upload {request.upload!r} is gone from the store")
                await ctx.run_cpu(build, request, progress, asyncio.get_running_loop())
            except Exception as exc:  # unusable media, a lost upload or a decoder crash: this avatar fails
                await ctx.fail(avatar_id, STAGE, exc)
                continue
            finally:
                relay.cancel()
                upload.unlink(missing_ok=True)
            summary = ctx.store.avatar_summary(avatar_id) or {}
            verdict = (summary.get("quality") or {}).get("verdict", "good")
            await ctx.report(avatar_id, STAGE, JobState.COMPLETED, progress=1.0, avatar_id=avatar_id,
                             message=f"ready ({verdict})")

    ctx.app.agent(ctx.topics.avatars, name=STAGE)(avatars)


def ensure_sample_avatar(store: MediaStore) -> None:
    """The astronaut avatar is made on first run (and again if stored before it had a quality
    report), so the default request works."""
    if store.avatar_summary(SAMPLE_AVATAR_ID) is None:
        log.info("preparing the sample avatar %r", SAMPLE_AVATAR_ID)
        save_avatar(sample_avatar(), store.avatar_dir(SAMPLE_AVATAR_ID))
