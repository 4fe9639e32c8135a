"""End to end: the five services as separate processes on the embedded broker and database.

Demo partner sites are served from files on a free local port; the crawler harvests them once.
A partner push goes through the gateway; malformed input lands on deadletter.v1 with a reason
while every service keeps running.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from libs.contracts.events import PartnerRecord, SourceRecordEvent
from libs.contracts.topics import PARTNER_INGEST
from tests.conftest import (
    create_api_key,
    fresh_database,
    print_log_tails,
    read_deadletters,
    wait_ready,
    wait_until,
)
from tools.devstack import DEMO_SITES_DIR, ROOT, SERVICES, free_port, serve_demo_sites

pytestmark = pytest.mark.e2e
API_KEY = "e2e-key-" + uuid.uuid4().hex
PARTNER = "e2e-partner"


class Pipeline:
    def __init__(self, stack, base_url: str, log_dir: Path, bootstrap: str):
        self.stack, self.base_url, self.log_dir, self.bootstrap = stack, base_url, log_dir, bootstrap

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.stack.services.items()}

    def logs(self, service: str) -> list[dict]:
        lines = (self.log_dir / f"{service}.log").read_text(errors="replace").splitlines()
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@pytest.fixture(scope="module")
def pipeline(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    database_url = fresh_database(stack, "e2e")
    sites_port, gateway_port = free_port(), free_port()
    sites = serve_demo_sites(sites_port, DEMO_SITES_DIR)
    partners = yaml.safe_load((ROOT / "services/crawler/partners.demo.yaml").read_text())
    for p in partners["partners"]:
        for holder in (p, p["options"]):
            for k in ("base_url", "url"):
                if k in holder:
                    holder[k] = holder[k].replace("127.0.0.1:8765", f"127.0.0.1:{sites_port}")
    partners_file = tmp / "partners.yaml"
    partners_file.write_text(yaml.safe_dump(partners, allow_unicode=True))

    create_api_key(database_url, PARTNER, API_KEY, label="e2e")
    log_dir = tmp / "logs"
    stack.start_services(
        SERVICES, log_dir=log_dir, DATABASE_URL=database_url, GATEWAY_PORT=str(gateway_port),
        CARREFOUR_PARTNERS_FILE=str(partners_file), CRAWL_ONCE="true",
    )
    base_url = f"http://127.0.0.1:{gateway_port}"
    try:
        wait_ready(base_url, timeout=30)
        yield Pipeline(stack, base_url, log_dir, stack.bootstrap)
    finally:
        stack.stop_services()
        sites.shutdown()
        print_log_tails(log_dir, SERVICES)


async def _search(pipeline: Pipeline, **params) -> dict:
    async with httpx.AsyncClient(base_url=pipeline.base_url, timeout=10) as client:
        r = await client.get("/api/v1/search", params=params)
        assert r.status_code == 200, r.text
        return r.json()


async def _deadletters(bootstrap: str, predicate, timeout: float = 30.0, want: int = 1) -> list[dict]:
    return await read_deadletters(bootstrap, predicate, want=want, timeout=timeout)


async def test_demo_sites_are_harvested_and_deduplicated(pipeline):
    async def roubaix():
        body = await _search(pipeline, q="zero dechet")
        # avise and cerdd records arrive one after the other: wait for the merged view
        return body if body["total"] >= 1 and len(body["hits"][0]["source"]) == 2 else None

    body = await wait_until(roubaix, timeout=60, what="the Roubaix project merged from both partners")
    hit = body["hits"][0]
    assert hit["title"] == "Roubaix territoire pilote Zéro Déchet"
    assert hit["commune"] == "59512" and hit["departement"] == "59" and hit["region"] == "32"
    assert hit["source"] == ["avise", "cerdd"], "published by two partners, shown once with both sources"
    assert body["total"] == 1

    async def everything():
        body = await _search(pipeline, per_page=100)
        return body if body["total"] >= 54 else None

    body = await wait_until(everything, timeout=60, what="all 54 distinct demo projects")
    assert body["total"] == 54  # 59 good records, 5 published twice
    titles = {h["title"] for h in body["hits"]}
    for seed in ["Les Talents d'Alphonse", "Santé, nutrition et gestion du budget", "Papa Charlie",
                 "Parrainage de proximité PEPSE", "LERIS fablab numérique mobile", "Graine de troc",
                 "Roubaix territoire pilote Zéro Déchet", "Alternativ'hotel"]:
        assert seed in titles
    assert body["facets"]["region"]["32"] >= 2
    assert body["labels"]["region"]["06"] == "Mayotte"

    mayotte = await _search(pipeline, departement="976")
    assert "Santé, nutrition et gestion du budget" in {h["title"] for h in mayotte["hits"]}

    async with httpx.AsyncClient(base_url=pipeline.base_url) as client:
        page = await client.get("/", params={"q": "zéro déchet"})
        assert page.status_code == 200 and "Roubaix territoire pilote Zéro Déchet" in page.text
        project = await client.get(f"/api/v1/projects/{hit['id']}")
        assert {s["partner"] for s in project.json()["project"]["sources"]} == {"avise", "cerdd"}
        html = await client.get(f"/projets/{hit['id']}")
        assert html.status_code == 200 and "cerdd" in html.text


async def test_crawled_bad_records_are_dead_lettered(pipeline):
    letters = await _deadletters(pipeline.bootstrap, lambda d: d["origin_topic"] == "crawl:social-planet", want=2)
    reasons = " | ".join(d["reason"] for d in letters)
    assert "sp-0360" in reasons and "title" in reasons
    assert "sp-0361" in reasons and "http or https" in reasons


async def test_partner_push_is_searchable_and_replays_change_nothing(pipeline):
    title = f"Épicerie solidaire du Marais {uuid.uuid4().hex[:6]}"
    record = {"source": PARTNER, "source_record_id": "push-1", "url": "https://exemple.org/epicerie",
              "title": title, "description": "<p>Une épicerie <strong>solidaire</strong> &amp; conviviale.</p>",
              "commune": "Paris", "postcode": "75003", "themes": ["Alimentation", "Précarité"]}
    async with httpx.AsyncClient(base_url=pipeline.base_url, timeout=10) as client:
        r = await client.post("/api/v1/ingest", json={"records": [record]}, headers={"X-API-Key": API_KEY})
        assert r.status_code == 202, r.text
        correlation_id = r.json()["correlation_id"]

    async def found():
        body = await _search(pipeline, q="epicerie marais", source=PARTNER)
        return body if body["total"] == 1 else None

    hit = (await wait_until(found, timeout=30, what="the pushed project"))["hits"][0]
    assert hit["title"] == title
    assert hit["description"] == "Une épicerie solidaire & conviviale."
    assert hit["commune"] == "75056" and "alimentation" in hit["theme"]
    version = hit["version"]

    # the correlation id of the push is on the log line of every hop
    for service in ("normalizer", "geocoder", "indexer"):
        lines = [line for line in pipeline.logs(service) if line.get("correlation_id") == correlation_id]
        assert lines and all(line["event"] == "handled" for line in lines), service
        assert {"topic", "event_id", "outcome", "duration_ms", "service"} <= set(lines[0])

    # replaying the very same event (at-least-once redelivery) changes nothing
    event = SourceRecordEvent.upsert(PartnerRecord.model_validate(record))
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(PARTNER_INGEST, event.model_dump_json().encode(), key=b"%s:push-1" % PARTNER.encode())
    finally:
        await producer.stop()

    async def replayed():
        lines = [line for line in pipeline.logs("indexer") if line.get("correlation_id") == event.correlation_id]
        return lines if len(lines) >= 2 else None

    await wait_until(replayed, timeout=30, what="the replayed events handled by the indexer")
    again = await _search(pipeline, q="epicerie marais", source=PARTNER)
    assert again["total"] == 1 and again["hits"][0]["version"] == version

    # a deletion takes it out of the index
    async with httpx.AsyncClient(base_url=pipeline.base_url, timeout=10) as client:
        r = await client.post("/api/v1/ingest", headers={"X-API-Key": API_KEY},
                              json={"deletions": [{"source": PARTNER, "source_record_id": "push-1"}]})
        assert r.status_code == 202

    async def gone():
        return (await _search(pipeline, q="epicerie marais", source=PARTNER))["total"] == 0

    await wait_until(gone, timeout=30, what="the deleted project to leave the index")


async def test_malformed_records_are_dead_lettered_and_nothing_crashes(pipeline):
    marker = uuid.uuid4().hex
    key = f"{PARTNER}:poison-{marker[:6]}".encode()  # bad and good messages share a key: one partition
    bad_payloads = [
        b"{not json " + marker.encode(),
        orjson.dumps({"op": "upsert", "source": "x", "marker": marker}),
        orjson.dumps({"schema_version": 1, "op": "upsert", "source": PARTNER, "source_record_id": marker,
                      "record": {"source": PARTNER, "source_record_id": marker, "url": "javascript:alert(1)",
                                 "title": "<b></b>"}}),
        b"\xff\xfe" + marker.encode(),
        marker.encode() + b"\x01" * 150_000,  # over the contracts' 100,000 characters: once blocked a partition
    ]
    kinds = ["Garage solidaire", "Jardin partagé", "Épicerie sociale", "Fablab mobile", "Ressourcerie",
             "Café associatif", "Grainothèque", "Atelier vélo", "Laverie sociale", "Recyclerie",
             "Tiers-lieu rural", "Cantine solidaire", "Bricothèque", "Friperie", "Repair café",
             "Maraîchage d'insertion", "Habitat inclusif", "Covoiturage rural", "Boutique éphémère", "Auto-école sociale"]
    towns = [("Reims", "51100"), ("Brest", "29200"), ("Dijon", "21000"), ("Tulle", "19000"), ("Angers", "49000")]
    goods = [SourceRecordEvent.upsert(PartnerRecord(
        source=PARTNER, source_record_id=f"after-bad-{marker[:6]}-{n}", url=f"https://exemple.org/apres/{n}",
        title=f"{kind} {marker[:6]}", commune=towns[n % 5][0], postcode=towns[n % 5][1]))
        for n, kind in enumerate(kinds)]
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(PARTNER_INGEST, payload, key=key) for payload in bad_payloads]
        for event in goods:
            await producer.send_and_wait(PARTNER_INGEST, event.model_dump_json().encode(), key=key)
    finally:
        await producer.stop()
    assert len({m.partition for m in sent}) == 1

    async def all_letters():
        letters = await _deadletters(pipeline.bootstrap, lambda d: marker in d["payload"], timeout=5,
                                     want=len(bad_payloads) + 1)
        return letters if len(letters) >= len(bad_payloads) else None

    letters = await wait_until(all_letters, timeout=40, what="five dead letters")
    assert sorted(d["origin_offset"] for d in letters) == [m.offset for m in sent], "each bad message once"
    assert all(d["origin_topic"] == PARTNER_INGEST and d["service"] == "normalizer" for d in letters)
    reasons = sorted(d["reason"] for d in letters)
    assert any("not valid JSON" in r for r in reasons)
    assert any("url" in r and "http or https" in r for r in reasons)
    assert any("record" in r or "source_record_id" in r for r in reasons)
    oversize = [d for d in letters if d["payload_bytes"] > 150_000]
    assert len(oversize) == 1 and oversize[0]["payload_truncated"] and len(oversize[0]["payload"]) <= 65_536
    assert all(pipeline.alive().values()), pipeline.alive()

    # every good record behind the bad ones on the same partition arrives
    async def after():
        body = await _search(pipeline, q=marker[:6], per_page=50)
        return body if body["total"] == len(goods) else None

    await wait_until(after, timeout=30, what="the 20 good records behind the bad ones")


async def test_gateway_rejects_bad_requests_clearly(pipeline):
    async with httpx.AsyncClient(base_url=pipeline.base_url, timeout=10) as client:
        good = {"source": PARTNER, "source_record_id": "r", "url": "https://exemple.org", "title": "t"}
        assert (await client.post("/api/v1/ingest", json={"records": [good]})).status_code == 401
        assert (await client.post("/api/v1/ingest", json={"records": [good]},
                                  headers={"X-API-Key": "wrong"})).status_code == 401
        other = {**good, "source": "avise"}
        r = await client.post("/api/v1/ingest", json={"records": [other]}, headers={"X-API-Key": API_KEY})
        assert r.status_code == 403 and "avise" in r.text
        r = await client.post("/api/v1/ingest", content=b"{oops", headers={"X-API-Key": API_KEY})
        assert r.status_code == 400
        r = await client.post("/api/v1/ingest", json={"records": [{**good, "lat": 95, "lon": 2}]},
                              headers={"X-API-Key": API_KEY})
        assert r.status_code == 400 and "records.0.lat" in r.text
        r = await client.get("/api/v1/search", params={"per_page": 1000})
        assert r.status_code == 400 and "per_page" in r.text
        r = await client.get("/api/v1/search", params={"theme": "<script>"})
        assert r.status_code == 400 and "theme" in r.text
        assert (await client.get("/api/v1/projects/..%2Fetc")).status_code == 404
        assert (await client.get("/schema/openapi.json")).status_code == 200
        assert (await client.get("/health")).json() == {"status": "ok"}
        # metrics are served on METRICS_PORT (off here), never by the public app
        assert (await client.get("/metrics")).status_code == 404
    assert all(pipeline.alive().values())
