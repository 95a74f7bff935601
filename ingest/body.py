"""Read a request body within the size limit, inflating gzip without ever exceeding it."""
from __future__ import annotations

import zlib

from django.http import HttpRequest

from ingest import limits

CHUNK = 64 * 1024


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _too_large(what: str) -> BodyError:
    mb = limits.MAX_BODY_BYTES / (1024 * 1024)
    return BodyError(413, "payload_too_large",
                     f"The {what} body is larger than the {mb:g} MB limit. Send fewer events per request.")


def read_body(request: HttpRequest, *, max_bytes: int | None = None) -> bytes:
    """The raw (decompressed) body. Raises BodyError(413/415/400) with a message for people."""
    max_bytes = max_bytes or limits.MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    encoding = (request.META.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise BodyError(415, "unsupported_encoding",
                        f"Content-Encoding '{encoding}' is not supported; send gzip or no encoding.")
    # A compressed body is bounded too: nobody needs to send more than the inflated limit.
    if declared > max_bytes:
        raise _too_large("request")
    raw = _read_limited(request, max_bytes)
    if encoding == "identity":
        return raw
    # A gzip file may hold several members one after another (`cat a.gz b.gz`, some streaming
    # compressors): the body is all of them, as gunzip reads it, not the first one alone.
    parts: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # max_length stops inflation at the limit, so a gzip bomb costs at most max_bytes of memory.
            out = inflater.decompress(raw, max_bytes - size + 1)
            if size + len(out) > max_bytes or inflater.unconsumed_tail:
                raise _too_large("decompressed")
            out += inflater.flush()
        except zlib.error as exc:
            raise BodyError(400, "invalid_gzip", f"The body is not valid gzip ({exc}).") from None
        size += len(out)
        if size > max_bytes:
            raise _too_large("decompressed")
        if not inflater.eof:
            raise BodyError(400, "invalid_gzip", "The gzip body is truncated.")
        parts.append(out)
        raw = inflater.unused_data
        if not raw.strip(b"\0"):  # trailing zero padding (tar, some proxies) is not another member
            return b"".join(parts)


def _read_limited(request: HttpRequest, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = request.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise _too_large("request")
        chunks.append(chunk)
