"""Reading a browser upload form (multipart/form-data) as it streams in.

The fields before the file are small and read whole (together at most 20 KiB, as S3
allows); the `file` part is the object's body and is never read here: the caller streams it
(`BodyPartReader.read_chunk`). Fields after the file are not read (S3 ignores them).
aiohttp's multipart reader does the framing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from s3compat.api import errors
from s3compat.api.stalls import received

MAX_FIELD_BYTES = 20 * 1024
FILE_FIELD = "file"
_READ_BYTES = 8 * 1024


@dataclass
class Form:
    """The fields before the file, by lower-case name, and the file part itself."""

    fields: dict[str, str]
    file: BodyPartReader
    # The file's name as the browser sent it, without any folder (None if it sent none).
    filename: str | None


async def read_form(request: web.Request) -> Form:
    """The form's fields and its file part; the S3 error for a body that is not a form."""
    if request.content_type != "multipart/form-data":
        raise errors.PreconditionFailed(
            Condition="Bucket POST must be of the enclosure-type multipart/form-data"
        )
    try:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        budget = MAX_FIELD_BYTES
        while True:
            part = await received(reader.next())
            if part is None:
                raise errors.IncorrectNumberOfFilesInPostRequest()
            if not isinstance(part, BodyPartReader) or not part.name:
                raise errors.MalformedPOSTRequest()
            name = part.name.lower()
            if name == FILE_FIELD:
                return Form(fields, part, _base_name(part.filename))
            value, budget = await _field_value(part, budget - len(name))
            if name in fields:
                raise errors.InvalidArgument(
                    f"The form field {part.name} is given more than once",
                    ArgumentName=part.name,
                )
            fields[name] = value
    except (ValueError, AssertionError, RuntimeError) as error:
        # aiohttp's reader refuses a broken boundary or part header with these.
        raise errors.MalformedPOSTRequest() from error


async def _field_value(part: BodyPartReader, budget: int) -> tuple[str, int]:
    blocks = []
    while True:
        block = await received(part.read_chunk(_READ_BYTES))
        if not block:
            break
        budget -= len(block)
        if budget < 0:
            raise errors.MaxPostPreDataLengthExceeded()
        blocks.append(block)
    try:
        return b"".join(blocks).decode("utf-8"), budget
    except UnicodeDecodeError:
        raise errors.InvalidArgument(
            f"The form field {part.name} is not UTF-8", ArgumentName=part.name or ""
        ) from None


def _base_name(filename: str | None) -> str | None:
    """`C:\\dir\\file.txt` and `dir/file.txt` name `file.txt`, as S3 reads them."""
    if filename is None:
        return None
    return filename.replace("\\", "/").rsplit("/", 1)[-1]
