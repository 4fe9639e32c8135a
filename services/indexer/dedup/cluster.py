"""Constrained clustering of a neighbourhood of records, and stable canonical ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from libs.contracts.search import fold


@dataclass(frozen=True)
class Edge:
    a: str
    b: str
    weight: float


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def cluster(
    nodes: dict[str, tuple[str, str]],
    edges: Iterable[Edge],
    same: Iterable[tuple[str, str]] = (),
    not_same: Iterable[tuple[str, str]] = (),
) -> list[list[str]]:
    """Greedy constrained single linkage: operator "same" pairs first, then matched edges by
    decreasing weight; two groups join unless an operator said "not same" for a pair across them
    or they hold two records of one source with different URLs (a partner does not publish one
    project twice). ``nodes``: record key -> (source, url). Deterministic."""
    parent = {k: k for k in nodes}
    members = {k: {k} for k in nodes}
    sources = {k: {nodes[k][0]: {nodes[k][1]}} for k in nodes}
    forbidden = {_pair(a, b) for a, b in not_same if a in nodes and b in nodes}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def allowed(x: str, y: str, forced: bool) -> bool:
        if any(_pair(a, b) in forbidden for a in members[x] for b in members[y]) if forbidden else False:
            return False
        if forced:
            return True
        for src, urls in sources[x].items():
            other = sources[y].get(src)
            if other and (urls | other) != (urls & other):
                return False
        return True

    def union(a: str, b: str, forced: bool) -> None:
        x, y = find(a), find(b)
        if x == y or not allowed(x, y, forced):
            return
        if x > y:
            x, y = y, x
        parent[y] = x
        members[x] |= members.pop(y)
        for src, urls in sources.pop(y).items():
            sources[x].setdefault(src, set()).update(urls)

    for a, b in sorted(_pair(a, b) for a, b in same):
        if a in nodes and b in nodes:
            union(a, b, forced=True)
    for e in sorted(edges, key=lambda e: (-e.weight, *_pair(e.a, e.b))):
        if e.a in nodes and e.b in nodes:
            union(e.a, e.b, forced=False)
    return sorted(sorted(m) for m in members.values())


def assign_ids(
    components: list[list[str]],
    old: dict[str, set[str]],
    trigger: str | Iterable[str] | None = None,
    preference: dict[str, tuple] | None = None,
) -> dict[int, str]:
    """Give each new component the id of the old cluster it keeps most of, each old id once.

    The records that triggered the change count last: when a record joins or leaves, the project
    it joins or leaves keeps its id (its URL on the gateway never changes). Ties go to the older
    cluster (``preference``: cid -> sort key, smaller first). Components left without an id get
    none here (the caller makes a new one); old ids left unused are deleted by the caller."""
    preference = preference or {}
    triggers = {trigger} if isinstance(trigger, str) else set(trigger or ())
    options = []
    for i, comp in enumerate(components):
        members = set(comp)
        for cid, olds in old.items():
            both = members & olds
            if both:
                others = len(both - triggers)
                options.append((-others, -len(both), preference.get(cid, ()), cid, i))
    result: dict[int, str] = {}
    used: set[str] = set()
    for *_, cid, i in sorted(options):
        if i not in result and cid not in used:
            result[i] = cid
            used.add(cid)
    return result


def new_canonical_id(title: str, seed: str, attempt: int = 0) -> str:
    """Readable, and fixed once given: derived from the founding record, never from a dedup key."""
    slug = "-".join(fold(title).split())[:60].strip("-") or "projet"
    digest = hashlib.sha1((seed if not attempt else f"{seed}#{attempt}").encode()).hexdigest()[:8]
    return f"{slug}-{digest}"
