"""Counting attempts in PostgreSQL (``auth_throttle``), so a limit holds across gateway replicas.

An attempt is recorded and committed *before* it is judged, then the key's attempts in the window
are counted: of N attempts racing on any replicas, the one committed last sees all N, so no more
than ``limit`` are ever allowed (checking first and recording afterwards let parallel attempts all
pass). A refused attempt is forgotten at once, so a client that waits the Retry-After it was given
gets in; under an exact race two attempts may both be refused where one would have fitted — the
safe side.

    taken = await take(engine, f"rl:export:ip:{ip}", 10, 60)
    await rate_limit(request, "export", f"ip:{ip}", 10, 60)   # 429 + Retry-After past the limit
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from litestar import Request
from litestar.exceptions import TooManyRequestsException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.gateway.accounts import store

log = structlog.get_logger()


@dataclass(frozen=True)
class Taken:
    allowed: bool
    count: int               # attempts in the window, this one included
    row_id: int | None       # this attempt's row while it counts (None once refused and forgotten)
    retry_after_s: int = 0   # when refused: seconds until an attempt fits again


async def take(engine: AsyncEngine, key: str, limit: int, window_s: int) -> Taken:
    async with engine.begin() as conn:
        row_id = await store.throttle_take(conn, key)
    async with engine.begin() as conn:
        count = await store.throttle_count(conn, key, window_s)
        if count <= limit:
            return Taken(True, count, row_id)
        await store.throttle_forget(conn, row_id)
        retry = await store.throttle_retry_after(conn, key, window_s, limit)
    return Taken(False, count, None, retry)


async def forget(engine: AsyncEngine, *taken: Taken) -> None:
    """These attempts no longer count (a successful login, a check that could not run)."""
    ids = [t.row_id for t in taken if t.row_id is not None]
    if ids:
        async with engine.begin() as conn:
            await store.throttle_forget(conn, *ids)


def too_many(message: str, retry_after_s: int) -> TooManyRequestsException:
    return TooManyRequestsException(message, headers={"Retry-After": str(max(int(retry_after_s), 1))})


async def rate_limit(request: Request, action: str, who: str, limit: int, window_s: int) -> None:
    """Count this request against ``limit`` per ``window_s`` for ``who`` doing ``action``; past it, 429
    with Retry-After (nothing done)."""
    taken = await take(request.app.state.engine, f"rl:{action}:{who}", limit, window_s)
    if not taken.allowed:
        log.info("rate limited", action=action, limit=limit, window_s=window_s, retry_after_s=taken.retry_after_s)
        raise too_many(f"more than {limit} {action} requests in {window_s} s; retry later", taken.retry_after_s)


__all__ = ["Taken", "forget", "rate_limit", "take", "too_many"]
