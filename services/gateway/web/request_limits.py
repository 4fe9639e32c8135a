"""Limits on what a request body may be, checked before any handler parses it.

JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused with 400: no contract nests beyond a
handful of levels, and decoders recurse (a 1,000-deep array made them fail with a 500).
"""

from __future__ import annotations

import re

import numpy as np
from litestar import Request
from litestar.exceptions import ValidationException

MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_OPEN = np.zeros(256, dtype=np.int32)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def json_depth(body: bytes, *, per_line: bool = False) -> int:
    """Deepest bracket nesting of a JSON text (strings ignored); with ``per_line`` (NDJSON) each
    line counts on its own. Malformed text gets a depth too: the parser refuses it afterwards."""
    if not body:
        return 0
    bare = np.frombuffer(_STRING.sub(b'""', body), dtype=np.uint8)
    depth = np.cumsum(_OPEN[bare])
    if per_line:
        newline = bare == ord("\n")
        if newline.any():
            last = np.maximum.accumulate(np.where(newline, np.arange(len(bare)), -1))
            depth = depth - np.where(last >= 0, depth[np.maximum(last, 0)], 0)
    return int(depth.max(initial=0))


def _is_json(content_type: str) -> tuple[bool, bool]:
    media = content_type.split(";")[0].strip().lower()
    per_line = media.endswith(("ndjson", "jsonl", "json-seq"))
    return per_line or media.endswith("json"), per_line


async def refuse_deep_json(request: Request) -> None:
    """``before_request`` hook: the body read here is the one the handler gets (Litestar keeps it)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    is_json, per_line = _is_json(request.headers.get("content-type", ""))
    if not is_json:
        return
    depth = json_depth(await request.body(), per_line=per_line)
    if depth > MAX_JSON_DEPTH:
        raise ValidationException(f"JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")
