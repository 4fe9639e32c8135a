"""Evaluation of deduplication: pairwise precision/recall/F1, cluster purity, near misses merged.

    .venv/bin/python -m tests.data.dedup.evaluate          # dev, frozen test and labelled set, through the
                                                          # real DedupStore (embedded PostgreSQL)
    .venv/bin/python -m tests.data.dedup.evaluate --pure   # the same in memory (blocking, scoring, clustering)
    .venv/bin/python -m tests.data.dedup.evaluate --pairs  # dev split only: the misclassified pairs, explained

The splits come from ``tests/data/dedup/corpus.py`` (``dev.jsonl`` is generated when missing;
``test.jsonl`` is frozen and committed). Errors are only ever printed for the dev split and the
labelled set: the test split gives figures, never cases.
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
SETS = {"dev": HERE / "dev.jsonl", "test": HERE / "test.jsonl", "labelled": HERE / "records.jsonl"}


def load(path: Path = HERE / "records.jsonl") -> list[dict]:
    if path == SETS["dev"] and not path.exists():
        from tests.data.dedup.corpus import write

        write("dev")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_event(r: dict) -> ProjectGeocoded:
    contact = None
    if r["email"] or r["phone"] or r["website"]:
        contact = Contact(email=r["email"], phone=r["phone"], website=r["website"])
    raw = r.get("raw") or dict(commune=r["commune_name"], postcode=r["postcode"])
    project = NormalizedProject(
        source=r["source"], source_record_id=r["source_record_id"], url=r["url"], title=r["title"],
        description=r["description"], summary=r["description"][:200], holder_name=r["holder_name"], contact=contact,
        content_hash=f"{r['source_record_id']}|{r['title']}", **raw,
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


def near_miss_merged(rows: list[dict], predicted: dict[str, str]) -> tuple[int, int]:
    """(near-miss pairs, how many of them were merged): pairs of records of two different
    projects generated as twins (same name elsewhere, same holder, one template, homonyms)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("near_miss"):
            groups[r["near_miss"]].append(r)
    total = merged = 0
    for members in groups.values():
        for a, b in itertools.combinations(members, 2):
            if a["cluster"] != b["cluster"]:
                total += 1
                merged += predicted[_key(a)] == predicted[_key(b)]
    return total, merged


def _key(r: dict) -> str:
    return f"{r['source']}:{r['source_record_id']}"


def report(rows: list[dict], predicted: dict[str, str], review: list[tuple[str, str]] | None = None) -> dict:
    """``review``: the pairs left waiting for a moderator (two projects, a grey score)."""
    truth = {_key(r): r["cluster"] for r in rows}
    result = metrics(truth, predicted)
    result["near_miss_pairs"], result["near_miss_merged"] = near_miss_merged(rows, predicted)
    if review is not None:
        result["review_pairs"] = len(review)
        result["review_duplicates"] = sum(truth[a] == truth[b] for a, b in review)
    return result


async def run_store(engine, path: Path = SETS["labelled"]) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Feed a set through the real store, one event at a time, and measure."""
    from sqlalchemy import text

    from services.indexer.adapters.db import DedupStore

    store = DedupStore(engine)
    rows = load(path)
    for r in rows:
        await store.apply(to_event(r))
    predicted = await store.clusters()
    truth = {_key(r): r["cluster"] for r in rows}
    async with engine.connect() as conn:
        review = [tuple(r) for r in (await conn.execute(text(
            "SELECT record_a, record_b FROM dedup_matches WHERE NOT matched AND rule IS NULL "
            "AND explanation @> '{\"review\": true}'"))).all()]
    review = [(a, b) for a, b in review if predicted.get(a) != predicted.get(b)]
    return report(rows, predicted, review), truth, predicted


def run_pure(rows: list[dict], block_cap: int = 300) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The store's decisions in memory: blocks (capped, a commune's own block at the store's
    ``COMMUNE_CAP``), scores, one constrained clustering; and the pairs left for review."""
    from services.indexer.adapters.db import COMMUNE_CAP
    from services.indexer.dedup import Edge, block_keys, cluster, features, score

    feats, blocks = {}, defaultdict(list)
    for r in rows:
        e = to_event(r)
        feats[e.key] = features(e.project, e.location)
        for b in block_keys(feats[e.key]):
            blocks[b].append(e.key)
    seen, edges, grey = set(), [], []
    for key, members in blocks.items():
        if len(members) > (min(COMMUNE_CAP, block_cap) if key.startswith("c:") else block_cap):
            continue
        for a, b in itertools.combinations(sorted(members), 2):
            if (a, b) not in seen:
                seen.add((a, b))
                s = score(feats[a], feats[b])
                if s.matched:
                    edges.append(Edge(a, b, s.weight))
                elif s.review:
                    grey.append((a, b))
    nodes = {k: (f.source, f.url) for k, f in feats.items()}
    predicted = {k: comp[0] for comp in cluster(nodes, edges) for k in comp}
    return predicted, [(a, b) for a, b in grey if predicted[a] != predicted[b]]


def explain_pairs(path: Path = SETS["dev"]) -> None:
    from services.indexer.dedup import block_keys, features, score

    if path == SETS["test"]:
        raise SystemExit("the test split is frozen: its errors are never looked at")
    rows = load(path)
    feats = {}
    for r in rows:
        e = to_event(r)
        feats[e.key] = (features(e.project, e.location), r["cluster"], r["title"], r.get("commune_name"))
    blocks = defaultdict(list)
    for k, (f, *_) in feats.items():
        for b in block_keys(f):
            blocks[b].append(k)
    seen, wrong = set(), Counter()
    for members in blocks.values():
        for a, b in itertools.combinations(sorted(members), 2):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            s = score(feats[a][0], feats[b][0])
            same = feats[a][1] == feats[b][1]
            if s.matched != same:
                wrong["false merge" if s.matched else "missed"] += 1
                print("FALSE MERGE" if s.matched else "MISSED", feats[a][2], f"({feats[a][3]})", "|", feats[b][2],
                      f"({feats[b][3]})", json.dumps(s.explain()["comparisons"], ensure_ascii=False),
                      round(s.weight, 2), s.rule)
    truth_pairs = _pairs({c: [k for k, v in feats.items() if v[1] == c] for c in {v[1] for v in feats.values()}})
    print(f"{len(seen)} candidate pairs, misclassified: {dict(wrong)}; true pairs never blocked together:",
          len(truth_pairs - seen))


def _line(name: str, result: dict) -> str:
    return (f"{name:9} records={result['records']} true_pairs={result['true_pairs']} precision={result['precision']:.4f} "
            f"recall={result['recall']:.4f} f1={result['f1']:.4f} purity={result['purity']:.4f} "
            f"false_merges={result['false_merges']} missed={result['missed']} "
            f"near_miss_merged={result['near_miss_merged']}/{result['near_miss_pairs']} "
            f"review_queue={result['review_pairs']} (duplicates {result['review_duplicates']})")


def _main() -> None:
    import asyncio
    import os
    import tempfile

    from sqlalchemy.ext.asyncio import create_async_engine

    from tools.devstack import Stack, free_port

    if "--pure" in sys.argv:
        for name, path in SETS.items():
            rows = load(path)
            print(_line(name, report(rows, *run_pure(rows))))
        return

    async def run(stack) -> None:
        for name, path in SETS.items():
            engine = create_async_engine(stack.postgres.create_database(f"dedup_eval_{name}"))
            try:
                print(_line(name, (await run_store(engine, path))[0]), flush=True)
            finally:
                await engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        stack = Stack(run_dir=Path(tmp), kafka_port=free_port(), pg_port=free_port())
        stack.start_infra()
        try:
            asyncio.run(run(stack))
        finally:
            stack.stop()


if __name__ == "__main__":
    if "--pairs" in sys.argv:
        explain_pairs(SETS["labelled"] if "labelled" in sys.argv else SETS["dev"])
    else:
        _main()
