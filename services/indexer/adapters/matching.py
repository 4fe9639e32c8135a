"""Scoring a batch's records against their candidates, in two steps: ``prescore`` before any lock
(the costly part: candidates read, features from the cache, pairs scored), ``match`` under the
blocking-key locks once the records are stored (the candidates read again; only a pair whose
record changed or appeared meanwhile is scored again). Same pairs and scores as scoring once
under a lock."""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.contracts.events import ProjectGeocoded
from services.indexer.adapters.candidates import (
    FeatureCache,
    Phases,
    block_cap,
    candidate_pairs,
    load_features,
    raw,
)
from services.indexer.dedup import Features, block_keys
from services.indexer.dedup.scoring import Score, score_if_kept

MAX_CANDIDATES = 2000


async def prescore(conn: AsyncConnection, cache: FeatureCache, cap: int,
                   upserts: list[tuple[ProjectGeocoded, Features]], now: datetime, phases: Phases | None = None,
                   commune_cap: int | None = None
                   ) -> tuple[dict[tuple[str, str], tuple[datetime, datetime, Score | None]], dict[str, int]]:
    """Score the records against the candidates stored now and against each other, before any
    lock (the costly part, done while another consumer writes). Each score is kept with the
    two records' stamps: ``match`` reuses it only if neither changed meanwhile (None: a pair
    neither matched nor kept, see ``score_if_kept``). Also returns the sizes of the records' blocks."""
    mine = {e.key: f for e, f in upserts}
    wanted = {k: block_keys(f) for k, f in mine.items()}
    phases = phases or Phases()
    pairs, stamps, sizes = await candidate_pairs(conn, wanted, cap, with_sizes=True, commune_cap=commune_cap)
    phases.lap("read candidates")
    by_block: dict[str, list[str]] = {}
    for k, blocks in wanted.items():
        for b in blocks:
            by_block.setdefault(b, []).append(k)
    for b, recs in by_block.items():
        # batch-mates in a block that stays selective with them (``match`` reads the same): a
        # common word shared by a tenth of the batch pairs nothing
        limit = block_cap(b, cap, cap if commune_cap is None else commune_cap)
        if len(recs) > 1 and sizes.get(b, 0) + len(recs) <= limit:
            for k in recs:
                pairs[k].update(r for r in recs if r != k)
    stamps = {r: s for r, s in stamps.items() if r not in mine}
    feats = {**await load_features(conn, cache, stamps, phases), **mine}
    phases.counts["records"] += len(mine)
    phases.counts["candidates"] += len(stamps)
    phases.lap("candidate features")
    stamps.update(dict.fromkeys(mine, now))
    out: dict[tuple[str, str], tuple[datetime, datetime, Score | None]] = {}
    for key, others in pairs.items():
        known = [r for r in others if r in feats]
        for other in (sorted(known)[:MAX_CANDIDATES] if len(known) > MAX_CANDIDATES else known):
            a, b = (key, other) if key <= other else (other, key)  # the pair in order
            if (a, b) not in out:
                out[a, b] = (stamps[a], stamps[b], score_if_kept(feats[a], feats[b]))
    phases.lap("score")
    phases.counts["pairs scored"] += len(out)
    return out, sizes

async def match(conn: AsyncConnection, cache: FeatureCache, cap: int, upserts: list[tuple[ProjectGeocoded, Features]],
                now: datetime, pending: dict[str, int],
                scored: dict[tuple[str, str], tuple[datetime, datetime, Score | None]],
                phases: Phases | None = None, commune_cap: int | None = None) -> set[str]:
    """Score the records against their candidates (reusing ``scored`` where both records are
    unchanged); store the pairs worth keeping; return the records they match."""
    mine = {e.key: f for e, f in upserts}
    for k, f in mine.items():
        cache.put(k, now, f)  # our own rows carry last_seen = now (nothing if rolled back)
    phases = phases or Phases()
    pairs, stamps = await candidate_pairs(conn, {k: block_keys(f) for k, f in mine.items()}, cap, pending,
                                          commune_cap=commune_cap)
    phases.lap("read candidates again")
    stamps.update(dict.fromkeys(mine, now))
    plan, todo = [], set()
    seen: set[tuple[str, str]] = set()
    for key in mine:
        others = pairs[key]
        for other in (sorted(others)[:MAX_CANDIDATES] if len(others) > MAX_CANDIDATES else others):
            pair = (key, other) if key <= other else (other, key)  # the pair in order
            if pair in seen:
                continue
            seen.add(pair)
            plan.append(pair)
            hit = scored.get(pair)
            if hit is None or hit[0] != stamps[pair[0]] or hit[1] != stamps[pair[1]]:
                todo.update(pair)
    feats = dict(mine)
    if todo - set(mine):
        feats.update(await load_features(conn, cache, {r: stamps[r] for r in todo - set(mine)}))
    rows, matched = [], set()
    for a, b in plan:
        hit = scored.get((a, b))
        if hit is not None and hit[0] == stamps[a] and hit[1] == stamps[b]:
            s = hit[2]
        elif a in feats and b in feats:
            s = score_if_kept(feats[a], feats[b])
        else:
            continue  # deleted meanwhile
        if s is None:
            continue  # neither matched nor worth keeping
        if s.matched:
            matched.update((a, b))
        rows.append((a, b, s.weight, s.probability, s.matched, s.rule, orjson.dumps(s.explain()).decode()))
    phases.lap("score again")
    if rows:
        cols = list(zip(*rows))
        await (await raw(conn)).execute(
            """
            INSERT INTO dedup_matches (record_a, record_b, weight, probability, matched, rule, explanation, scored_at)
            SELECT a, b, w, p, m, r, e::jsonb, $8
            FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::bool[], $6::text[], $7::text[])
                 AS t(a, b, w, p, m, r, e)
            ON CONFLICT (record_a, record_b) DO UPDATE SET weight=EXCLUDED.weight, probability=EXCLUDED.probability,
                matched=EXCLUDED.matched, rule=EXCLUDED.rule, explanation=EXCLUDED.explanation,
                scored_at=EXCLUDED.scored_at
            """, *(list(c) for c in cols), now)
    phases.lap("write matches")
    return matched
