"""The documents cache's charge per document holds: a hit document parsed from its JSON takes at
most ``DOC_BYTES_PER_JSON_BYTE`` bytes of memory per byte of JSON (PostgreSQL's ``jsonb::text``
has spaces after ``:`` and ``,``, longer than the compact JSON measured here: safer still)."""

from __future__ import annotations

import sys

import orjson

from benchmarks.bench_search import projects
from services.gateway.search.postgres import DOC_BYTES_PER_JSON_BYTE
from services.indexer.domain import search_document


def deep_size(value, seen: set[int] | None = None) -> int:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        size += sum(deep_size(x, seen) for x in value)
    return size


def test_a_parsed_document_fits_its_charge():
    ratios = []
    for project in projects(300):
        doc = search_document(project, 1).model_dump(mode="json")
        doc.pop("project", None)  # the gateway reads ``doc - 'project'``
        raw = orjson.dumps(doc)
        ratios.append(deep_size(orjson.loads(raw)) / len(raw))
    assert max(ratios) <= DOC_BYTES_PER_JSON_BYTE
    assert max(ratios) > DOC_BYTES_PER_JSON_BYTE - 1.5  # the charge is near the real size, not far above
