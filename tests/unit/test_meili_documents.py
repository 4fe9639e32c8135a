"""What the Meilisearch writer sends (pure: no server). The answers themselves are compared with
the PostgreSQL reader's in tests/integration/test_search_conformance.py when a server is there;
these pin what that comparison relies on for the country facet, also where no server runs."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.contracts.events import CanonicalProject, Location, SourceRef
from services.gateway.search.meili import LABELLED as READER_LABELLED
from services.indexer.adapters.search_meili import (
    LABELLED,
    meili_document,
    meili_settings,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _project(location: Location) -> CanonicalProject:
    return CanonicalProject(id="repair", title="Repair café", location=location, first_seen=T0, updated_at=T0,
                            sources=[SourceRef(partner="beta", record_id="1", url="https://b.example/1", last_seen=T0)])


def test_the_country_is_a_filterable_labelled_facet_and_the_city_searchable() -> None:
    settings = meili_settings()
    assert {"country", "country_label"} <= set(settings["filterableAttributes"])
    assert "locality" in settings["searchableAttributes"]
    assert LABELLED == READER_LABELLED and LABELLED["country"] == "country_name"


def test_a_document_abroad_carries_its_country_city_and_point() -> None:
    doc = meili_document(_project(Location(country="BE", locality="Brussels", lat=50.8503, lon=4.3517,
                                           precision="commune", method="abroad-city")), 1)
    assert (doc["country"], doc["country_name"], doc["country_label"]) == ("BE", "Belgique", "BE|Belgique")
    assert doc["locality"] == "Brussels" and doc["_geo"] == {"lat": 50.8503, "lng": 4.3517}
    assert doc["region"] is None and doc["region_label"] is None and doc["commune_label"] is None


def test_an_unlocated_document_has_no_country() -> None:
    doc = meili_document(_project(Location()), 1)
    assert doc["country"] is None and doc["country_label"] is None and "_geo" not in doc


class _StubIndex:
    """Stands in for the Meilisearch index: stored versions, and every add_documents task sent."""

    def __init__(self, stored: dict[str, int]):
        self.stored, self.tasks = stored, []

    def add_documents(self, documents, primary_key):
        self.tasks.append([(d["id"], d["version"]) for d in documents])
        self.stored.update({d["id"]: d["version"] for d in documents})
        return len(self.tasks)


async def test_a_batch_is_one_task_and_keeps_the_version_guard() -> None:
    from services.indexer.adapters.search_meili import MeiliIndexWriter

    writer = MeiliIndexWriter("http://meili.invalid")
    index = _StubIndex({"old": 5, "same": 3})
    writer._ready = True
    writer._index = lambda: index
    writer._wait = lambda task, what: task
    writer._stored_version = lambda cid: index.stored.get(cid, 0)
    p = lambda cid: _project(Location()).model_copy(update={"id": cid})  # noqa: E731
    written = await writer.upsert_many([(p("new"), 1), (p("old"), 4), (p("same"), 3), (p("twice"), 1),
                                        (p("twice"), 2), (p("newer"), 7)])
    assert written == 3 and len(index.tasks) == 1, index.tasks
    assert sorted(index.tasks[0]) == [("new", 1), ("newer", 7), ("twice", 2)], "older or equal versions never land"
    assert await writer.upsert_many([(p("new"), 1)]) == 0 and len(index.tasks) == 1, "a replay sends nothing"
    assert await writer.upsert_many([]) == 0


def test_every_attribute_the_gateway_filters_on_is_filterable():
    """Meilisearch refuses a filter on an attribute not declared filterable (every project page would
    answer 500): the attributes named in the gateway's Meilisearch filters are all declared."""
    import re

    from services.indexer.adapters.search_meili import meili_settings
    from tools.devstack import ROOT

    declared = set(meili_settings()["filterableAttributes"])
    used: set[str] = set()
    for name in ("meili.py", "similar.py"):
        code = (ROOT / "services" / "gateway" / "search" / name).read_text(encoding="utf-8")
        # a filter expression starts a string: "deleted = false", f"id != {…}", "first_seen_month >= …"
        used |= set(re.findall(r'f?"([a-z_][a-z0-9_]*) (?:!=|=|IN \[|>=|<=|>|<) ', code))
    used.discard("_geoRadius")
    assert "id" in used and "deleted" in used, used  # the scan sees the filters it must check
    assert used <= declared, f"filtered but not filterable: {sorted(used - declared)}"
