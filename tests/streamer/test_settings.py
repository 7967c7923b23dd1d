"""Gateway settings: keys from env or file, and when dev mode (no keys) applies."""

from __future__ import annotations

from pathlib import Path

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
