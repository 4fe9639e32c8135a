"""PostgreSQL search, the SQL pieces: bound parameters as asyncpg positions, the text condition of a
query plan, the distance expression, the limits of the in-memory paths."""

from __future__ import annotations

import contextvars
import re
from typing import Any

import orjson
import structlog

from libs.contracts.geo import haversine_sql
from libs.contracts.search import MEILI_SETTINGS
from services.gateway.search.relevance import (
    Concept,
    Plan,
)

HAVERSINE = haversine_sql()
KNOWN_WORDS_TTL_S = 60.0
KNOWN_WORDS_MAX = 50_000
"""A query concept's document frequency (and the number of live documents) is remembered a minute
per gateway process: the words' importance, noise and typo decisions follow the index that late."""
VOCABULARY_TTL_S = 300.0
"""The index's new words (typo corrections, "did you mean") are read at most every five minutes per process."""
MIN_WORD = 3
SUGGESTIONS = 5
"""Close index words tried per unknown query word for "did you mean"."""
FACET_LIMIT = MEILI_SETTINGS["faceting"]["maxValuesPerFacet"]
"""Values counted per facet, the most frequent first (as Meilisearch's maxValuesPerFacet)."""
CANDIDATE_ROW_BYTES = 200
"""A candidate row's memory, roughly (``Candidates.nbytes`` is the exact account): bounds the rows read."""
TOO_BIG = "too big"
_GENERATION: contextvars.ContextVar[int | None] = contextvars.ContextVar("search_generation", default=None)
_log = structlog.get_logger()
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_POSITIONAL: dict[str, tuple[str, list[str]]] = {}


def _positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` placeholders to asyncpg's ``$n`` (the conversion is memoised per statement)."""
    converted = _POSITIONAL.get(sql)
    if converted is None:
        names: list[str] = []

        def number(m: re.Match) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        converted = (_NAMED.sub(number, sql), names)
        if len(_POSITIONAL) > 2_000:
            _POSITIONAL.clear()
        _POSITIONAL[sql] = converted
    return converted[0], [params[n] for n in converted[1]]


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _tsquery(concept: Concept, key: str, params: dict) -> str:
    """A concept as a tsquery expression: ``to_tsquery`` of its word (a prefix when typed last),
    or the OR (``||``) of its expressions' phrases (stop words inside keep their distance)."""
    if concept.plain:
        params[key] = concept.alternatives[0] + (":*" if concept.prefix else "")
        return f"to_tsquery('french', :{key})"
    parts = []
    for j, expression in enumerate(concept.alternatives):
        params[f"{key}_{j}"] = expression
        parts.append(f"phraseto_tsquery('french', :{key}_{j})")
    return "(" + " || ".join(parts) + ")"


def text_sql(plan: Plan, params: dict) -> tuple[list[str], str]:
    """The WHERE conditions and the rank (float8) of a plan.

    A row must match the most important concept. Its rank is its tier — how many concepts it
    matches in importance order, less one (Meilisearch's "words" rule under ``matchingStrategy:
    last``) — plus a text rank below 1: cover density (``ts_rank_cd`` normalised by rank / (rank +
    1): proximity; title words weigh more than body words) of any concept, averaged with whether
    the word typed last is there whole rather than as a prefix (exactness)."""
    if plan.nothing:
        return ["false"], "0::float8"
    if not plan.concepts:
        return [], "0::float8"
    conds, ranked, exact = [], [], None
    for i, concept in enumerate(plan.concepts):
        query = _tsquery(concept, f"cq{i}", params)
        conds.append(f"tsv @@ {query}")
        ranked.append(query)
        if concept.prefix:
            params["cx"] = concept.alternatives[0]
            exact = "(tsv @@ to_tsquery('french', :cx))::int"
    k = len(conds)
    tier = "0" if k == 1 else ("CASE " + " ".join(f"WHEN NOT ({conds[j]}) THEN {j - 1}" for j in range(1, k))
                               + f" ELSE {k - 1} END")
    text_rank = f"(ts_rank_cd(tsv, {' || '.join(ranked)}, 32))::float8"
    if exact is not None:  # the word typed last, whole rather than a prefix: half the text rank
        text_rank = f"({text_rank} + {exact}) / 2"
    return [conds[0]], f"(({tier})::float8 + {text_rank})"


def _title_terms(tokens: list[str]) -> list[str]:
    """tsquery terms restricted to the title (weight A), the last one as a prefix: 'jardin:A', 'parta:*A'."""
    return [t + (":*A" if i == len(tokens) - 1 else ":A") for i, t in enumerate(tokens)]
