"""Which webhook a job gets at the gateway: the request's own, else its API key's, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.webhook_targets import AllowList, WebhookTargetError
from streamer.auth import key_hash
from streamer.settings import GatewaySettings
from streamer.webhook_urls import webhook_for
from tests.streamer.app_util import offline_client

KEY = key_hash("key-one")


def _settings(**env: str) -> GatewaySettings:
    return GatewaySettings.from_env({"AVATAR_WEBHOOK_URLS": f"{KEY}=http://127.0.0.1:9/key-hook",
                                     "AVATAR_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", **env})


async def test_the_request_url_wins_over_the_key_url() -> None:
    settings = _settings()
    assert await webhook_for(settings, KEY, "http://127.0.0.1:9/own") == "http://127.0.0.1:9/own"
    assert await webhook_for(settings, KEY, None) == "http://127.0.0.1:9/key-hook"
    assert await webhook_for(settings, key_hash("other"), None) is None
    assert await webhook_for(settings, None, None) is None  # dev mode: no key


async def test_a_key_url_is_checked_too_and_says_where_it_came_from() -> None:
    settings = _settings(AVATAR_WEBHOOK_ALLOW_HOSTS="")
    with pytest.raises(WebhookTargetError, match="configured for this API key"):
        await webhook_for(settings, KEY, None)
    with pytest.raises(WebhookTargetError, match="private, loopback") as refused:
        await webhook_for(settings, KEY, "http://127.0.0.1:9/own")
    assert "API key" not in str(refused.value)


def test_settings_parse_and_refuse_bad_items() -> None:
    settings = _settings()
    assert settings.webhook_urls == ((KEY, "http://127.0.0.1:9/key-hook"),)
    assert settings.webhook_allow == AllowList.parse("127.0.0.1")
    for bad in ("nodigest", f"{KEY}=ftp://x/", "abc=http://x/"):
        with pytest.raises(ValueError, match="AVATAR_WEBHOOK_URLS"):
            GatewaySettings.from_env({"AVATAR_WEBHOOK_URLS": bad})


def test_the_gateway_applies_the_callers_key_url(tmp_path: Path) -> None:
    """The guard hands the caller's key digest to the handler: that key's (private) URL is
    checked as the avatar training's webhook and refused, another key's request is not."""
    other = key_hash("key-two")
    client, _ = offline_client(tmp_path, dev_mode=False, api_key_hashes=frozenset({KEY, other}),
                               webhook_urls=((KEY, "http://10.0.0.7/hook"),))
    upload = {"files": {"file": ("a.jpg", b"\xff\xd8 not really")}, "data": {"name": "A"}}
    refused = client.post("/api/v1/avatars/train", headers={"X-API-Key": "key-one"}, **upload)
    assert refused.status_code == 422
    assert "configured for this API key" in refused.json()["error"]
    assert refused.json()["detail"] == {"field": "webhook_url"}
    # no webhook for the other key: the upload is judged, and refused for what it is
    passed = client.post("/api/v1/avatars/train", headers={"X-API-Key": "key-two"}, **upload)
    assert passed.status_code == 415
