"""The one serializer: JSON via orjson, validated by pydantic on the way in."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
AVATAR_ID_PATTERN = JOB_ID_PATTERN
# A tenant is the sha256 hex digest of its API key, or `default` (dev mode, or not named).
DEFAULT_TENANT = "default"
TENANT_PATTERN = JOB_ID_PATTERN
# live: someone watches as it is made; batch: spare capacity only (processors/admission.py)
Priority = Literal["live", "batch"]
# Tab, line feed and carriage return are text; every other control character (C0, DEL, C1)
# is not: a NUL reaches TTS, logs and file names. One range, for pydantic and for JSON Schema.
_CONTROL_CHARS = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F"
PLAIN_TEXT_PATTERN = f"^[^{_CONTROL_CHARS}]*$"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")


def no_control_chars(value: str) -> str:
    """Raises ValueError naming the first control character other than tab, LF or CR."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"control character U+{ord(found.group()):04X} at index {found.start()} "
                         "is not allowed (only tab, line feed and carriage return are)")
    return value


# A string field of any record or body that comes from outside: no control characters.
PlainText = Annotated[str, AfterValidator(no_control_chars),
                      Field(json_schema_extra={"pattern": PLAIN_TEXT_PATTERN})]


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
