"""What the Meilisearch writer sends (pure: no server). The answers themselves are compared with
the PostgreSQL reader's in tests/integration/test_search_conformance.py when a server is there;
these pin what that comparison relies on for the country facet, also where no server runs."""

from __future__ import annotations

from datetime import datetime, timezone

from libs.contracts.events import CanonicalProject, Location, SourceRef
from services.gateway.search.meili import LABELLED as READER_LABELLED
from services.indexer.adapters.search_meili import (
    LABELLED,
    meili_document,
    meili_settings,
)

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


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
