"""The one serializer: JSON via orjson, validated by pydantic on the way in."""

from __future__ import annotations

from typing import Any, Self

import orjson
from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
AVATAR_ID_PATTERN = JOB_ID_PATTERN


class Message(BaseModel):
    """Base of every record: versioned, strict about unknown fields, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Raises pydantic.ValidationError (a ValueError) or orjson.JSONDecodeError."""
        return cls.model_validate(orjson.loads(data))

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Metadata for a binary record: the payload is the value, this travels in headers."""
        return [("meta", self.to_json()), ("type", type(self).__name__.encode())]

    @classmethod
    def from_headers(cls, headers: Any) -> Self:
        items = headers.items() if hasattr(headers, "items") else headers
        for key, value in items or ():
            if key == "meta":
                return cls.from_json(bytes(value))
        raise ValueError(f"record has no 'meta' header for {cls.__name__}")
