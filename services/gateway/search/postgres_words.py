"""PostgreSQL search, the query's words: the plan (which concepts, their document frequencies, typo
corrections from the index's own vocabulary, read into memory) and "did you mean". Mixed into
``PostgresSearch``."""

from __future__ import annotations

import time
from typing import Any

from services.gateway.search.postgres_sql import (
    KNOWN_WORDS_MAX,
    KNOWN_WORDS_TTL_S,
    MIN_WORD,
    SUGGESTIONS,
    VOCABULARY_TTL_S,
    _tsquery,
)
from services.gateway.search.relevance import (
    Concept,
    Plan,
    concept_for,
    concepts,
    corrections,
    make_plan,
    similar_words,
)
from services.gateway.search.rules import SearchQuery


class PostgresWords:
    async def _plan(self, conn, query: SearchQuery) -> Plan:
        """How ``query``'s words are matched (``relevance.make_plan``), from each concept's
        document frequency in the full text; a single word it does not know is replaced by the
        index's closest words (``relevance.corrections``, from ``_vocabulary``). Frequencies are
        remembered a minute; with ``conn`` None, a pooled connection is taken only when one must
        be counted."""
        found = concepts(query.tokens)
        if not found:
            return Plan()
        now = time.monotonic()
        missing = list({c.signature: c for c in found if not self._df_valid(c.signature, now)}.values())
        if missing or self._n_docs[1] < now:
            counted = await self._count(conn, missing, with_total=True)
            unknown = [c for c, n in zip(missing, counted[0]) if n == 0 and c.plain]
            fixed: dict[tuple, Concept] = {}
            if unknown:
                vocabulary = await self._vocabulary(conn)
                fixed = {c.signature: concept_for(c, corr) for c in unknown
                         if (corr := corrections(c.alternatives[0], vocabulary))}
            fixed_df = dict(zip(fixed, (await self._count(conn, list(fixed.values())))[0])) if fixed else {}
            if len(self._df) > KNOWN_WORDS_MAX:
                self._df.clear()
            for c, n in zip(missing, counted[0]):
                use = fixed.get(c.signature, c)
                self._df[c.signature] = (use, fixed_df.get(c.signature, n), now + KNOWN_WORDS_TTL_S,
                                         self.generation.newest)
            self._n_docs = (counted[1], now + KNOWN_WORDS_TTL_S)
        known = [self._df[c.signature] for c in found]
        return make_plan([k[0] for k in known], [k[1] for k in known], self._n_docs[0])

    def _df_valid(self, signature: tuple, now: float) -> bool:
        """A remembered frequency is used for a minute; a zero only while the index generation
        has not changed (a word that appears must be found at once: a search right after a write
        sees it)."""
        known = self._df.get(signature)
        if known is None or known[2] < now:
            return False
        return known[1] > 0 or (known[3] is not None and known[3] == self.generation.newest)

    async def _count(self, conn, found: list[Concept], with_total: bool = False) -> tuple[list[int], int]:
        """The live documents matching each concept (and all live documents, ``with_total``)."""
        params: dict[str, Any] = {}
        counts = [f"(SELECT count(*) FROM search_documents WHERE NOT deleted AND tsv @@ "
                  f"{_tsquery(c, f'd{i}', params)})" for i, c in enumerate(found)]
        total = "(SELECT count(*) FROM search_documents WHERE NOT deleted)" if with_total else "0"
        row = await self._row(conn, f"SELECT ARRAY[{', '.join(counts) or 'NULL'}]::bigint[], {total}", params)
        return [int(x) for x in (row[0] or [])][:len(found)], int(row[1])

    async def _vocabulary(self, conn) -> dict[int, list[str]]:
        """The index's words by length, kept in memory per process: read whole on first need, then
        only from the documents written since (``indexed_at``), at most every VOCABULARY_TTL_S.
        Words of deleted projects stay (a correction is counted before it is used). Reading them
        here rather than keeping a words table from a trigger keeps the cost off the index
        writer (a statement trigger cost ~55 ms per 500-row batch; a whole read of 40,000
        projects is ~0.6 s once per process)."""
        if self._vocab_until < time.monotonic():
            sql = ("SELECT array_agg(DISTINCT w), max(max_at) FROM (SELECT w, max(indexed_at) AS max_at "
                   "FROM search_documents r, unnest(string_to_array(r.title_folded || ' ' || r.body_folded, ' ')) w "
                   "WHERE NOT deleted AND indexed_at > :since GROUP BY w) x")
            row = await self._row(conn, sql, {"since": self._vocab_since})
            for w in row[0] or []:
                if MIN_WORD <= len(w) <= 40 and not w.isdigit() and w not in self._vocab_set:
                    self._vocab_set.add(w)
                    self._vocab.setdefault(len(w), []).append(w)
            if row[1] is not None:
                self._vocab_since = row[1]
            self._vocab_until = time.monotonic() + VOCABULARY_TTL_S
        return self._vocab

    async def _did_you_mean(self, query: SearchQuery, plan: Plan) -> str | None:
        """The query with each word no project uses replaced by the closest word of the index
        (by similarity, beyond the typo corrections' reach) that matches projects; None when there is none."""
        if not plan.unknown:
            return None
        vocabulary = await self._vocabulary(None)
        replaced: dict[str, str] = {}
        for word in dict.fromkeys(plan.unknown):
            close = similar_words(word, vocabulary, SUGGESTIONS)
            if close:
                found, _ = await self._count(None, [Concept((w,), (w,)) for w in close])
                best = next((w for w, n in zip(close, found) if n), None)
                if best is not None:
                    replaced[word] = best
        if not replaced:
            return None
        return " ".join(replaced.get(w, w) for w in query.tokens)
