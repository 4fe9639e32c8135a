"""Estimates the Fellegi-Sunter parameters shipped in ``services/indexer/dedup/weights.json``.

    .venv/bin/python -m tests.data.dedup.train

Unsupervised, as Splink does it: on the dev split of the generated corpus (never the test
split), every record is featurised and blocked as in production; the comparison-level vector of
each candidate pair is computed with the runtime's own ``compare``. u (the level frequencies
among non-duplicates) comes from random record pairs, which are almost all non-duplicates; the
prior and m then come from expectation-maximisation over the candidate pairs with u fixed. The
labels are not read, except to print, after the fact, how far the estimated m is from the
labelled one.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict

import numpy as np

from services.indexer.dedup import block_keys, features
from services.indexer.dedup.scoring import COMPARISONS, WEIGHTS_FILE, compare
from tests.data.dedup.evaluate import SETS, load, to_event

NAMES = list(COMPARISONS)
RANDOM_PAIRS = 200_000
BLOCK_CAP = 300


def vector(levels: dict[str, str]) -> list[int]:
    return [COMPARISONS[n].index(levels[n]) if n in levels else -1 for n in NAMES]


def frequencies(x: np.ndarray, weights: np.ndarray | None = None) -> list[np.ndarray]:
    """Per comparison, the share of each level among the pairs where it is not missing (+0.5 smoothing)."""
    w = np.ones(len(x)) if weights is None else weights
    out = []
    for k, n in enumerate(NAMES):
        counts = np.array([w[x[:, k] == lvl].sum() for lvl in range(len(COMPARISONS[n]))]) + 0.5
        out.append(counts / counts.sum())
    return out


def log_likelihood(x: np.ndarray, probs: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(len(x))
    for k in range(len(NAMES)):
        present = x[:, k] >= 0
        total[present] += np.log(probs[k][x[present, k]])
    return total


def em(x: np.ndarray, u: list[np.ndarray], fixed_m: dict[int, np.ndarray] | None = None,
       iterations: int = 500) -> tuple[float, list[np.ndarray]]:
    """EM over candidate pairs with u fixed: the prior and the m of every comparison not in
    ``fixed_m`` (whose m is given, or, for a blocking comparison, ignored with a neutral m=u)."""
    fixed_m = fixed_m or {}
    prior = 0.05
    m = [fixed_m[k] if k in fixed_m else np.linspace(len(lv), 1, len(lv)) ** 2 / (
        np.linspace(len(lv), 1, len(lv)) ** 2).sum() for k, lv in enumerate(COMPARISONS.values())]
    lu = log_likelihood(x, u)
    for _ in range(iterations):
        odds = np.log(prior / (1 - prior)) + log_likelihood(x, m) - lu
        p = 1 / (1 + np.exp(-np.clip(odds, -60, 60)))
        new_prior = float(p.mean())
        estimated = frequencies(x, p)
        m = [fixed_m[k] if k in fixed_m else estimated[k] for k in range(len(NAMES))]
        if abs(new_prior - prior) < 1e-8:
            break
        prior = new_prior
    return new_prior, m


def train(x: np.ndarray, u: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
    """Splink's recipe: one EM session per training block, each estimating m for the comparisons
    the block does not fix (a block on "same title" says nothing of the title's m); then the
    prior over all candidate pairs with m and u fixed."""
    title, place = NAMES.index("title"), NAMES.index("place")
    sessions = [(title, COMPARISONS["title"].index("exact")), (place, COMPARISONS["place"].index("same_commune"))]
    estimates: dict[int, list[np.ndarray]] = defaultdict(list)
    for k, level in sessions:
        rows = x[x[:, k] == level]
        _, m = em(rows, u, {k: u[k]})
        for j in range(len(NAMES)):
            if j != k:
                estimates[j].append(m[j])
        print(f"session {NAMES[k]}={COMPARISONS[NAMES[k]][level]}: {len(rows)} pairs")
    m = [np.mean(estimates[j], axis=0) for j in range(len(NAMES))]
    prior, _ = em(x, u, dict(enumerate(m)))
    return prior, m


def main() -> None:
    rows = load(SETS["dev"])
    feats, labels = [], []
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        e = to_event(r)
        feats.append(features(e.project, e.location))
        labels.append(r["cluster"])
        for b in block_keys(feats[-1]):
            blocks[b].append(i)
    pairs = set()
    for members in blocks.values():
        if len(members) <= BLOCK_CAP:
            pairs.update((a, b) for a, b in itertools.combinations(members, 2)
                         if feats[a].source != feats[b].source and feats[a].url != feats[b].url)
    pairs = sorted(pairs)
    x = np.array([vector(compare(feats[a], feats[b])[0]) for a, b in pairs])
    rng = random.Random(7)
    randoms = []
    while len(randoms) < RANDOM_PAIRS:
        a, b = rng.randrange(len(feats)), rng.randrange(len(feats))
        if a != b and feats[a].source != feats[b].source:
            randoms.append(vector(compare(feats[a], feats[b])[0]))
    r = np.array(randoms)
    u = frequencies(r)
    prior, m = train(x, u)
    for k, n in enumerate(NAMES):  # a level too rare to estimate (in the random or the candidate pairs) is neutral
        for j in range(len(COMPARISONS[n])):
            if (r[:, k] == j).sum() < 10 or (x[:, k] == j).sum() < 10:
                m[k][j] = u[k][j]
    truth = np.array([labels[a] == labels[b] for a, b in pairs])
    labelled_m = frequencies(x[truth])
    data = {
        "trained_on": f"tests/data/dedup dev split: {len(rows)} records, {len(pairs)} candidate pairs, "
                      f"{RANDOM_PAIRS} random pairs",
        "method": "u from random pairs; m by EM (u fixed) on pairs blocked on the same title, then on the same city, "
                  "each comparison from the session not blocked on it; the prior by EM with m and u fixed; no labels",
        "prior": round(prior, 6),
        "comparisons": {n: {lvl: {"m": round(float(m[k][j]), 6), "u": round(float(u[k][j]), 6)}
                            for j, lvl in enumerate(COMPARISONS[n])} for k, n in enumerate(NAMES)},
    }
    WEIGHTS_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"prior {prior:.4f} (labelled: {truth.mean():.4f}) over {len(pairs)} candidate pairs")
    for k, n in enumerate(NAMES):
        for j, lvl in enumerate(COMPARISONS[n]):
            print(f"  {n:12} {lvl:18} m={m[k][j]:.4f} (labelled {labelled_m[k][j]:.4f})  u={u[k][j]:.5f}  "
                  f"w={np.log2(m[k][j] / u[k][j]):+.2f}")
    print(WEIGHTS_FILE)


if __name__ == "__main__":
    main()
