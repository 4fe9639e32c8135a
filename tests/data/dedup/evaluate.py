"""Evaluation of deduplication on the labelled set: pairwise precision/recall/F1, cluster purity.

    .venv/bin/python -m tests.data.dedup.evaluate          # through the real DedupStore (embedded PostgreSQL)
    .venv/bin/python -m tests.data.dedup.evaluate --pairs  # scores only: the misclassified pairs, explained

``tests/integration/test_dedup_evaluation.py`` asserts the targets (F1 ≥ 0.95, precision ≥ 0.97).
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from libs.contracts.events import (
    Contact,
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)

HERE = Path(__file__).parent


def load(path: Path = HERE / "records.jsonl") -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_event(r: dict) -> ProjectGeocoded:
    contact = None
    if r["email"] or r["phone"] or r["website"]:
        contact = Contact(email=r["email"], phone=r["phone"], website=r["website"])
    project = NormalizedProject(
        source=r["source"], source_record_id=r["source_record_id"], url=r["url"], title=r["title"],
        description=r["description"], summary=r["description"][:200], holder_name=r["holder_name"], contact=contact,
        commune=r["commune_name"], postcode=r["postcode"], content_hash=f"{r['source_record_id']}|{r['title']}",
    )
    location = Location(commune_code=r["commune_code"], commune_name=r["commune_name"], postcode=r["postcode"],
                        departement_code=r["departement_code"], lat=r["lat"], lon=r["lon"], precision=r["precision"])
    return ProjectGeocoded(op=Operation.UPSERT, source=r["source"], source_record_id=r["source_record_id"],
                           project=project, location=location)


def _pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for members in groups.values() for p in itertools.combinations(members, 2)}


def metrics(truth: dict[str, str], predicted: dict[str, str]) -> dict[str, float]:
    """``truth`` and ``predicted``: record key -> cluster label."""
    by_true, by_pred = defaultdict(list), defaultdict(list)
    for k, c in truth.items():
        by_true[c].append(k)
    for k, c in predicted.items():
        by_pred[c].append(k)
    t, p = _pairs(by_true), _pairs(by_pred)
    tp = len(t & p)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    purity = sum(Counter(truth[k] for k in members).most_common(1)[0][1] for members in by_pred.values()) / len(truth)
    return dict(records=len(truth), true_clusters=len(by_true), predicted_clusters=len(by_pred), true_pairs=len(t),
                predicted_pairs=len(p), precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4),
                purity=round(purity, 4), false_merges=len(p - t), missed=len(t - p))


async def run_store(engine) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Feed the labelled set through the real store, one event at a time, and measure."""
    from services.indexer.adapters.db import DedupStore

    store = DedupStore(engine)
    rows = load()
    for r in rows:
        await store.apply(to_event(r))
    predicted = await store.clusters()
    truth = {f"{r['source']}:{r['source_record_id']}": r["cluster"] for r in rows}
    return metrics(truth, predicted), truth, predicted


def explain_pairs() -> None:
    from services.indexer.dedup import block_keys, features, score

    rows = load()
    feats = {}
    for r in rows:
        e = to_event(r)
        feats[e.key] = (features(e.project, e.location), r["cluster"], r["title"])
    blocks = defaultdict(list)
    for k, (f, _, _) in feats.items():
        for b in block_keys(f):
            blocks[b].append(k)
    seen, wrong = set(), 0
    for members in blocks.values():
        for a, b in itertools.combinations(sorted(members), 2):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            s = score(feats[a][0], feats[b][0])
            same = feats[a][1] == feats[b][1]
            if s.matched != same:
                wrong += 1
                print("FALSE MERGE" if s.matched else "MISSED", feats[a][2], "|", feats[b][2],
                      json.dumps(s.explain()["comparisons"], ensure_ascii=False), round(s.weight, 2), s.rule)
    truth_pairs = _pairs({c: [k for k, v in feats.items() if v[1] == c] for c in {v[1] for v in feats.values()}})
    print(f"{len(seen)} candidate pairs, {wrong} misclassified; true pairs never blocked together:",
          len(truth_pairs - seen))


def _main() -> None:
    import asyncio
    import os
    import tempfile

    from sqlalchemy.ext.asyncio import create_async_engine

    from tools.devstack import Stack, free_port

    async def run(url: str) -> dict:
        engine = create_async_engine(url)
        try:
            return (await run_store(engine))[0]
        finally:
            await engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        stack = Stack(run_dir=Path(tmp), kafka_port=free_port(), pg_port=free_port())
        stack.start_infra()
        try:
            result = asyncio.run(run(stack.postgres.create_database("dedup_eval")))
        finally:
            stack.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if "--pairs" in sys.argv:
        explain_pairs()
    else:
        _main()
