"""The gateway's search result cache on the real PostgreSQL: it serves repeated searches, and any
write to the index (upsert, tombstone, equal-version holder edit, raw SQL, TRUNCATE, the
zero-downtime rebuild) invalidates it at once — or, with a staleness allowance, within it."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.rules import parse_search
from services.indexer.adapters.search import PostgresIndexWriter
from services.indexer.holder_edits import write_overlaid
from tests.integration.test_search_conformance import BY_ID, PROJECTS

Q = dict(q="velo", filters={"theme": ["mobilite"]})


async def _ids(reader: PostgresSearch, **params) -> set[str]:
    return {h["id"] for h in (await reader.search(parse_search(**params)))["hits"]}


async def _generation(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT generation FROM search_index_state"))).scalar()


async def test_repeated_search_is_served_from_the_cache_until_a_write(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    first = await reader.search(parse_search(**Q))
    assert first["total"] >= 1
    hits, docs = reader.candidates.hits, reader.docs.hits
    again = await reader.search(parse_search(q="  Vélo ", filters={"theme": ["mobilite"]}))  # same normalised words
    assert again == first and reader.candidates.hits == hits + 1 and reader.docs.hits == docs + first["total"]
    again["hits"][0]["title"] = "changed by a caller"  # callers may mutate what they get
    again["hits"].clear()
    assert (await reader.search(parse_search(**Q)))["hits"] == first["hits"]
    other = await reader.search(parse_search(q="velo", filters={"theme": ["alimentation"]}))  # same words: no SQL
    assert reader.candidates.hits == hits + 3 and other["facets"]["theme"] == first["facets"]["theme"]

    renamed = BY_ID["velo-lille"].model_copy(update={"title": "Vélo-école du Vieux-Lille"})
    assert await writer.upsert(renamed, 2)
    fresh = await reader.search(parse_search(**Q))
    assert {h["title"] for h in fresh["hits"] if h["id"] == "velo-lille"} == {"Vélo-école du Vieux-Lille"}


async def test_whole_answers_are_memoised_per_generation(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    await writer.upsert(PROJECTS[0], 1)
    computed = []

    async def compute() -> bytes:
        computed.append(await _ids(reader, per_page=50))
        return repr(computed[-1]).encode()

    first = await reader.memo(("k",), compute)
    assert await reader.memo(("k",), compute) == first and len(computed) == 1
    await writer.upsert(PROJECTS[1], 1)
    assert await reader.memo(("k",), compute) != first and computed[-1] == {PROJECTS[0].id, PROJECTS[1].id}
    assert await PostgresSearch(engine, cache_mb=0).memo(("k",), compute) and len(computed) == 3  # cache off


async def test_every_kind_of_write_invalidates(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    everything = dict(per_page=50)
    ids = await _ids(reader, **everything)
    assert "velo-lille" in ids

    g = await _generation(engine)
    assert await writer.delete("velo-lille", 2)  # tombstone
    assert await _generation(engine) > g
    assert await _ids(reader, **everything) == ids - {"velo-lille"}

    # a holder's edit: an equal-version write, by another module's SQL
    edited = BY_ID["cuisine-paris"].model_copy(update={"title": "Cuisine du porteur"})
    assert await write_overlaid(writer, edited, 1)
    assert "Cuisine du porteur" in {h["title"] for h in (await reader.search(parse_search(**everything)))["hits"]}

    async with engine.begin() as conn:  # any writer at all: the trigger is on the table
        await conn.execute(text("UPDATE search_documents SET deleted = true, doc = NULL WHERE id = 'cuisine-paris'"))
    assert "cuisine-paris" not in await _ids(reader, **everything)

    await writer.clear()  # TRUNCATE
    assert await _ids(reader, **everything) == set()


async def test_rebuild_swaps_in_a_table_that_still_bumps_the_generation(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    await writer.upsert(PROJECTS[0], 1)
    assert await _ids(reader, per_page=50) == {PROJECTS[0].id}

    async def rest():
        for project in PROJECTS[1:]:
            yield project, 1

    g = await _generation(engine)
    assert await writer.rebuild(rest()) == len(PROJECTS) - 1
    assert await _generation(engine) > g
    assert await _ids(reader, per_page=50) == {p.id for p in PROJECTS[1:]}
    async with engine.connect() as conn:
        triggers = (await conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'search_documents'::regclass AND NOT tgisinternal"
        ))).scalars().all()
    assert triggers == ["search_documents_generation"]

    await writer.upsert(PROJECTS[0], 2)  # the swapped-in table's own trigger
    assert await _ids(reader, per_page=50) == {p.id for p in PROJECTS}


async def test_staleness_is_bounded_by_max_stale_ms(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4, max_stale_ms=1000)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    before = await _ids(reader, **Q)
    assert await writer.delete("velo-lille", 2)
    committed = time.monotonic()
    # within the allowance the cached result may still be served (here it is: no read since)
    if time.monotonic() - committed < 0.5:
        assert await _ids(reader, **Q) == before
    await asyncio.sleep(max(0.0, committed + 1.0 - time.monotonic()) + 0.01)
    assert await _ids(reader, **Q) == before - {"velo-lille"}


async def test_concurrent_searches_share_generation_reads_and_see_a_write_committed_before_they_arrive(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    reads = reader.generation._reads
    before = reads._value.get()
    results = await asyncio.gather(*(reader.search(parse_search(**Q)) for _ in range(40)))
    assert len({str(r) for r in results}) == 1
    assert reads._value.get() - before <= 3  # batched, not one read per search
    assert reader.candidate_reads == 1  # one candidate set read, shared by the 40 searches

    async def write_then_search():
        await writer.delete("velo-lille", 2)
        return await _ids(reader, **Q)

    noise = [reader.search(parse_search(**Q)) for _ in range(20)]
    _, after, *_ = await asyncio.gather(asyncio.gather(*noise), write_then_search())
    assert "velo-lille" not in after


async def test_cache_off_reads_no_generation(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=0)
    await writer.upsert(PROJECTS[0], 1)
    assert reader.cache is None
    assert await _ids(reader) == {PROJECTS[0].id}
    assert reader.generation.value is None


async def test_without_the_generation_table_searches_run_uncached(engine):
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4)
    await writer.upsert(PROJECTS[0], 1)
    async with engine.begin() as conn:  # a database the gateway reached before migration 0010
        await conn.execute(text("DROP TRIGGER search_documents_generation ON search_documents"))
        await conn.execute(text("DROP TABLE search_index_state"))
    assert await _ids(reader) == {PROJECTS[0].id}
    assert await _ids(reader) == {PROJECTS[0].id} and len(reader.candidates) == 0


async def test_candidate_sets_wait_for_the_index_to_settle(engine):
    """While writes keep landing, searches run in SQL (a candidate set would be emptied by the next
    write); once the generation has stood ``settle_ms``, the words' candidate set is read."""
    writer, reader = PostgresIndexWriter(engine), PostgresSearch(engine, cache_mb=4, settle_ms=300)
    sql = PostgresSearch(engine, cache_mb=0)
    for project in PROJECTS:
        await writer.upsert(project, 1)
    expected = await sql.search(parse_search(**Q))
    assert await reader.search(parse_search(**Q)) == expected and reader.candidate_reads == 0
    await asyncio.sleep(0.35)
    assert await reader.search(parse_search(**Q)) == expected and reader.candidate_reads == 1
    assert await writer.delete("velo-lille", 2)  # a new generation: SQL again until it settles
    after = await reader.search(parse_search(**Q))
    assert after == await sql.search(parse_search(**Q)) and reader.candidate_reads == 1
    assert "velo-lille" not in {h["id"] for h in after["hits"]}
    await asyncio.sleep(0.35)
    assert await reader.search(parse_search(**Q)) == after and reader.candidate_reads == 2
