"""Scoring a batch's records against their candidates, in two steps: ``prescore`` before any lock
(the costly part: candidates read, features from the cache, pairs scored), ``match`` under the
blocking-key locks once the records are stored (the candidates read again; only a pair whose
record changed or appeared meanwhile is scored again). Same pairs and scores as scoring once
under a lock."""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.events import ProjectGeocoded
from services.indexer.adapters.candidates import (
    FeatureCache,
    candidate_pairs,
    load_features,
)
from services.indexer.dedup import Features, block_keys, score
from services.indexer.dedup.scoring import KEEP_WEIGHT, Score

MAX_CANDIDATES = 2000


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


async def prescore(conn: AsyncConnection, cache: FeatureCache, cap: int,
                   upserts: list[tuple[ProjectGeocoded, Features]], now: datetime
                   ) -> tuple[dict[tuple[str, str], tuple[datetime, datetime, Score]], dict[str, int]]:
    """Score the records against the candidates stored now and against each other, before any
    lock (the costly part, done while another consumer writes). Each score is kept with the
    two records' stamps: ``match`` reuses it only if neither changed meanwhile. Also returns the
    sizes of the records' blocks."""
    mine = {e.key: f for e, f in upserts}
    wanted = {k: block_keys(f) for k, f in mine.items()}
    pairs, stamps, sizes = await candidate_pairs(conn, wanted, cap, with_sizes=True)
    by_block: dict[str, list[str]] = {}
    for k, blocks in wanted.items():
        for b in blocks:
            by_block.setdefault(b, []).append(k)
    for recs in by_block.values():
        for k in recs:
            pairs[k].update(r for r in recs if r != k)
    stamps = {r: s for r, s in stamps.items() if r not in mine}
    feats = {**await load_features(conn, cache, stamps), **mine}
    stamps.update(dict.fromkeys(mine, now))
    out: dict[tuple[str, str], tuple[datetime, datetime, Score]] = {}
    for key, others in pairs.items():
        for other in sorted(r for r in others if r in feats)[:MAX_CANDIDATES]:
            a, b = _pair(key, other)
            if (a, b) not in out:
                out[a, b] = (stamps[a], stamps[b], score(feats[a], feats[b]))
    return out, sizes

async def match(conn: AsyncConnection, cache: FeatureCache, cap: int, upserts: list[tuple[ProjectGeocoded, Features]],
                now: datetime, pending: dict[str, int],
                scored: dict[tuple[str, str], tuple[datetime, datetime, Score]]) -> set[str]:
    """Score the records against their candidates (reusing ``scored`` where both records are
    unchanged); store the pairs worth keeping; return the records they match."""
    mine = {e.key: f for e, f in upserts}
    for k, f in mine.items():
        cache.put(k, now, f)  # our own rows carry last_seen = now (nothing if rolled back)
    pairs, stamps = await candidate_pairs(conn, {k: block_keys(f) for k, f in mine.items()}, cap, pending)
    stamps.update(dict.fromkeys(mine, now))
    plan, todo = [], set()
    seen: set[tuple[str, str]] = set()
    for key in mine:
        for other in sorted(pairs[key])[:MAX_CANDIDATES]:
            a, b = _pair(key, other)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            plan.append((a, b))
            hit = scored.get((a, b))
            if hit is None or hit[0] != stamps[a] or hit[1] != stamps[b]:
                todo.update((a, b))
    feats = dict(mine)
    if todo - set(mine):
        feats.update(await load_features(conn, cache, {r: stamps[r] for r in todo - set(mine)}))
    rows, matched = [], set()
    for a, b in plan:
        hit = scored.get((a, b))
        if hit is not None and hit[0] == stamps[a] and hit[1] == stamps[b]:
            s = hit[2]
        elif a in feats and b in feats:
            s = score(feats[a], feats[b])
        else:
            continue  # deleted meanwhile
        if s.matched:
            matched.update((a, b))
        if s.matched or s.weight >= KEEP_WEIGHT:
            rows.append((a, b, s.weight, s.probability, s.matched, s.rule, orjson.dumps(s.explain()).decode()))
    if rows:
        cols = list(zip(*rows))
        await conn.execute(text(
            """
            INSERT INTO dedup_matches (record_a, record_b, weight, probability, matched, rule, explanation, scored_at)
            SELECT a, b, w, p, m, r, CAST(e AS jsonb), :now
            FROM unnest(CAST(:a AS text[]), CAST(:b AS text[]), CAST(:w AS float8[]), CAST(:p AS float8[]),
                        CAST(:m AS bool[]), CAST(:r AS text[]), CAST(:e AS text[])) AS t(a, b, w, p, m, r, e)
            ON CONFLICT (record_a, record_b) DO UPDATE SET weight=EXCLUDED.weight, probability=EXCLUDED.probability,
                matched=EXCLUDED.matched, rule=EXCLUDED.rule, explanation=EXCLUDED.explanation,
                scored_at=EXCLUDED.scored_at
            """), dict(a=list(cols[0]), b=list(cols[1]), w=list(cols[2]), p=list(cols[3]), m=list(cols[4]),
                       r=list(cols[5]), e=list(cols[6]), now=now))
    return matched
