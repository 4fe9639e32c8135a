"""Is a consumer group stuck? Pure rules over observed offsets (no I/O).

A partition is *stalled* when it has lag (messages past its committed offset) and its committed
offset has not moved for ``stall_after_s`` seconds. Lag alone is not a fault (a bulk push makes
lag that the consumers work off); a committed offset standing still under lag is: a consumer
looping on a batch, a handler waiting forever, a group with no live member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PartitionId = tuple[str, str, int]  # (group, topic, partition)


def lag(committed: int | None, low: int, high: int) -> int:
    """Messages past the committed offset; ``None`` (nothing committed yet) starts at the low
    watermark, as ``auto_offset_reset=earliest`` does."""
    position = max(committed if committed is not None and committed >= 0 else low, low)
    return max(high - position, 0)


@dataclass(frozen=True)
class Stall:
    group: str
    topic: str
    partition: int
    lag: int
    stuck_for_s: float


@dataclass
class _Seen:
    committed: int
    lag: int
    moved_at: float


@dataclass
class StallDetector:
    stall_after_s: float
    _seen: dict[PartitionId, _Seen] = field(default_factory=dict)

    def observe(self, group: str, topic: str, partition: int, *, committed: int | None, low: int, high: int,
                now: float) -> int:
        """Record one observation; returns the partition's lag. ``committed`` None: nothing committed
        yet, so the group starts at the low watermark (``auto_offset_reset=earliest``)."""
        position = max(committed if committed is not None and committed >= 0 else low, low)
        behind = lag(committed, low, high)
        pid = (group, topic, partition)
        seen = self._seen.get(pid)
        if seen is None or seen.committed != position or behind == 0:
            self._seen[pid] = _Seen(position, behind, now)
        else:
            seen.lag = behind
        return behind

    def stalled(self, now: float) -> list[Stall]:
        out = []
        for (group, topic, partition), seen in sorted(self._seen.items()):
            stuck_for = now - seen.moved_at
            if seen.lag > 0 and stuck_for >= self.stall_after_s:
                out.append(Stall(group, topic, partition, seen.lag, round(stuck_for, 1)))
        return out

    def is_stalled(self, group: str, topic: str, partition: int, now: float) -> bool:
        seen = self._seen.get((group, topic, partition))
        return bool(seen and seen.lag > 0 and now - seen.moved_at >= self.stall_after_s)
