"""Search caches per gateway process, invalidated exactly by the index generation.

The index generation (``search_index_state.generation``, migration 0010) is bumped by a trigger
in the same transaction as every write to ``search_documents``. A result is cached under the
generation read *before* its query ran, and served only while the generation is still that
one: a result can include a newer write than its generation says (it is then dropped a little
early), never miss one its generation counts.

Freshness bound: the generation is read again when the last read *started* more than
``max_stale_s`` before the request arrived; concurrent requests share one read in flight. So a
request arriving ``max_stale_s`` or more after a write committed never gets a result computed
before that write (with ``max_stale_s = 0``, every request waits for a read that started after
it arrived: read-your-writes). The reads cost one tiny query per ``max_stale_s`` per process
under load, fewer when idle.

``ResultCache`` is an LRU bounded in bytes; the PostgreSQL reader keeps three (candidate sets,
hit documents, whole answers: see ``PostgresSearch``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from prometheus_client import Counter

LOOKUPS = Counter("carrefour_search_cache_lookups", "Search cache lookups, by cache, result and process",
                  ["cache", "result", "pid"])
GENERATION_READS = Counter("carrefour_search_cache_generation_reads", "Index generation reads, by process", ["pid"])


class IndexGeneration:
    """The index generation as last read; re-read when that read started more than ``max_stale_s``
    before a request arrived. Reads are batched: a request arriving while a read is in flight
    waits for the next one, shared by everyone who arrived meanwhile (at most one read in flight,
    one queued)."""

    def __init__(self, read: Callable[[], Awaitable[int]], max_stale_s: float):
        self._read = read
        self.max_stale_s = max_stale_s
        self.value: int | None = None
        self._read_at = float("-inf")  # when the read that gave ``value`` started
        self._inflight: asyncio.Task[int] | None = None
        self._inflight_at = float("-inf")
        self._next: asyncio.Task[int] | None = None
        self._reads = GENERATION_READS.labels(str(os.getpid()))
        self.newest: int | None = None  # the highest generation read, and when it was first read
        self.newest_at = float("-inf")

    async def current(self) -> int:
        oldest = time.monotonic() - self.max_stale_s
        if self.value is not None and self._read_at >= oldest:
            return self.value
        if self._inflight is not None and self._inflight_at >= oldest:
            return await asyncio.shield(self._inflight)
        if self._next is None:
            self._next = asyncio.ensure_future(self._chain(self._inflight))
        return await asyncio.shield(self._next)

    async def _chain(self, previous: asyncio.Task[int] | None) -> int:
        if previous is not None:
            await asyncio.wait([previous])
        me = asyncio.current_task()
        started = time.monotonic()  # not before any waiter arrived: they all arrived before this task ran
        self._inflight, self._inflight_at, self._next = me, started, None
        self._reads.inc()
        try:
            value = await self._read()
        finally:
            if self._inflight is me:
                self._inflight = None
        if started > self._read_at:
            self.value, self._read_at = value, started
        if self.newest is None or value > self.newest:
            self.newest, self.newest_at = value, time.monotonic()
        return value

    def settled(self, generation: int, settle_s: float) -> bool:
        """Is ``generation`` the newest seen, and seen at least ``settle_s`` ago? (While writes
        keep landing, a cache that a write empties is not worth filling.)"""
        return generation == self.newest and time.monotonic() - self.newest_at >= settle_s


class ResultCache:
    """LRU of ``key -> value`` for one index generation, bounded by ``max_bytes`` (a value's size
    is its length, or the ``size`` given to ``put``; one larger than ``max_bytes * max_item`` is
    not kept). ``name`` labels its lookups in the metrics."""

    def __init__(self, max_bytes: int, name: str = "answers", max_item: float = 1 / 8):
        self.max_bytes = max_bytes
        self.max_item_bytes = int(max_bytes * max_item)
        self.generation: int | None = None
        self.bytes = 0
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        pid = str(os.getpid())
        self._hit, self._miss = LOOKUPS.labels(name, "hit", pid), LOOKUPS.labels(name, "miss", pid)
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _at(self, generation: int) -> None:
        if self.generation is None or generation > self.generation:
            self._entries.clear()
            self.bytes = 0
            self.generation = generation

    def get(self, key: Hashable, generation: int):
        self._at(generation)
        entry = self._entries.get(key) if generation == self.generation else None
        if entry is None:
            self.misses += 1
            self._miss.inc()
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        self._hit.inc()
        return entry[0]

    def put(self, key: Hashable, generation: int, value, size: int | None = None) -> bool:
        """Keep ``value``; False when it was not kept: computed under an older generation (a
        write landed meanwhile), or too big."""
        self._at(generation)
        size = len(value) if size is None else size
        if generation != self.generation or size > self.max_item_bytes:
            return False
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and self._entries:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
        return True
