"""Which URL a request's job reports to: the request's own `webhook_url`, else the one the
caller's API key has (AVATAR_WEBHOOK_URLS). Checked before the job exists
(core/webhook_targets.py), so a URL that is not http(s) or points at a private address is
refused with the reason."""

from __future__ import annotations

from core.webhook_targets import WebhookTargetError, check_target
from streamer.settings import GatewaySettings


def key_webhook(settings: GatewaySettings, key_hash: str | None) -> str | None:
    if key_hash is None:
        return None
    return next((url for digest, url in settings.webhook_urls if digest == key_hash), None)


async def webhook_for(settings: GatewaySettings, key_hash: str | None, given: str | None) -> str | None:
    """The job's webhook URL, or None; raises WebhookTargetError saying why it may not be one."""
    url = given if given is not None else key_webhook(settings, key_hash)
    if url is None:
        return None
    try:
        await check_target(url, settings.webhook_allow)
    except WebhookTargetError as exc:
        if given is None:
            raise WebhookTargetError(f"{exc} (the webhook configured for this API key)") from None
        raise
    return url
