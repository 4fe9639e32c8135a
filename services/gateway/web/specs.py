"""The platform's API descriptions beside each other: the HTTP API's OpenAPI document is Litestar's
(``/schema``); the topics' AsyncAPI document (``libs/contracts/asyncapi.json``, generated from the
services' brokers by ``carrefour asyncapi`` and checked current by a test) is served as it is."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from litestar import Response, get
from litestar.datastructures import CacheControlHeader

import libs.contracts

ASYNCAPI = Path(libs.contracts.__file__).parent / "asyncapi.json"


@lru_cache(maxsize=1)
def _document() -> bytes:
    return ASYNCAPI.read_bytes()


@get("/schema/asyncapi.json", cache_control=CacheControlHeader(max_age=3600, public=True),
     summary="AsyncAPI 3.0 description of the platform's Kafka topics and their event schemas")
async def asyncapi() -> Response:
    return Response(_document(), media_type="application/json")


routes = [asyncapi]
