"""Fair ranking across partners: no source dominates the first page of broad searches.

    .venv/bin/python -m benchmarks.bench_fairness               # 10,000 projects
    BENCH_PROJECTS=3000 .venv/bin/python -m benchmarks.bench_fairness

Starts an embedded PostgreSQL, writes BENCH_PROJECTS generated projects (``bench_search.projects``)
whose partners are as unequal as the real ones — three large partners publish 40 %, 25 % and 15 %
of the projects, five small ones the rest, one project in seven comes from two partners — and
asks the gateway's reader (caches on, as deployed) the 50 most frequent broad searches: no
words, one theme, one région, one département, the ones with the most matching projects first.

For each it prints the source with the largest share of the first 20 hits, that share, and the
same source's share of all the matching projects (a project counts for every partner that
publishes it); the difference must stay within 10 points. Then it asks the same searches "on
another day": the first page must change (the daily shuffle) while relevance does not (for
searches with words, the hits' relevance steps, page 1, are the same sequence on both days).
Exits non-zero when a check fails.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter

from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.bench_search import KEYWORDS, projects
from benchmarks.rundir import run_directory
from libs.contracts.events import SourceRef
from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.relevance import relevance_bucket
from services.gateway.search.rules import parse_search
from services.indexer.adapters.search import PostgresIndexWriter
from tools.devstack import Postgres, free_port

PARTNERS = [("avise", 0.40), ("la-fonda", 0.25), ("unccas", 0.15), ("cerdd", 0.06), ("fej", 0.05),
            ("social-planet", 0.04), ("esspace", 0.03), ("odas-apriles", 0.02)]
TOP = 20
MAX_GAP_POINTS = 10.0
DAYS = ("2026-12-07", "2026-12-08")


def unequal_partners(items, seed: int = 5):
    """The projects with partners drawn by PARTNERS' weights (one in seven has a second one)."""
    rng = random.Random(seed)
    names, weights = zip(*PARTNERS)
    out = []
    for p in items:
        first = rng.choices(names, weights=weights)[0]
        chosen = [first] + ([rng.choice([n for n in names if n != first])] if rng.random() < 1 / 7 else [])
        sources = [SourceRef(partner=s, record_id=f"{s}-{p.id}", url=f"https://{s}.example.org/{p.id}",
                             last_seen=p.first_seen) for s in chosen]
        out.append(p.model_copy(update={"sources": sources}))
    return out


def shares(hits) -> Counter:
    counts = Counter(s for h in hits for s in set(h["source"]))
    return Counter({s: 100 * n / max(len(hits), 1) for s, n in counts.items()})


async def broad_queries(reader) -> list[tuple[str, dict]]:
    """The 50 broad searches with the most matching projects: none, one theme / région / département."""
    facets = (await reader.search(parse_search(per_page=1)))["facets"]
    candidates = [(n, "theme", v) for v, n in facets["theme"].items()]
    candidates += [(n, "region", v) for v, n in facets["region"].items()]
    candidates += [(n, "departement", v) for v, n in facets["departement"].items()]
    candidates.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [("(aucun mot)", {})] + [(f"{facet}={value}", {facet: [value]}) for _, facet, value in candidates[:49]]


async def main() -> int:
    n = int(os.environ.get("BENCH_PROJECTS", "10000"))
    run_dir = run_directory("bench-fairness-")
    postgres = Postgres(run_dir / "pgdata", free_port())
    await asyncio.to_thread(postgres.start)
    failures = []
    try:
        engine = create_async_engine(postgres.create_database("fairness"))
        writer = PostgresIndexWriter(engine)
        docs = unequal_partners(projects(n, seed=11))
        t = time.perf_counter()
        for i in range(0, n, 1000):
            await writer.upsert_many([(p, 1) for p in docs[i:i + 1000]])
        print(f"{n} projects written in {time.perf_counter() - t:.1f} s; partners: "
              + ", ".join(f"{s} {100 * w:.0f} %" for s, w in PARTNERS))
        reader = PostgresSearch(engine, cache_mb=64)
        queries = await broad_queries(reader)
        print(f"\n{'search':<24} {'matches':>8}  {'largest share of the first 20':<34} {'its share of all':>16} "
              f"{'gap':>6}  {'worst gap':>9}")
        worst_overall, changed = 0.0, 0
        for label, filters in queries:
            first = await reader.search(parse_search(filters=filters, per_page=TOP, day=DAYS[0]))
            everything = await reader.search(parse_search(filters=filters, per_page=100, day=DAYS[0]))
            total = everything["total"]
            overall = Counter({s: 100 * c / total for s, c in everything["facets"]["source"].items()})
            top = shares(first["hits"])
            source, share = max(top.items(), key=lambda kv: (kv[1], kv[0]))
            gap = share - overall[source]
            worst = max(abs(top[s] - overall[s]) for s in set(top) | set(overall))
            worst_overall = max(worst_overall, worst)
            if worst > MAX_GAP_POINTS:
                failures.append(f"{label}: {source} {share:.0f} % of the first {TOP} against {overall[source]:.0f} %")
            other_day = await reader.search(parse_search(filters=filters, per_page=TOP, day=DAYS[1]))
            changed += [h["id"] for h in other_day["hits"]] != [h["id"] for h in first["hits"]]
            print(f"{label:<24} {total:>8}  {source:<14} {share:>5.1f} %{'':<12} {overall[source]:>14.1f} % "
                  f"{gap:>+5.1f}  {worst:>8.1f}")
        print(f"\nlargest gap between a source's share of the first {TOP} hits and its share of all matches, "
              f"any source, any search: {worst_overall:.1f} points (limit {MAX_GAP_POINTS:.0f})")
        if changed != len(queries):
            failures.append(f"the first page changed from {DAYS[0]} to {DAYS[1]} for {changed}/{len(queries)} searches")
        print(f"first page changed from {DAYS[0]} to {DAYS[1]}: {changed}/{len(queries)} broad searches")

        # relevance does not move with the day: page 1's relevance steps are the same sequence
        same, moved = 0, 0
        for q in KEYWORDS:
            steps, orders = [], []
            for day in DAYS:
                query = parse_search(q=q, per_page=TOP, day=day)
                plan = await reader._plan(None, query)
                found = await reader._in_memory(query, plan, await reader._current_generation())
                answer = found.answer(query, 200)
                steps.append([relevance_bucket(found.rank[i]) for i in answer.page])
                orders.append([found.ids[i] for i in answer.page])
            same += steps[0] == steps[1]
            moved += orders[0] != orders[1]
        print(f"searches with words ({len(KEYWORDS)}): relevance steps of page 1 identical on both days for "
              f"{same}/{len(KEYWORDS)}, hits reshuffled among equals for {moved}/{len(KEYWORDS)}")
        if same != len(KEYWORDS):
            failures.append(f"relevance of page 1 changed with the day for {len(KEYWORDS) - same} searches")
        await engine.dispose()
    finally:
        await asyncio.to_thread(postgres.stop)
    if failures:
        print("FAILED: " + " | ".join(failures))
        return 1
    print("fairness: OK")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
