"""A multipart upload streamed to one file with a byte cap; nothing is buffered whole.

Starlette's `request.form()` spools file parts to an unbounded temporary file
(its `max_part_size` caps text fields only), so the body is fed chunk by chunk
to python-multipart's push parser here and the file part goes straight to a
path in the media store. The caller owns that path and removes it on failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request


class UploadError(ValueError):
    """The request is not an acceptable upload; `status_code` says which 4xx."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0
    filename: str | None = None
    has_file: bool = False
    complete: bool = False


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    text: bytearray = field(default_factory=bytearray)


def hide_path(message: str, path: Path, label: str) -> str:
    """`message` with the server's path of the upload (as given, or resolved) named `label`."""
    for form in sorted({str(path), str(path.resolve())}, key=len, reverse=True):
        message = message.replace(form, label)
    return message


async def receive_upload(request: Request, dest: Path, *, file_field: str = "file", max_file_bytes: int,
                         max_field_bytes: int = 4096) -> Upload:
    """Parse a multipart/form-data body; the `file_field` part is written to `dest`.

    Raises UploadError 413 as soon as the file passes max_file_bytes (before the
    rest of the body is read), 400 for a malformed body or a repeated file part.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(415, "expected multipart/form-data with a file part")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_file_bytes + 64 * 1024:
        raise UploadError(413, f"upload over {max_file_bytes} bytes")
    result = Upload()
    part = _Part()
    out: list[BinaryIO] = []

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        if bytes(part.header_field).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(part.header_value))
            part.name = options.get(b"name", b"").decode("utf-8", "replace")
            raw = options.get(b"filename")
            part.filename = None if raw is None else raw.decode("utf-8", "replace")
        part.header_field.clear()
        part.header_value.clear()

    def on_headers_finished() -> None:
        if part.name == file_field:
            if result.has_file:
                raise UploadError(400, f"more than one {file_field!r} part")
            result.has_file, result.filename = True, part.filename
            out.append(open(dest, "wb"))  # noqa: SIM115 - closed in on_part_end or below

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.name == file_field:
            result.file_bytes += end - start
            if result.file_bytes > max_file_bytes:
                raise UploadError(413, f"upload over {max_file_bytes} bytes")
            out[-1].write(data[start:end])
        else:
            part.text += data[start:end]
            if len(part.text) > max_field_bytes:
                raise UploadError(413, f"form field {part.name!r} over {max_field_bytes} bytes")

    def on_part_end() -> None:
        if part.name == file_field:
            out[-1].close()
        elif part.name:
            result.fields[part.name] = part.text.decode("utf-8", "replace")

    def on_end() -> None:
        result.complete = True

    callbacks = {"on_end": on_end, "on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
                 "on_part_end": on_part_end}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadError(400, f"malformed multipart body: {exc}") from exc
    finally:
        for handle in out:
            handle.close()
    if not result.complete:
        raise UploadError(400, "the multipart body ended early (no closing boundary)")
    return result
