"""Reading request bodies from the open internet without trusting them.

Limits are enforced while reading, before anything is buffered past them: a declared
Content-Length over the limit is refused at once, a body that grows past it is cut
off, and gzip is inflated incrementally with a cap, so a compression bomb costs us at
most the limit in memory and a few milliseconds.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from variance.api.errors import InvalidInput, PayloadTooLarge

# Compressed bodies are at most this much bigger than the plain limit (gzip overhead
# on incompressible data is tiny); anything beyond is not a real client.
_COMPRESSED_SLACK = 1024


def _kb(limit: int) -> str:
    return f"{limit // 1024} KB"


async def read_limited(
    chunks: AsyncIterator[bytes], content_length: str | None, content_encoding: str | None, limit: int, what: str
) -> bytes:
    """The decoded body, or PayloadTooLarge / InvalidInput naming the limit or problem."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise InvalidInput("Content-Encoding", "must be gzip, deflate or absent")
    raw_limit = limit + _COMPRESSED_SLACK if encoding != "identity" else limit
    too_large = PayloadTooLarge(
        f"{what} exceeds {_kb(limit)}: Segment's limit is {_kb(limit)} per {what}",
        field="body",
        rule=f"at most {_kb(limit)}",
    )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise InvalidInput("Content-Length", "must be an integer") from None
        if declared > raw_limit:
            raise too_large
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        if len(received) > raw_limit:
            raise too_large
    if encoding == "identity":
        return bytes(received)
    return _inflate(bytes(received), encoding, limit, too_large)


def _inflate(data: bytes, encoding: str, limit: int, too_large: PayloadTooLarge) -> bytes:
    # wbits 16+15 reads gzip; 32+15 auto-detects zlib or gzip for "deflate" senders.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else 32 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput("body", f"is not valid {encoding} data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large
    if not inflater.eof:
        raise InvalidInput("body", f"is truncated {encoding} data")
    return out
