"""A partner cannot take over another partner's project by pushing a look-alike record: through
the real dedup store (embedded PostgreSQL) and the gateway's claims API (real database and broker),
partner B's project keeps B's title, description and contact, and a claim sends no confirmation
link to anyone (the sources disagree on the contact: operator review)."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Contact, Location, NormalizedProject, Operation, ProjectGeocoded
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, login, read_mailbox, wait_for_mail

TULLE = Location(commune_code="19272", commune_name="Tulle", postcode="19000", departement_code="19",
                 lat=45.27317, lon=1.76309, precision="commune")


def event(source: str, rid: str, title: str, description: str, email: str, phone: str) -> ProjectGeocoded:
    project = NormalizedProject(
        source=source, source_record_id=rid, url=f"https://{source}.example.org/projets/{rid}", title=title,
        description=description, summary=description[:200], holder_name="Centre social des Lilas",
        contact=Contact(email=email, phone=phone), commune="Tulle", postcode="19000",
        content_hash=f"{source}-{rid}-{title}")
    return ProjectGeocoded(op=Operation.UPSERT, source=source, source_record_id=rid, project=project, location=TULLE)


async def test_a_look_alike_takes_over_neither_contact_nor_claim(stack, tmp_path):
    url = fresh_database(stack, "hijack")
    engine = create_async_engine(url)
    mailbox = tmp_path / "mail"
    try:
        store = DedupStore(engine)
        mine = event("partner-b", "b-1", "Bricothèque Partagée",
                     "Prêt d'outils et ateliers de bricolage au centre social des Lilas, depuis 2019.",
                     "contact@bricotheque-tulle.fr", "05 55 20 00 00")
        await store.apply(mine)
        await asyncio.sleep(0.01)  # B is the older source
        look_alike = event("partner-a", "a-7", "BRICOTHÈQUE PARTAGÉE – Tulle",
                           "La bricothèque partagée de Tulle prête des outils à tous les habitants et propose "
                           "des ateliers : une description bien plus longue que celle de l'autre partenaire. " * 3,
                           "inscriptions@partner-a.example.org", "01 00 00 00 00")
        changes = await store.apply(look_alike)
        clusters = await store.clusters()
        assert clusters["partner-a:a-7"] == clusters["partner-b:b-1"], "the look-alike is recognised as a duplicate"
        [canonical] = [c.project for c in changes if c.project and c.canonical_id == clusters["partner-b:b-1"]]
        assert canonical.title == "Bricothèque Partagée"
        assert canonical.description == mine.project.description
        assert canonical.contact.email == "contact@bricotheque-tulle.fr"
        assert canonical.contact.phone == mine.project.contact.phone
        assert {canonical.field_sources[k] for k in ("title", "description", "contact")} == {"partner-b:b-1"}
        assert canonical.contact_agreed is False
        await PostgresIndexWriter(engine).upsert_many([(canonical, 1)])

        await create_user(engine, "pirate@partner-a.example.org")
        await create_user(engine, "alice@example.org")
        # the same project as if its sources agreed: its contact does receive the link (the
        # check below is not "never send")
        agreed = canonical.model_copy(update={"id": canonical.id[:-1] + "0", "contact_agreed": True})
        await PostgresIndexWriter(engine).upsert_many([(agreed, 1)])
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox)))
        async with AsyncTestClient(app=app) as client:
            await login(client, "pirate@partner-a.example.org")
            r = await client.post("/api/v1/claims", json={"project_id": canonical.id})
            assert r.status_code == 201, r.text
            assert r.json()["confirmation_sent_to"] is None  # to operator review, not to any e-mail
            await login(client, "alice@example.org")
            r = await client.post("/api/v1/claims", json={"project_id": agreed.id})
            assert r.status_code == 201 and r.json()["confirmation_sent_to"], r.text
            await wait_for_mail(mailbox, to="contact@bricotheque-tulle.fr", subject_contains="Confirmez")
        confirmations = [m["To"] for m in read_mailbox(mailbox) if "Confirmez" in (m["Subject"] or "")]
        assert confirmations == ["contact@bricotheque-tulle.fr"], confirmations  # the agreed one only
    finally:
        await engine.dispose()
