"""Who owns each trained avatar and cloned voice, kept in the media store beside them.

Jobs carry their tenant in every status event, but an avatar outlives its training job (the
job may be deleted, the status topic compacted) and a cloned voice lives at ElevenLabs; so
their owner is a small file, `owners/<kind>/<id>`, written when the gateway accepts the
upload. No file means shared: the built-in sample and avatars made offline by the CLI.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

AVATARS, VOICES = "avatars", "voices"


class Owners:
    def __init__(self, root: Path) -> None:
        self.root = root / "owners"

    def _path(self, kind: str, ident: str) -> Path:
        # ids are checked where they come in, but a voice id has a colon: name files by digest
        return self.root / kind / hashlib.sha256(ident.encode()).hexdigest()

    def set(self, kind: str, ident: str, tenant: str) -> None:
        path = self._path(kind, ident)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_text(tenant, encoding="utf-8")
        os.replace(part, path)

    def get(self, kind: str, ident: str) -> str | None:
        """The owner's tenant, or None for a shared one."""
        try:
            return self._path(kind, ident).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def forget(self, kind: str, ident: str) -> None:
        self._path(kind, ident).unlink(missing_ok=True)
