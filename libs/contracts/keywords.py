"""The taxonomy's keywords (``keywords.yaml``: per facet and slug, the words that say a text is about it)
and the one matcher of them, shared by the normalizer's classifier and the crawler's triage: French
Snowball stems on folded text, the longest keyword winning at each position."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import snowballstemmer
import yaml

from libs.contracts.search import fold
from libs.contracts.taxonomy import taxonomy

KEYWORDS_FILE = Path(__file__).parent / "keywords.yaml"
_stemmer = snowballstemmer.stemmer("french")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """French Snowball stem of a folded word (never shorter than 3 letters unless the word is)."""
    s = _stemmer.stemWord(word)
    return s if len(s) >= 3 or len(word) < 3 else word[:3]


def _keyword_words(keyword: str) -> tuple[tuple[str, bool], ...]:
    """A keyword as (stem or exact word, exact?) per word, folded."""
    exact = keyword.startswith("=")
    words = fold(keyword.lstrip("=")).split()
    if not words:
        raise ValueError(f"empty keyword {keyword!r}")
    return tuple((w, True) if exact else (stem(w), False) for w in words)


@dataclass(frozen=True)
class _Facet:
    index: dict[str, list[tuple[str, tuple[tuple[str, bool], ...]]]]
    """first word's stem (or exact word) → [(slug, all words)]"""
    lengths: tuple[int, ...]
    """lengths of the first-word keys, longest first"""


@lru_cache(maxsize=1)
def keyword_index() -> dict[str, _Facet]:
    data = yaml.load(KEYWORDS_FILE.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506
    tax = taxonomy()
    out: dict[str, _Facet] = {}
    for facet, by_slug in data.items():
        unknown = set(by_slug) - tax.slugs(facet)
        if unknown:
            raise ValueError(f"keywords.yaml: unknown {facet} slugs {sorted(unknown)}")
        index: dict[str, list] = {}
        for slug, kws in by_slug.items():
            for kw in kws:
                words = _keyword_words(str(kw))
                index.setdefault(words[0][0], []).append((slug, words))
        out[facet] = _Facet(index, tuple(sorted({len(k) for k in index}, reverse=True)))
    return out


def _word_matches(word: str, key: str, exact: bool) -> bool:
    """An exact keyword word equals the text word; a stem starts the text word or its own stem
    (Snowball stems some words beyond their common prefix: émergence → emergent, duplication →
    dupliqu, so "émergence" in a text is matched through its stem)."""
    if exact:
        return word == key
    return word.startswith(key) or stem(word).startswith(key)


def keyword_hits(facet: str, text: str) -> dict[str, int]:
    """slug → number of keyword occurrences in the (folded) text.

    Each keyword word matches a text word that starts with its stem (or equals it, for "=word"
    keywords); at each position the longest keyword wins and its words are consumed."""
    f = keyword_index()[facet]
    words = fold(text).split()
    counts: dict[str, int] = {}
    i, n = 0, len(words)
    index, lengths = f.index, f.lengths
    while i < n:
        w = words[i]
        sw = stem(w)
        best_slug, best_len = None, 0
        for length in lengths:
            if length > len(w):
                continue
            found = index.get(w[:length], ())
            if sw[:length] != w[:length] and len(sw) >= length:
                found = (*found, *index.get(sw[:length], ()))
            for slug, kw in found:
                k = len(kw)
                if k <= best_len or i + k > n:
                    continue
                if all(_word_matches(words[i + j], key, exact) for j, (key, exact) in enumerate(kw)):
                    best_slug, best_len = slug, k
        if best_slug is None:
            i += 1
        else:
            counts[best_slug] = counts.get(best_slug, 0) + 1
            i += best_len
    return counts
