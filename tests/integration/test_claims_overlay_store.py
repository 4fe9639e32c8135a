"""Indexer side of holder edits on the real PostgreSQL: the overlay store, the equal-version index
write, canonical updates keeping the overlay in either order, clearing, and the full reindex."""

from __future__ import annotations

from libs.contracts.events import Location, NormalizedProject, Operation, ProjectGeocoded
from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.rules import parse_search
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import PostgresIndexWriter
from services.indexer.holder_edits import HolderOverlays, overlay, write_overlaid

LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59",
                 departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.63, lon=3.06,
                 precision="commune", method="commune+postcode")
EDIT = {"summary": "Le résumé du porteur", "description": None, "website": "https://porteur.example.org",
        "stage": "developpement", "themes": ["alimentation", "sante"]}


def _event(description: str) -> ProjectGeocoded:
    project = NormalizedProject(source="avise", source_record_id="42", url="https://avise.example/42",
                                title="Jardin des Lilas", summary="Résumé partenaire", description=description,
                                themes=["alimentation"], stage="idee", content_hash=description)
    return ProjectGeocoded(op=Operation.UPSERT, source="avise", source_record_id="42", project=project,
                           location=LILLE)


async def _index_canonical(overlays: HolderOverlays, writer: PostgresIndexWriter, change) -> None:
    """What on_canonical does for one upsert."""
    await writer.upsert_many(await overlays.apply([(change.project, change.version)]))


async def test_overlay_survives_partner_updates_in_any_order_and_can_be_cleared(engine):
    store, writer, overlays, search = DedupStore(engine), PostgresIndexWriter(engine), HolderOverlays(engine), \
        PostgresSearch(engine)
    [v1] = await store.apply(_event("Première description"))
    cid = v1.canonical_id
    await _index_canonical(overlays, writer, v1)
    assert (await search.get(cid))["summary"] == "Résumé partenaire"

    # the holder edit: stored, then the newest canonical written overlaid at the SAME version
    assert await overlays.store(cid, 1, EDIT)
    project, version = await overlays.current_canonical(cid)
    assert version == 1
    assert await write_overlaid(writer, overlay(project, (await overlays.fields_for([cid]))[cid]), version)
    doc = await search.get(cid)
    assert doc["version"] == 1 and doc["summary"] == "Le résumé du porteur"
    assert doc["theme"] == ["alimentation", "sante"] and doc["stage"] == "developpement"
    assert doc["description"] == "Première description", "unset field: the partners' value"
    assert doc["project"]["website"] == "https://porteur.example.org"
    assert doc["project"]["field_sources"]["summary"] == "holder"
    # facets and full text follow the overlay
    hits = await search.search(parse_search(q="porteur", filters={"theme": ["sante"]}))
    assert [h["id"] for h in hits["hits"]] == [cid]

    # an older or equal-version replay of the overlay changes nothing stored
    assert not await overlays.store(cid, 1, {"summary": "vieux"})

    # a partner update: the canonical path lays the stored overlay over version 2
    [v2] = await store.apply(_event("Deuxième description, plus longue"))
    assert v2.version == 2
    await _index_canonical(overlays, writer, v2)
    doc = await search.get(cid)
    assert (doc["version"], doc["description"], doc["summary"]) == (2, "Deuxième description, plus longue",
                                                                    "Le résumé du porteur")

    # race: the holder path already wrote v3 (read from the dedup store) when the v3 canonical
    # event is indexed with an older overlay: the strict guard refuses it
    [v3] = await store.apply(_event("Troisième"))
    assert await overlays.store(cid, 2, {**EDIT, "summary": "Résumé v2 du porteur"})
    project, version = await overlays.current_canonical(cid)
    assert version == 3
    await write_overlaid(writer, overlay(project, (await overlays.fields_for([cid]))[cid]), version)
    await writer.upsert_many([(overlay(v3.project, EDIT), v3.version)])  # stale overlay, same version
    doc = await search.get(cid)
    assert (doc["version"], doc["summary"], doc["description"]) == (3, "Résumé v2 du porteur", "Troisième")
    # an older canonical version never wins over the holder write either
    assert not await write_overlaid(writer, v1.project, 1)

    # clearing every field: the partners' values again
    assert await overlays.store(cid, 3, dict.fromkeys(EDIT))
    project, version = await overlays.current_canonical(cid)
    await write_overlaid(writer, overlay(project, (await overlays.fields_for([cid]))[cid]), version)
    doc = await search.get(cid)
    assert (doc["summary"], doc["theme"], doc["stage"]) == ("Résumé partenaire", ["alimentation"], "idee")
    assert "summary" not in doc["project"]["field_sources"]


async def test_full_reindex_keeps_the_overlay(engine):
    store, writer, overlays, search = DedupStore(engine), PostgresIndexWriter(engine), HolderOverlays(engine), \
        PostgresSearch(engine)
    [v1] = await store.apply(_event("Une description"))
    await overlays.store(v1.canonical_id, 1, {"summary": "Résumé du porteur"})
    n = await writer.rebuild(overlays.overlaid(store.all_canonical()))
    assert n == 1
    assert (await search.get(v1.canonical_id))["summary"] == "Résumé du porteur"
    # unknown project: the overlay is kept for when it arrives, nothing is indexed
    assert await overlays.store("pas-encore-la", 1, {"summary": "x"})
    assert await overlays.current_canonical("pas-encore-la") is None
