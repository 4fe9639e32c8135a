"""End to end: a holder's edit goes from the gateway through the real broker to the indexer
process, which lays it over the canonical project in the search index; a later partner update
keeps it; clearing the fields brings the partners' values back.

The indexer runs as its own process (``python -m services.indexer``) on a fresh database; the
partner record enters it on ``projects.geocoded.v1`` (what the geocoder would publish); the
gateway runs in process and is used through its API like a browser would."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Location, NormalizedProject, Operation, ProjectGeocoded
from libs.contracts.topics import PROJECTS_GEOCODED
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database, print_log_tails, wait_until
from tests.helpers_accounts import create_user, login
from tools.devstack import start_service, stop_process

pytestmark = pytest.mark.e2e
LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59",
                 departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.63, lon=3.06,
                 precision="commune", method="commune+postcode")


def _geocoded(rid: str, title: str, description: str) -> ProjectGeocoded:
    project = NormalizedProject(source="avise", source_record_id=rid, url=f"https://avise.example/{rid}",
                                title=title, summary="Résumé des partenaires", description=description,
                                themes=["alimentation"], stage="idee", content_hash=uuid.uuid4().hex)
    return ProjectGeocoded(op=Operation.UPSERT, source="avise", source_record_id=rid, project=project,
                           location=LILLE)


async def _send(bootstrap: str, event: ProjectGeocoded) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(PROJECTS_GEOCODED, event.model_dump_json().encode(), key=event.key.encode())
    finally:
        await producer.stop()


async def test_holder_edit_overlay_through_broker_and_indexer(stack, tmp_path):
    url = fresh_database(stack, "clov")
    engine = create_async_engine(url)
    log_dir = tmp_path / "logs"
    indexer = start_service("indexer", stack.service_env(DATABASE_URL=url, LOG_LEVEL="INFO"), log_dir)
    rid = "clov-" + uuid.uuid4().hex[:8]
    title = f"Épicerie solidaire {rid}"
    try:
        await create_user(engine, f"alice-{rid}@example.org")
        await create_user(engine, f"op-{rid}@example.org", roles=("operator",))
        await _send(stack.bootstrap, _geocoded(rid, title, "La description des partenaires."))

        async def project_id():
            async with engine.connect() as conn:
                return (await conn.execute(text(
                    "SELECT id FROM search_documents WHERE NOT deleted AND doc->>'title' = :t"), {"t": title})).scalar()

        cid = await wait_until(project_id, timeout=60, what="the partner record indexed by the indexer process")

        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap,
                                  mailbox_dir=str(tmp_path / "mail")))
        async with AsyncTestClient(app=app) as client:
            async def doc():
                r = await client.get(f"/api/v1/projects/{cid}", headers={"cache-control": "no-cache"})
                assert r.status_code == 200
                return r.json()

            # claim (no published contact: an operator approves), then edit
            await login(client, f"alice-{rid}@example.org")
            r = await client.post("/api/v1/claims", json={"project_id": cid})
            assert r.status_code == 201, r.text
            claim_id = r.json()["id"]
            client.cookies.delete("carrefour_session")
            await login(client, f"op-{rid}@example.org")
            assert (await client.post(f"/api/v1/claims/{claim_id}/approve", json={})).status_code == 200
            client.cookies.delete("carrefour_session")
            await login(client, f"alice-{rid}@example.org")
            edit = {"summary": "Le résumé écrit par la porteuse", "stage": "developpement",
                    "themes": ["alimentation", "solidarite-lien-social"], "website": "https://epicerie.example.org",
                    "contact_email": "prive@epicerie.example.org"}
            r = await client.put(f"/api/v1/projects/{cid}/holder-edits", json=edit)
            assert r.status_code == 200, r.text

            async def overlaid():
                d = await doc()
                return d if d["summary"] == edit["summary"] else None

            d = await wait_until(overlaid, timeout=30, what="the holder's edit in the search index")
            assert d["stage"] == "developpement" and d["theme"] == ["alimentation", "solidarite-lien-social"]
            assert d["description"] == "La description des partenaires."
            assert d["project"]["website"] == "https://epicerie.example.org"
            assert d["project"]["field_sources"]["summary"] == "holder"
            assert "prive@epicerie.example.org" not in str(d), "the private contact e-mail is never published"
            version = d["version"]
            found = await client.get("/api/v1/search", params={"q": "porteuse", "theme": "solidarite-lien-social"})
            assert cid in [h["id"] for h in found.json()["hits"]]
            page = await client.get(f"/projets/{cid}")
            assert "Projet géré par son porteur" in page.text and f"/projets/{cid}/modifier" in page.text

            # a later partner update: a new canonical version, the holder's fields kept
            await _send(stack.bootstrap, _geocoded(rid, title, "Une description des partenaires mise à jour."))

            async def updated():
                d = await doc()
                return d if d["version"] > version and "mise à jour" in d["description"] else None

            d = await wait_until(updated, timeout=30, what="the partner update indexed")
            assert d["summary"] == edit["summary"] and d["stage"] == "developpement"
            assert d["theme"] == ["alimentation", "solidarite-lien-social"]

            # the holder empties the fields: the partners' values again
            r = await client.put(f"/api/v1/projects/{cid}/holder-edits", json={})
            assert r.status_code == 200

            async def cleared():
                d = await doc()
                return d if d["summary"] == "Résumé des partenaires" else None

            d = await wait_until(cleared, timeout=30, what="the cleared overlay in the search index")
            assert d["stage"] == "idee" and d["theme"] == ["alimentation"]
            assert "mise à jour" in d["description"]
    except BaseException:
        print_log_tails(log_dir, ["indexer"], lines=40)
        raise
    finally:
        stop_process(indexer)
        await engine.dispose()
