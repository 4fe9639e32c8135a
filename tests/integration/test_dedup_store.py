"""Deduplication state in the real PostgreSQL: clusters, versions, replays, deletions, moves."""

from __future__ import annotations

from sqlalchemy import text

from libs.contracts.events import (
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)
from services.indexer.adapters.db import DedupStore

ROUBAIX = Location(commune_code="59512", commune_name="Roubaix", postcode="59100", departement_code="59",
                   departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.69, lon=3.18,
                   precision="commune", method="commune+postcode")
LILLE = ROUBAIX.model_copy(update={"commune_code": "59350", "commune_name": "Lille", "postcode": "59000"})


def _event(source: str, rid: str, title: str, description: str = "", location: Location = ROUBAIX,
           op: Operation = Operation.UPSERT) -> ProjectGeocoded:
    project = None
    if op is Operation.UPSERT:
        project = NormalizedProject(source=source, source_record_id=rid, url=f"https://{source}.example/{rid}",
                                    title=title, description=description, themes=["environnement-dechets"],
                                    content_hash=f"{title}|{description}")
    return ProjectGeocoded(op=op, source=source, source_record_id=rid, project=project,
                           location=location if project else None)


async def test_same_project_from_two_partners_is_one_canonical(engine):
    store = DedupStore(engine)
    [a] = await store.apply(_event("avise", "1", "Roubaix Zéro Déchet", "court"))
    assert a.op is Operation.UPSERT and a.version == 1 and len(a.project.sources) == 1

    [b] = await store.apply(_event("cerdd", "9", "ROUBAIX zéro-déchet !", "une description plus longue"))
    assert b.canonical_id == a.canonical_id, "same folded title, same commune"
    assert b.version == 2
    assert {s.partner for s in b.project.sources} == {"avise", "cerdd"}
    assert b.project.description == "court"  # the oldest source's, not the longest
    assert b.project.field_sources["description"] == "avise:1"

    # a replay (redelivery) returns the current state without a new version
    [again] = await store.apply(_event("cerdd", "9", "ROUBAIX zéro-déchet !", "une description plus longue"))
    assert again.version == 2 and again.project == b.project

    # one source leaves: the project stays with the other
    [c] = await store.apply(_event("cerdd", "9", "", op=Operation.DELETE))
    assert c.op is Operation.UPSERT and c.version == 3
    assert [s.partner for s in c.project.sources] == ["avise"]

    # the last source leaves: the canonical project is deleted; replaying the deletion is stable
    [d] = await store.apply(_event("avise", "1", "", op=Operation.DELETE))
    assert d.op is Operation.DELETE and d.version == 4 and d.canonical_id == a.canonical_id
    [d2] = await store.apply(_event("avise", "1", "", op=Operation.DELETE))
    assert d2.op is Operation.DELETE and d2.version == 4

    # and it can come back under the same id (a stable URL), with a newer version
    [e] = await store.apply(_event("avise", "1", "Roubaix Zéro Déchet", "retour"))
    assert e.canonical_id == a.canonical_id and e.version == 5 and e.op is Operation.UPSERT


async def test_different_communes_do_not_merge_and_a_moved_record_leaves_its_cluster(engine):
    store = DedupStore(engine)
    [r] = await store.apply(_event("avise", "1", "Jardin partagé des Lilas"))
    [l] = await store.apply(_event("fonda", "2", "Jardin partagé des Lilas", location=LILLE))
    assert r.canonical_id != l.canonical_id

    # avise:1 is corrected to Lille: it joins the Lille project and the Roubaix one disappears
    changes = {c.canonical_id: c for c in await store.apply(_event("avise", "1", "Jardin partagé des Lilas", location=LILLE))}
    assert changes[r.canonical_id].op is Operation.DELETE
    assert {s.partner for s in changes[l.canonical_id].project.sources} == {"avise", "fonda"}


async def test_deleting_an_unknown_record_changes_nothing(engine):
    assert await DedupStore(engine).apply(_event("avise", "nope", "", op=Operation.DELETE)) == []


async def test_features_of_an_older_matching_are_recomputed_and_rescore_keeps_ids(engine):
    store = DedupStore(engine)
    [a] = await store.apply(_event("avise", "1", "Roubaix Zéro Déchet", "court"))
    async with engine.begin() as conn:  # as stored by an older version: no version, other fields
        await conn.execute(text("UPDATE dedup_records SET features = jsonb_build_object('title', 'x')"))
    [b] = await store.apply(_event("cerdd", "9", "ROUBAIX zéro-déchet !", "une description plus longue"))
    assert b.canonical_id == a.canonical_id, "the stale candidate was recomputed, not skipped"
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE dedup_records SET features = jsonb_build_object('title', 'x')"))
    before = await store.clusters()
    assert await store.rescore_all(batch=1) >= 1
    assert await store.clusters() == before
    async with engine.connect() as conn:
        versions = (await conn.execute(text("SELECT DISTINCT features->>'v' FROM dedup_records"))).scalars().all()
    assert versions == ["2"]
