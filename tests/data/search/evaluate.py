"""Search relevance on the generated corpus: recall@10 and zero-result answers, per split.

    .venv/bin/python -m tests.data.search.evaluate              # both splits, PostgreSQL backend
    .venv/bin/python -m tests.data.search.evaluate --failures   # dev split only: the misses, explained

Starts an embedded PostgreSQL, migrates a fresh database, writes ``corpus.jsonl`` through the
index writer and runs every query of ``dev.jsonl`` and ``test.jsonl`` through the gateway's reader
(``PostgresSearch`` with its caches on: the in-memory path, checked equal to the SQL one). A query
is found when one of its expected projects is in the first 10 hits; a zero-result answer is a
query answered with nothing (every query has a relevant project). Failures are only ever
printed for the dev split: the test split gives figures, never cases.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).parent
SPLITS = {"dev": HERE / "dev.jsonl", "test": HERE / "test.jsonl"}
RECALL_AT = 10


def queries(split: str) -> list[dict]:
    return [json.loads(line) for line in SPLITS[split].read_text(encoding="utf-8").splitlines() if line.strip()]


async def load_corpus(engine) -> int:
    from services.indexer.adapters.search import PostgresIndexWriter
    from tests.data.search.corpus import load, to_project

    rows = load()
    writer = PostgresIndexWriter(engine)
    for i in range(0, len(rows), 500):
        await writer.upsert_many([(to_project(r), 1) for r in rows[i:i + 500]])
    return len(rows)


async def evaluate(reader, split: str, day: str = "2026-12-07") -> dict:
    """{n, found, recall, zero, mrr, by_variation: {variation: (found, n)}, misses: [...]}."""
    from services.gateway.search.rules import parse_search

    items = queries(split)
    found = zero = 0
    reciprocal = 0.0
    by_variation: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for item in items:
        result = await reader.search(parse_search(q=item["q"], per_page=RECALL_AT, day=day))
        ids = [h["id"] for h in result["hits"]]
        expected = set(item["expected"])
        rank = next((i for i, pid in enumerate(ids) if pid in expected), None)
        by_variation[item["variation"]][1] += 1
        if rank is not None:
            found += 1
            reciprocal += 1 / (rank + 1)
            by_variation[item["variation"]][0] += 1
        else:
            misses.append({**item, "got": ids[:5], "total": result["total"], "ignored": result.get("ignored")})
        if result["total"] == 0:
            zero += 1
    n = len(items)
    return {"n": n, "found": found, "recall": found / n, "zero": zero, "mrr": reciprocal / n,
            "by_variation": {k: tuple(v) for k, v in sorted(by_variation.items())}, "misses": misses}


def report(split: str, r: dict, elapsed: float) -> str:
    lines = [f"{split}: recall@{RECALL_AT} {100 * r['recall']:.1f} % ({r['found']}/{r['n']}), zero-result answers "
             f"{r['zero']}, MRR {r['mrr']:.3f}, {1000 * elapsed / max(r['n'], 1):.1f} ms a query"]
    lines += [f"    {v:<14} {f}/{n}" for v, (f, n) in r["by_variation"].items()]
    return "\n".join(lines)


async def main() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.gateway.search.postgres import PostgresSearch
    from tools.devstack import Postgres, free_port

    show_failures = "--failures" in sys.argv
    run_dir = Path(tempfile.mkdtemp(prefix="search-eval-"))
    run_dir.chmod(0o755)
    postgres = Postgres(run_dir / "pgdata", free_port())
    await asyncio.to_thread(postgres.start)
    try:
        engine = create_async_engine(postgres.create_database("relevance"))
        n = await load_corpus(engine)
        reader = PostgresSearch(engine, cache_mb=64)
        print(f"corpus: {n} projects; queries as visitors type them (tests/data/search/build_set.py)")
        for split in ("dev", "test"):
            t = time.perf_counter()
            r = await evaluate(reader, split)
            print(report(split, r, time.perf_counter() - t))
            if show_failures and split == "dev":
                kinds = Counter(m["variation"] for m in r["misses"])
                print(f"  dev misses by variation: {dict(kinds)}")
                for m in r["misses"]:
                    print(f"  - [{m['variation']}] {m['q']!r} expected {m['expected'][:4]} got {m['got']} "
                          f"(total {m['total']}, ignored {m['ignored']})")
        await engine.dispose()
    finally:
        await asyncio.to_thread(postgres.stop)


if __name__ == "__main__":
    asyncio.run(main())
