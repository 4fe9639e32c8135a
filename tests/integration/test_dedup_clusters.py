"""Scored clustering in the real PostgreSQL: fuzzy joins, stable ids, same-source rule, splits,
operator overrides, stored explanations."""

from __future__ import annotations

from sqlalchemy import text

from libs.contracts.events import (
    Contact,
    DedupOverrideChanged,
    Location,
    NormalizedProject,
    Operation,
    ProjectGeocoded,
)
from services.indexer.adapters.db import DedupStore

LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59", region_code="32",
                 lat=50.63, lon=3.05, precision="commune")
NANTES = Location(commune_code="44109", commune_name="Nantes", postcode="44000", departement_code="44",
                  region_code="52", lat=47.22, lon=-1.55, precision="commune")


def ev(source: str, rid: str, title: str, location: Location = LILLE, url: str | None = None, **fields) -> ProjectGeocoded:
    project = NormalizedProject(source=source, source_record_id=rid, url=url or f"https://{source}.example/{rid}",
                                title=title, content_hash=f"{title}|{sorted(fields.items())}|{location.commune_code}",
                                **fields)
    return ProjectGeocoded(op=Operation.UPSERT, source=source, source_record_id=rid, project=project, location=location)


def gone(source: str, rid: str) -> ProjectGeocoded:
    return ProjectGeocoded(op=Operation.DELETE, source=source, source_record_id=rid)


async def test_variants_join_one_project_whose_id_never_changes(engine):
    store = DedupStore(engine)
    [a] = await store.apply(ev("avise", "1", "Épicerie solidaire La Passerelle"))
    [b] = await store.apply(ev("la-fonda", "7", "Association La Passerelle – épicerie solidaire (Lille)",
                               contact=Contact(website="https://www.la-passerelle-lille.fr/")))
    # a typo alone in the same town is not enough; with the same website it is
    [c] = await store.apply(ev("cerdd", "3", "EPICERIE SOLIDAIRE LA PASERELLE",
                               contact=Contact(website="http://la-passerelle-lille.fr", phone="03 20 11 22 33")))
    assert a.canonical_id == b.canonical_id == c.canonical_id
    assert (a.version, b.version, c.version) == (1, 2, 3)
    assert {s.partner for s in c.project.sources} == {"avise", "la-fonda", "cerdd"}

    clusters = await store.clusters()
    assert set(clusters.values()) == {a.canonical_id}
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT record_a, record_b, weight, matched, explanation FROM dedup_matches ORDER BY weight DESC"))).all()
        weights = dict((await conn.execute(text("SELECT record_key, match_weight FROM dedup_records"))).all())
    pairs = {(r.record_a, r.record_b): r for r in rows}
    ab = pairs[("avise:1", "la-fonda:7")]
    assert ab.matched and ab.explanation["comparisons"]["title"]["level"] == "exact"
    assert ab.explanation["comparisons"]["place"]["level"] == "same_commune"
    bc = pairs[("cerdd:3", "la-fonda:7")]
    assert bc.matched and bc.explanation["comparisons"]["contact"]["level"] == "same"
    ac = pairs[("avise:1", "cerdd:3")]  # stored too, with its explanation
    assert ac.explanation["comparisons"]["title"]["level"] == "close"
    assert all(w is not None and w >= 5 for w in weights.values())


async def test_near_misses_stay_apart(engine):
    store = DedupStore(engine)
    [lille] = await store.apply(ev("avise", "1", "Repair café La Ruche"))
    [nantes] = await store.apply(ev("la-fonda", "2", "Repair café La Ruche", location=NANTES))
    [other] = await store.apply(ev("cerdd", "3", "Repair café Le Moulin"))
    [generic_a] = await store.apply(ev("fej", "4", "Jardin partagé", holder_name="Association Les Lilas"))
    [generic_b] = await store.apply(ev("unccas", "5", "Jardin partagé", holder_name="Centre social Bois Blancs"))
    assert len({lille.canonical_id, nantes.canonical_id, other.canonical_id, generic_a.canonical_id,
                generic_b.canonical_id}) == 5


async def test_one_partner_never_publishes_one_project_twice_unless_same_url(engine):
    store = DedupStore(engine)
    [a] = await store.apply(ev("avise", "1", "Tiers-lieu La Quincaillerie"))
    [b] = await store.apply(ev("avise", "2", "Tiers-lieu La Quincaillerie"))
    assert a.canonical_id != b.canonical_id, "same source, different pages: two antennas"
    changes = await store.apply(ev("avise", "3", "Tiers-lieu La Quincaillerie", url="https://avise.example/1"))
    assert {c.canonical_id for c in changes} == {a.canonical_id}, "the same page under another id joins it"


async def test_a_changed_record_splits_its_cluster_and_the_rest_keeps_the_id(engine):
    store = DedupStore(engine)
    [a] = await store.apply(ev("avise", "1", "Garage solidaire Mobil'Emploi"))
    await store.apply(ev("fej", "2", "Garage solidaire Mobil Emploi"))
    [c] = await store.apply(ev("cerdd", "3", "Mobil'Emploi, garage solidaire"))
    assert c.canonical_id == a.canonical_id and len(c.project.sources) == 3

    # fej:2 turns out to be another project, elsewhere: it leaves; the project keeps its id
    changes = {x.canonical_id: x for x in await store.apply(ev("fej", "2", "Atelier vélo Le Phare", location=NANTES))}
    assert len(changes) == 2
    kept = changes[a.canonical_id]
    assert kept.op is Operation.UPSERT and {s.partner for s in kept.project.sources} == {"avise", "cerdd"}
    [new_id] = set(changes) - {a.canonical_id}
    assert [s.partner for s in changes[new_id].project.sources] == ["fej"]

    # deleting one source keeps the project; deleting the last deletes it, once
    [d1] = await store.apply(gone("avise", "1"))
    assert d1.canonical_id == a.canonical_id and d1.op is Operation.UPSERT
    [d2] = await store.apply(gone("cerdd", "3"))
    assert d2.op is Operation.DELETE
    [d3] = await store.apply(gone("cerdd", "3"))
    assert d3.op is Operation.DELETE and d3.version == d2.version

    # block sizes stayed exact through updates and deletions (they decide which blocks are read)
    async with engine.connect() as conn:
        wrong = (await conn.execute(text(
            "SELECT count(*) FROM (SELECT block_key, count(*) AS c FROM dedup_blocks GROUP BY 1) b "
            "FULL JOIN dedup_block_sizes s USING (block_key) WHERE coalesce(s.n, 0) <> coalesce(b.c, 0)"))).scalar()
    assert wrong == 0


async def test_operator_overrides_are_respected_by_later_runs(engine):
    store = DedupStore(engine)
    [a] = await store.apply(ev("avise", "1", "Ferme urbaine Le Cerisier"))
    [b] = await store.apply(ev("la-fonda", "2", "Le Cerisier – ferme urbaine"))
    assert a.canonical_id == b.canonical_id
    cause = DedupOverrideChanged(record_a="avise:1", record_b="la-fonda:2", decision="not_same")

    # the indexer stores the decision it receives (its dedup_overrides) and re-clusters in one transaction
    changes = {c.canonical_id: c for c in await store.apply_override("la-fonda:2", "avise:1", cause,
                                                                      decision="not_same")}
    assert len(changes) == 2 and a.canonical_id in changes
    assert all(len(c.project.sources) == 1 for c in changes.values())

    # a later update of either record does not merge them again
    await store.apply(ev("la-fonda", "2", "Le Cerisier – ferme urbaine", description="Nouvelle description " * 5))
    clusters = await store.clusters()
    assert clusters["avise:1"] != clusters["la-fonda:2"]

    # "same" joins two records the scores keep apart (a renamed project, another town)
    [x] = await store.apply(ev("cerdd", "9", "Les Jardins d'Émile", location=NANTES))
    assert x.canonical_id != clusters["avise:1"]
    await store.apply_override("avise:1", "cerdd:9", cause, decision="same")
    clusters = await store.clusters()
    assert clusters["avise:1"] == clusters["cerdd:9"] == a.canonical_id
    await store.apply(ev("cerdd", "9", "Les Jardins d'Émile", location=NANTES, description="Mis à jour " * 8))
    assert (await store.clusters())["cerdd:9"] == a.canonical_id
