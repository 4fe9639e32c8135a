"""What a query's words mean to the search, whatever the backend (pure: no I/O).

A query is read as *concepts*: its words, French stop words and numbers left out, with the
expressions of the synonym file (``libs/contracts/search_data/synonyms.txt``: "épicerie sociale" =
"épicerie solidaire", "ESS" = "économie sociale et solidaire"…) grouped into one concept that any of
its expressions matches. The backend then counts each concept's document frequency, and
``make_plan`` decides:

- a single word no live document matches is read as a typo: it stands for the index's words at
  the smallest edit distance (``corrections``: one typo from 5 letters on, two from 9, as
  Meilisearch's typo tolerance); a concept that still matches nothing weighs nothing;
- a concept in more than ``NOISE_SHARE`` of the documents (once the index holds at least
  ``NOISE_MIN_DOCS``) is noise — "projet", "association" in most corpora — and weighs nothing;
  noise is found from the index's own frequencies, not from a hand list;
- the others are ordered by importance: rarer first (frequencies within a factor of
  ``IMPORTANCE_BASE`` count as equal), then by their position in the query.

Matching follows Meilisearch's ``matchingStrategy: "last"`` on that order (the Meilisearch
backend sends the concepts in it): a project matches when it contains the most important
concept; it is ranked first by how many concepts it matches in importance order (all of them,
then all but the least important, …: ``tier``), then by the text rank (proximity, field weight,
typos). So a query with one word no project uses never ends on nothing.

Among results of equal relevance (``relevance_bucket``), the order is fair to the partners: the
projects of each set of sources are spread in proportion to its share of the matches (``fair_order``), and
ties are broken by a daily-stable shuffle (a hash of the id and the day), not by recency or id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from libs.contracts.search import fold, stop_words, synonym_groups

NOISE_SHARE = 0.25
"""A concept found in more than this share of the live documents is noise."""
NOISE_MIN_DOCS = 200
"""Below this many documents, frequencies say nothing reliable about noise: no concept is noise."""
IMPORTANCE_BASE = 2.0
"""Document frequencies within this factor of each other are equally important: position decides."""
RELEVANCE_STEPS = 10
"""Relevance is compared in steps of 1/RELEVANCE_STEPS of a tier: hits within a step are "equally
relevant" and ordered fairly (by source share, then the daily shuffle)."""


def _key(expression: str) -> tuple[str, ...]:
    """An expression's words as a query is matched against it: stop words left out."""
    stops = stop_words()
    return tuple(w for w in expression.split() if w not in stops)


@lru_cache(maxsize=1)
def _synonym_index() -> dict[tuple[str, ...], tuple[str, ...]]:
    """{words of an expression (no stop words): its group's expressions}."""
    index: dict[tuple[str, ...], tuple[str, ...]] = {}
    for group in synonym_groups():
        for expression in group:
            key = _key(expression)
            if key:
                index.setdefault(key, group)
    return index


def query_words(q: str, limit: int = 12) -> list[str]:
    """The words of a query that can weigh: folded, at most 40 characters, stop words, numbers and
    single letters left out (all of them when nothing else is left: "à vous" still searches)."""
    return list(_query_words(q, limit))


@lru_cache(maxsize=20_000)
def _query_words(q: str, limit: int) -> tuple[str, ...]:
    words = [w[:40] for w in fold(q).split()]
    stops = stop_words()
    kept = [w for w in words if w not in stops and not w.isdigit() and len(w) > 1]
    if not kept:  # nothing but stop words or numbers ("à vous", "2024"): they still search
        kept = words
    return tuple(kept[:limit])


@dataclass(frozen=True)
class Concept:
    """One thing a query asks for: a word, or a synonym group's expressions (any of them matches)."""

    words: tuple[str, ...]
    """The query words it stands for."""
    alternatives: tuple[str, ...]
    """Folded expressions, any of which matches (a single word for a plain query word)."""
    prefix: bool = False
    """The query's last word, still being typed: matched as a prefix."""
    position: int = 0

    @property
    def plain(self) -> bool:
        """A single query word with no synonym: a typo of it can be matched."""
        return len(self.alternatives) == 1 and len(self.words) == 1 and " " not in self.alternatives[0]

    @property
    def signature(self) -> tuple:
        return (self.alternatives, self.prefix)


def concepts(tokens: Sequence[str]) -> list[Concept]:
    """The query words (``query_words``) as concepts: the longest synonym expressions first; a
    word or expression already seen is not counted twice; the last plain word is a prefix."""
    return list(_concepts(tuple(tokens)))


@lru_cache(maxsize=20_000)
def _concepts(tokens: tuple[str, ...]) -> tuple[Concept, ...]:
    index = _synonym_index()
    longest = _longest()
    out: list[Concept] = []
    seen: set[tuple[str, ...]] = set()
    i = 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            group = index.get(tuple(tokens[i:i + size]))
            if group is not None:
                concept = Concept(tuple(tokens[i:i + size]), group, position=i)
                i += size
                break
        else:
            concept = Concept((tokens[i],), (tokens[i],), position=i)
            i += 1
        if concept.alternatives not in seen:
            seen.add(concept.alternatives)
            out.append(concept)
    if out and out[-1].plain and out[-1].position == len(tokens) - 1:
        last = out[-1]
        out[-1] = Concept(last.words, last.alternatives, prefix=True, position=last.position)
    return tuple(out)


@lru_cache(maxsize=1)
def _longest() -> int:
    return max((len(k) for k in _synonym_index()), default=1)


@dataclass(frozen=True)
class Plan:
    """How a query's text is matched: concepts in importance order (the first is required)."""

    concepts: tuple[Concept, ...] = ()
    ignored: tuple[str, ...] = ()
    """Query words that weigh nothing: noise, or matching nothing at all."""
    unknown: tuple[str, ...] = ()
    """Among them, the words no document matches (for "did you mean")."""
    nothing: bool = False
    """The query has words and none of them matches anything: no result."""

    @property
    def signature(self) -> tuple:
        return (tuple(c.signature for c in self.concepts), self.nothing)

    @property
    def words(self) -> list[str]:
        return [w for c in self.concepts for w in c.words]


def importance_key(df: int, position: int) -> tuple[int, int]:
    """Sort key, most important first: rarer (in steps of IMPORTANCE_BASE), then earlier in the query."""
    return (math.floor(math.log(max(df, 1), IMPORTANCE_BASE)), position)


def make_plan(found: Sequence[Concept], df: Sequence[int], n_docs: int) -> Plan:
    """The plan from each concept's document frequency ``df`` among ``n_docs`` live documents
    (a typo already replaced by its corrections). Memoised: the same words come back."""
    return _make_plan(tuple(found), tuple(df), n_docs)


@lru_cache(maxsize=20_000)
def _make_plan(found: tuple[Concept, ...], df: tuple[int, ...], n_docs: int) -> Plan:
    if not found:
        return Plan()
    seen: set[tuple[str, ...]] = set()
    live = []
    for c, d in zip(found, df):  # a corrected typo may be a word the query already has
        if d > 0 and c.alternatives not in seen:
            seen.add(c.alternatives)
            live.append((c, d))
    unknown = tuple(w for c, d in zip(found, df) if d <= 0 for w in c.words)
    if not live:
        return Plan(ignored=unknown, unknown=unknown, nothing=True)
    ignored = list(unknown)
    if n_docs >= NOISE_MIN_DOCS:
        meaningful = [x for x in live if x[1] <= NOISE_SHARE * n_docs]
        if not meaningful:  # only noise: the rarest still searches ("projet" alone)
            meaningful = [min(live, key=lambda x: importance_key(x[1], x[0].position))]
        ignored += [w for x in live if x not in meaningful for w in x[0].words]
        live = meaningful
    live.sort(key=lambda x: importance_key(x[1], x[0].position))
    return Plan(concepts=tuple(c for c, _ in live), ignored=tuple(ignored), unknown=unknown)


MIN_TYPO_ONE, MIN_TYPO_TWO = 5, 9
"""Word lengths from which one, then two typos are corrected (Meilisearch's defaults)."""


def corrections(word: str, vocabulary: dict[int, list[str]], limit: int = 8) -> tuple[str, ...]:
    """The index words closest to ``word`` (a word the index does not know): those at the
    smallest optimal-string-alignment distance (an adjacent swap is one typo), within one typo
    from MIN_TYPO_ONE letters and two from MIN_TYPO_TWO; none for a shorter word."""
    if len(word) < MIN_TYPO_ONE:
        return ()
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    k = 2 if len(word) >= MIN_TYPO_TWO else 1
    pool = [w for n in range(len(word) - k, len(word) + k + 1) for w in vocabulary.get(n, ())]
    found = process.extract(word, pool, scorer=OSA.distance, score_cutoff=k, limit=None)
    if not found:
        return ()
    best = min(d for _, d, _ in found)
    return tuple(sorted(w for w, d, _ in found if d == best)[:limit])


def similar_words(word: str, vocabulary: dict[int, list[str]], limit: int = 5) -> list[str]:
    """"Did you mean": the index words most similar to ``word`` (normalised Indel similarity ≥ 60 %,
    lengths within a half), best first."""
    from rapidfuzz import fuzz, process

    spread = max(2, len(word) // 2)
    pool = [w for n in range(max(1, len(word) - spread), len(word) + spread + 1) for w in vocabulary.get(n, ())]
    found = process.extract(word, pool, scorer=fuzz.ratio, score_cutoff=60, limit=limit * 4)
    return [w for w, _, _ in sorted(found, key=lambda x: (-x[1], x[0]))][:limit]


def concept_for(concept: Concept, fixed: tuple[str, ...]) -> Concept:
    """A typed concept whose word is replaced by its corrections (any of them matches)."""
    return Concept(concept.words, fixed, prefix=False, position=concept.position)


# --------------------------------------------------------------------------- fair order



def shuffle_key(project_id: str, day: str) -> int:
    """A project's place in the day's shuffle: 60 bits of md5(id + day), as the SQL computes it
    (``('x' || substr(md5(id || day), 1, 15))::bit(60)::bigint``)."""
    return int(hashlib.md5((project_id + day).encode()).hexdigest()[:15], 16)


SHUFFLE_SQL = "('x' || substr(md5(id || :salt), 1, 15))::bit(60)::bigint"


def relevance_bucket(rank: float) -> int:
    """Equal relevance: the same tier and the same 1/RELEVANCE_STEPS step of text rank."""
    return math.floor(rank * RELEVANCE_STEPS)


def fair_order(items: Sequence[tuple[int, tuple[str, ...], int, str]]) -> list[int]:
    """Positions of ``items`` — (relevance bucket, sources, shuffle key, id) — in fair order:
    buckets by decreasing relevance; within one, the items of each set of sources (in shuffle
    order) are spread in proportion to its share: the j-th of a set's n items goes at (j + 0.5)
    / n; ties by shuffle key, then id. The pure form of what the SQL and the in-memory search do.
    (A set rather than one source: a project published by two partners counts for both.)"""
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for pos, (bucket, sources, _key, _pid) in enumerate(items):
        groups.setdefault((bucket, tuple(sources)), []).append(pos)
    share: dict[int, float] = {}
    for members in groups.values():
        members.sort(key=lambda p: (items[p][2], items[p][3]))
        for j, p in enumerate(members):
            share[p] = (j + 0.5) / len(members)
    return sorted(range(len(items)), key=lambda p: (-items[p][0], share[p], items[p][2], items[p][3]))
