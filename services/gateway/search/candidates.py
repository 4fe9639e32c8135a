"""Search answers computed in memory from a candidate set (pure: no I/O).

A candidate set is every project that matches a search's words (every project when there are
none), as columns: ids in the database's id order, first seen, text rank, coordinates, and the
nine facets. The gateway fetches it once per distinct words and index generation
(``adapters/search.py``), then answers every combination of facets, geo, sort and page from it:
a visitor who ticks a facet, moves the map or turns a page costs no database work.

The semantics are those of the SQL search (``PostgresSearch._search``), and the conformance
suite runs both: OR within a facet, AND across facets; disjunctive facet counts (each facet
counted with every filter but its own), the most frequent values first, ties by value;
radius = bounding box, then haversine on a 6,371 km sphere; bbox; relevance (relevance steps,
then each set of sources spread by its share, then the day's shuffle, then id: ``_fair``), newest
(words matched first, then unknown first seen first, as PostgreSQL's ``DESC``), nearest (words
matched first, unlocated last), id as the final tie-break; a facet value's label is the smallest
among the rows counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from libs.contracts.geo import haversine_km_array
from libs.contracts.search import FACET_FIELDS
from services.gateway.search.relevance import RELEVANCE_STEPS

MULTI = ("theme", "engineering", "source")
SINGLE = ("stage", "holder_type", "country", "region", "departement", "commune")
LABEL_COLUMNS = {"country": "country_name", "region": "region_name", "departement": "departement_name",
                 "commune": "commune_name"}
COLUMNS = ("id", "first_seen", "r", "lat", "lon", *MULTI, *SINGLE, *LABEL_COLUMNS.values(), "h")
"""What the adapter selects, in this order: ``first_seen`` as epoch seconds (+inf when unknown),
``r`` the rank (tier + text rank, ``relevance.text_sql``), ``lat``/``lon`` NaN when unknown, facets as
stored, labels, ``h`` the day's shuffle key."""
haversine = haversine_km_array
"""Great-circle distance in km, written as the SQL search writes it (NaN where unlocated)."""


def _encode(values: Sequence[str | None]) -> tuple[list[str], dict[str, int], np.ndarray]:
    """Sorted distinct values, their positions, and each value's code (``len(vocab)`` for a null:
    after every value)."""
    vocab = sorted({v for v in values if v is not None})
    index = {v: i for i, v in enumerate(vocab)}
    none = len(vocab)
    return vocab, index, np.fromiter((none if v is None else index[v] for v in values), dtype=np.int32,
                                     count=len(values))


@dataclass(frozen=True)
class Answer:
    total: int
    page: list[int]  # candidate positions, in the search's order
    distances: list[float | None]  # km from the search's point, per page entry (None: no point or unlocated)
    facets: dict[str, dict[str, int]]
    labels: dict[str, dict[str, str]]


class Candidates:
    """Columns of the projects matching a search's words; ``answer`` does the rest of the search."""

    def __init__(self, rows: Sequence[Sequence]):
        cols = list(zip(*rows)) if rows else [() for _ in COLUMNS]
        col = dict(zip(COLUMNS, cols))
        self.ids: list[str] = list(col["id"])
        n = len(self.ids)
        self.n = n
        self.first_seen = np.array(col["first_seen"], dtype=np.float64).reshape(n)
        self.rank = np.array(col["r"], dtype=np.float64).reshape(n)
        self.lat = np.array(col["lat"], dtype=np.float64).reshape(n)
        self.lon = np.array(col["lon"], dtype=np.float64).reshape(n)
        self.shuffle = np.array(col["h"], dtype=np.int64).reshape(n)
        self.shuffle_rank = np.empty(n, dtype=np.int64)  # place in the day's shuffle, ties by id
        self.shuffle_rank[np.lexsort((np.arange(n), self.shuffle))] = np.arange(n)
        self.tier = np.floor(self.rank)
        self.bucket = np.floor(self.rank * RELEVANCE_STEPS)
        # the set of sources (stored sorted, as SQL's ``PARTITION BY source`` compares the arrays), as a code
        self.vocab_sources, _, self.sources = _encode(["\x1f".join(v or ()) for v in col["source"]])
        self.vocab: dict[str, list[str]] = {}
        self.index: dict[str, dict[str, int]] = {}
        self.codes: dict[str, np.ndarray] = {}  # single facets: code per row, len(vocab) when null
        self.members: dict[str, np.ndarray] = {}  # multi facets: (rows, values) booleans
        self.label_codes: dict[str, np.ndarray] = {}
        self.label_vocab: dict[str, list[str]] = {}
        for facet in SINGLE:
            self.vocab[facet], self.index[facet], self.codes[facet] = _encode(col[facet])
            if facet in LABEL_COLUMNS:  # labels as codes in their sorted order too
                names = [x or None for x in col[LABEL_COLUMNS[facet]]]  # an empty label is no label
                self.label_vocab[facet], _, self.label_codes[facet] = _encode(names)
        for facet in MULTI:
            lists = [v or () for v in col[facet]]
            flat = list(chain.from_iterable(lists))
            vocab = sorted(set(flat))
            index = {v: i for i, v in enumerate(vocab)}
            matrix = np.zeros((n, len(vocab)), dtype=bool)
            if flat:
                rows_of = np.repeat(np.arange(n), np.fromiter(map(len, lists), dtype=np.int64, count=n))
                matrix[rows_of, np.fromiter((index[v] for v in flat), dtype=np.int64, count=len(flat))] = True
            self.members[facet], self.vocab[facet], self.index[facet] = matrix, vocab, index
        self.nbytes = (sum(a.nbytes for a in (self.first_seen, self.rank, self.lat, self.lon, self.shuffle, self.shuffle_rank, self.tier,
                                              self.bucket, self.sources,
                                              *self.codes.values(), *self.members.values()))
                       + sum(60 + len(i) for i in self.ids)
                       + sum(60 + len(v) for vocab in self.vocab.values() for v in vocab) * 2
                       + sum(a.nbytes for a in self.label_codes.values())
                       + sum(60 + len(x) for vocab in self.label_vocab.values() for x in vocab))

    # ------------------------------------------------------------------ one search

    def _facet_mask(self, facet: str, values: Sequence[str], rows: np.ndarray) -> np.ndarray:
        index = self.index[facet]
        wanted = [index[v] for v in values if v in index]
        if not wanted:
            return np.zeros(len(rows), dtype=bool)
        if facet in MULTI:
            return self.members[facet][rows][:, wanted].any(axis=1)
        chosen = np.zeros(len(self.vocab[facet]) + 1, dtype=bool)  # + the null code
        chosen[wanted] = True
        return chosen[self.codes[facet][rows]]

    def _labels(self, facet: str, rows: np.ndarray, values: dict[str, int]) -> dict[str, str]:
        """The smallest label of each counted value among the counted rows (as SQL's min())."""
        vocab, label_vocab = self.vocab[facet], self.label_vocab[facet]
        smallest = np.full(len(vocab) + 1, len(label_vocab), dtype=np.int32)
        np.minimum.at(smallest, self.codes[facet][rows], self.label_codes[facet][rows])
        index = self.index[facet]
        return {v: label_vocab[smallest[index[v]]] for v in values if smallest[index[v]] < len(label_vocab)}

    def _counts(self, facet: str, rows: np.ndarray, limit: int) -> dict[str, int]:
        vocab = self.vocab[facet]
        if facet in MULTI:
            counts = np.count_nonzero(self.members[facet][rows], axis=0)
        else:
            counts = np.bincount(self.codes[facet][rows], minlength=len(vocab) + 1)[:len(vocab)]
        present = np.flatnonzero(counts)
        if len(present) > 1:
            present = present[np.lexsort((present, -counts[present]))][:limit]  # most first, then by value
        return {vocab[i]: int(counts[i]) for i in present}

    def _within(self, query) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows inside ``query``'s radius and bbox, and their distances to its point (or None)."""
        rows = np.arange(self.n)
        lat, lon = self.lat, self.lon
        distance = None
        geo = query.geo
        if geo is not None and geo.radius_km is not None:
            la1, la2, lo1, lo2 = geo.bounds()
            rows = np.flatnonzero((lat >= la1) & (lat <= la2) & (lon >= lo1) & (lon <= lo2))
            d = haversine(lat[rows], lon[rows], geo.lat, geo.lon)
            keep = d <= geo.radius_km
            rows, distance = rows[keep], d[keep]
        if query.bbox is not None:
            b = query.bbox
            la, lo = lat[rows], lon[rows]
            keep = (la >= b.min_lat) & (la <= b.max_lat) & (lo >= b.min_lon) & (lo <= b.max_lon)
            rows = rows[keep]
            if distance is not None:
                distance = distance[keep]
        if geo is not None and distance is None:
            distance = haversine(lat[rows], lon[rows], geo.lat, geo.lon)
        return rows, distance

    def answer(self, query, facet_limit: int) -> Answer:
        """Total, page, distances, facet counts and labels of ``query`` (a ``SearchQuery`` whose
        words gave this candidate set)."""
        rows, distance = self._within(query)
        masks = {f: self._facet_mask(f, values, rows) for f, values in query.filters.items()}
        every = np.ones(len(rows), dtype=bool)
        for mask in masks.values():
            every &= mask
        facets: dict[str, dict[str, int]] = {}
        labels: dict[str, dict[str, str]] = {}
        for facet in FACET_FIELDS:
            if facet in masks:
                counted = np.ones(len(rows), dtype=bool)
                for other, mask in masks.items():
                    if other != facet:
                        counted &= mask
            else:
                counted = every
            facets[facet] = self._counts(facet, rows[counted], facet_limit)
            if facet in LABEL_COLUMNS:
                labels[facet] = self._labels(facet, rows[counted], facets[facet])

        matched = rows[every]
        dist = distance[every] if distance is not None else None
        end = query.offset + query.per_page
        if query.sort == "nearest":
            order = np.lexsort((matched, dist, -self.tier[matched]))
        elif query.sort == "newest":
            order = np.lexsort((matched, -self.first_seen[matched], -self.tier[matched]))
        else:
            order = self._fair(matched, end)
        order = order[query.offset:end]
        page = matched[order].tolist()
        if dist is None:
            distances: list[float | None] = [None] * len(page)
        else:
            distances = [None if math.isnan(x) else x for x in dist[order].tolist()]
        return Answer(total=len(matched), page=page, distances=distances, facets=facets, labels=labels)

    def _fair(self, matched: np.ndarray, end: int) -> np.ndarray:
        """The relevance order of ``matched`` (as the SQL search orders it), its first ``end``
        positions at least: relevance buckets, highest first; within one, the j-th of the n hits of
        one set of sources (in shuffle order) at (j + 0.5) / n, so each partner is spread by its
        share; then the shuffle, then id (``shuffle_rank`` holds both)."""
        n = len(matched)
        if not n:
            return np.zeros(0, dtype=np.int64)
        b, rank = self.bucket[matched], self.shuffle_rank[matched]
        group = (b.astype(np.int64) * (len(self.vocab_sources) + 1) + self.sources[matched]) * (self.n + 1)
        grouped = np.argsort(group + rank)  # by bucket and set of sources, then shuffle: unique keys
        key = group[grouped]
        first = np.empty(n, dtype=bool)  # (np.r_ costs ~50 µs a call: plain ufuncs instead)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        within = np.cumsum(first) - 1
        sizes = np.diff(np.append(starts, n))
        share = np.empty(n, dtype=np.float64)
        share[grouped] = (np.arange(n) - starts[within] + 0.5) / sizes[within]
        # share is in (0, 1): share - bucket orders by bucket (descending), then share, exactly
        order_key = share - b
        if end < n:  # only the page is needed: the rows up to its last key, then sorted
            kth = np.partition(order_key, end - 1)[end - 1]
            candidates = np.flatnonzero(order_key <= kth)
        else:
            candidates = np.arange(n)
        return candidates[np.lexsort((rank[candidates], order_key[candidates]))]

    def clusters(self, query, cell_deg: float) -> list[dict]:
        """Grid clusters of ``query``'s located matches, as the SQL search makes them: one per cell
        of ``cell_deg`` degrees, with its count, mean position, smallest id (``pos``: candidate
        position) and smallest commune name; the biggest first, then by id."""
        rows, _ = self._within(query)
        for facet, values in query.filters.items():
            rows = rows[self._facet_mask(facet, values, rows)]
        rows = rows[~np.isnan(self.lat[rows])]
        if not len(rows):
            return []
        lat, lon = self.lat[rows], self.lon[rows]
        cells = np.stack([np.floor(lon / cell_deg), np.floor(lat / cell_deg)], axis=1)
        _, first, inverse, counts = np.unique(cells, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        inverse = inverse.reshape(-1)
        mean_lat = np.bincount(inverse, weights=lat) / counts
        mean_lon = np.bincount(inverse, weights=lon) / counts
        label_vocab = self.label_vocab["commune"]
        names = np.full(len(counts), len(label_vocab), dtype=np.int32)
        np.minimum.at(names, inverse, self.label_codes["commune"][rows])
        smallest = rows[first]  # rows ascend: a cell's first row is its smallest id
        order = np.lexsort((smallest, -counts))
        return [{"count": int(counts[k]), "lat": float(mean_lat[k]), "lon": float(mean_lon[k]),
                 "pos": int(smallest[k]),
                 "commune_name": label_vocab[names[k]] if names[k] < len(label_vocab) else None}
                for k in order.tolist()]
