"""Gateway settings: keys from env or file, when dev mode (no keys) applies, stalls and health."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.auth import key_hash
from streamer.settings import GatewaySettings


def test_dev_mode_only_on_loopback_without_keys(tmp_path: Path) -> None:
    assert not GatewaySettings.from_env({}).auth_required
    public = GatewaySettings.from_env({"AVATAR_HOST": "0.0.0.0"})
    assert public.auth_required and not public.dev_mode
    assert GatewaySettings.from_env({"AVATAR_DEV_MODE": "1", "AVATAR_HOST": "0.0.0.0"}).auth_required is False


def test_keys_from_env_and_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# gateway keys\n{key_hash('from-file')}\n")
    settings = GatewaySettings.from_env({"AVATAR_API_KEYS": f"{key_hash('a').upper()}, {key_hash('b')}",
                                         "AVATAR_API_KEYS_FILE": str(keys), "AVATAR_CORS_ORIGINS": "https://x, https://y"})
    assert settings.api_key_hashes == {key_hash("a"), key_hash("b"), key_hash("from-file")}
    assert settings.auth_required and settings.cors_origins == ("https://x", "https://y")


def test_stall_time_and_the_stages_health_expects() -> None:
    default = GatewaySettings.from_env({})
    assert default.stall_s == 10.0 and default.expected_stages[0] == "chunker"
    assert "avatars" in default.expected_stages
    settings = GatewaySettings.from_env({"AVATAR_STALL_S": "2.5",
                                         "AVATAR_EXPECTED_STAGES": "tts, lipsync"})
    assert settings.stall_s == 2.5 and settings.expected_stages == ("tts", "lipsync")
    with pytest.raises(ValueError, match="unknown stages"):
        GatewaySettings.from_env({"AVATAR_EXPECTED_STAGES": "tts,painter"})


def test_failed_key_throttle_settings() -> None:
    default = GatewaySettings.from_env({})
    assert (default.auth_failures_max, default.auth_failures_window_s) == (10, 60.0)
    settings = GatewaySettings.from_env({"AVATAR_AUTH_FAILURES_MAX": "3", "AVATAR_AUTH_FAILURES_WINDOW_S": "5"})
    assert (settings.auth_failures_max, settings.auth_failures_window_s) == (3, 5.0)
