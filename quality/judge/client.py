"""The judge's HTTP client: one JSON POST to an OpenAI-compatible /chat/completions, with its own
retry policy (which statuses, Retry-After with a cap, no redirects, retries counted).

The standard library's urllib: httpx is only present as a dependency of langfuse, and the openai
SDK (a test dependency) brings pydantic and retry rules of its own (it also retries 408/409 and
waits up to two minutes on Retry-After), so neither would save code here.
"""
from __future__ import annotations

import http.client
import json
import logging
import math
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from quality.judge.prompt import BACKOFF_BASE_S, BACKOFF_MAX_S, MAX_RESPONSE_BYTES, MAX_RETRY_AFTER_S, JudgeError

log = logging.getLogger(__name__)


# --- the client -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]
    retries: int


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect would carry the key to another place: it fails as HTTP 3xx instead


_OPENER = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers: Message | None) -> float | None:
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = (headers.get(name) or "").strip()
        if not raw:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt_timezone.utc)
            seconds = (when - datetime.now(dt_timezone.utc)).total_seconds()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _read(response: Any, deadline: float, limit: int) -> bytes:
    """The body, within the attempt's deadline (urllib's timeout bounds each read, not the total)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the response took longer than timeout_s")
        chunk = response.read1(65_536)  # what has arrived: read() would wait for all 64 KB
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise JudgeError(f"the response is larger than {limit} bytes", endpoint=True)
        chunks.append(chunk)


def _post(url: str, data: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes, float | None]:
    """(status, body, Retry-After seconds). Network errors and timeouts raise OSError/HTTPException."""
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        response = _OPENER.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                body = exc.read(2_000) if exc.fp else b""
            except (OSError, http.client.HTTPException):
                body = b""
            return exc.code, body, _retry_after(exc.headers)
    with response:
        return response.status, _read(response, deadline, MAX_RESPONSE_BYTES), None


def chat_complete(*, base_url: str, api_key: str, payload: dict[str, Any], timeout_s: float,
                  max_retries: int) -> Reply:
    """POST {base_url}/chat/completions. Retries 429, 5xx, timeouts and network errors with exponential
    backoff and jitter, or after Retry-After when given (up to MAX_RETRY_AFTER_S); other answers are final."""
    url = base_url.rstrip("/") + "/chat/completions"
    data = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "observatory-judge"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    retries = 0
    while True:
        retry_after: float | None = None
        status: int | None = None
        try:
            status, body, retry_after = _post(url, data, headers, timeout_s)
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
            reason = getattr(exc, "reason", None) or exc
            problem = f"{type(exc).__name__}: {reason}"[:300]
        except JudgeError as exc:
            exc.retries = retries
            raise
        else:
            if 200 <= status < 300:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    raise JudgeError(f"the endpoint answered {status} with no JSON object: {body[:200]!r}",
                                     endpoint=True, status=status, retries=retries)
                return Reply(parsed, retries)
            problem = f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}"
            if 300 <= status < 400:
                problem = f"HTTP {status}: redirects are not followed (the key would go along)"
            if status != 429 and status < 500:
                raise JudgeError(problem, endpoint=True, status=status, retries=retries)
        if retries >= max_retries:
            tries = f" (after {retries + 1} attempts)" if retries else ""
            raise JudgeError(f"{problem}{tries}", endpoint=True, status=status, retries=retries)
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
            raise JudgeError(f"{problem} (Retry-After {retry_after:.0f} s is over {MAX_RETRY_AFTER_S:.0f} s)",
                             endpoint=True, status=status, retries=retries)
        if retry_after is None:
            retry_after = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**retries) * random.uniform(0.5, 1.0)
        time.sleep(retry_after)
        retries += 1
