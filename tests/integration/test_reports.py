"""Reports about a project through the gateway, in process, on the real database and broker: a
visitor's report (checked, CSRF-protected, rate-limited per connection), the moderators' queue
(moderators only), a confirmed duplicate becoming a dedup override published on
``dedup.overrides.v1``, a confirmed "closed" flagging the project, the reporter told by mail."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import (
    SourceRef,
)
from services.gateway.app import create_app
from services.gateway.reports.rules import LIMITS
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.db import DedupStore
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, csrf, login, wait_for_mail
from tests.helpers_dedup import read_published, roubaix_event
from tests.integration.test_search_conformance import PROJECTS, T0


def _project(pid: str, partner: str, rid: str, title: str):
    base = PROJECTS[1]
    return base.model_copy(update={"id": pid, "title": title, "sources": [
        SourceRef(partner=partner, record_id=rid, url=f"https://{partner}.example.org/{rid}", last_seen=T0)]})


async def _report(client, project: str, **fields):
    token = await csrf(client)
    return await client.post(f"/projets/{project}/signaler", data={**fields, "_csrf_token": token},
                             follow_redirects=False)


async def test_reports_from_visitor_to_moderator(stack, tmp_path, overrides_consumer):
    url = fresh_database(stack, "reports")
    engine = create_async_engine(url)
    mailbox = tmp_path / "mail"
    try:
        store = DedupStore(engine)
        for e in (roubaix_event("avise", "1", "La Passerelle", "lieu"),
                  roubaix_event("cerdd", "2", "Épicerie La Passerelle", "lieu")):
            await store.apply(e)
        await PostgresIndexWriter(engine).upsert_many([
            (_project("passerelle-a", "avise", "1", "La Passerelle"), 1),
            (_project("passerelle-b", "cerdd", "2", "Épicerie La Passerelle"), 1),
            (_project("fermee", "avise", "9", "Le Jardin fermé"), 1)])
        await create_user(engine, "modo@example.org", roles=("moderator",))
        await create_user(engine, "alice@example.org")
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox),
                                         public_base_url="https://carrefour.example"))
        async with AsyncTestClient(app=app) as client:
            # the form, and what it refuses
            assert (await client.get("/projets/passerelle-a/signaler")).status_code == 200
            assert (await client.get("/projets/inconnu/signaler")).status_code == 404
            no_csrf = await client.post("/projets/passerelle-a/signaler", data={"kind": "closed"},
                                        follow_redirects=False)
            assert no_csrf.status_code == 403
            bad = await _report(client, "passerelle-a", kind="duplicate", duplicate_of="https://x/projets/inconnu")
            assert bad.status_code == 400 and "Ce projet n&#39;existe pas" in bad.text
            bad = await _report(client, "passerelle-a", kind="wrong_info", detail="faux")
            assert bad.status_code == 400 and "quelques mots" in bad.text
            assert (await _report(client, "inconnu", kind="closed")).status_code == 404

            # accepted: post/redirect/get
            r = await _report(client, "passerelle-a", kind="duplicate", email="Temoin@Example.org",
                              duplicate_of="https://carrefour.example/projets/passerelle-b", detail="Le même lieu.")
            assert r.status_code == 303 and r.headers["location"] == "/projets/passerelle-a?signalement=merci"
            r = await _report(client, "fermee", kind="closed", email="temoin@example.org")
            assert r.status_code == 303
            # a robot filling the hidden field: answered as a person, nothing stored
            assert (await _report(client, "fermee", kind="closed", website="http://spam")).status_code == 303

            # rate limit per connection: up to the hour's limit, then refused
            hour = LIMITS[0]
            for _ in range(hour.max - 2):
                assert (await _report(client, "fermee", kind="wrong_place", detail="Pas à Roubaix")).status_code == 303
            for _ in range(3):  # one past the limit, and beyond
                refused = await _report(client, "fermee", kind="wrong_place", detail="Pas à Roubaix")
                assert refused.status_code == 429 and "réessayez dans une heure" in refused.text
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM reports"))).scalar_one() == hour.max

            # the queue: moderators only
            page = await client.get("/moderation/signalements", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/connexion")
            await login(client, "alice@example.org")
            assert (await client.get("/moderation/signalements")).status_code == 403
            client.cookies.delete("carrefour_session")
            await login(client, "modo@example.org")
            page = await client.get("/moderation/signalements")
            assert page.status_code == 200 and f"{hour.max} signalements en attente" in page.text
            async with engine.connect() as conn:
                ids = dict((await conn.execute(text(
                    "SELECT kind, min(id) FROM reports GROUP BY kind"))).all())

            token = await csrf(client)
            bad = await client.post(f"/moderation/signalements/{ids['duplicate']}/decision",
                                    data={"decision": "peut-etre", "_csrf_token": token})
            assert bad.status_code == 400 and "Décision inconnue" in bad.text
            r = await client.post(f"/moderation/signalements/{ids['duplicate']}/decision",
                                  data={"decision": "confirmed", "note": "Fusionnés.", "_csrf_token": token},
                                  follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/moderation/signalements?fait=confirmed"
            again = await client.post(f"/moderation/signalements/{ids['duplicate']}/decision",
                                      data={"decision": "rejected", "_csrf_token": token})
            assert again.status_code == 409 and "déjà été traité" in again.text
            r = await client.post(f"/moderation/signalements/{ids['closed']}/decision",
                                  data={"decision": "confirmed", "_csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303
            r = await client.post(f"/moderation/signalements/{ids['wrong_place']}/decision",
                                  data={"decision": "rejected", "_csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303

            # the effects: the project marked closed, the others not
            assert "Activité arrêtée" in (await client.get("/projets/fermee")).text
            assert "Activité arrêtée" not in (await client.get("/projets/passerelle-a")).text
            assert "Activité arrêtée" in (await client.get("/", params={"q": "jardin ferme"})).text
            assert "Activité arrêtée" in (await client.get("/projets/fermee/carte")).text
            mail = await wait_for_mail(mailbox, to="temoin@example.org", subject_contains="Votre signalement",
                                       count=2)
            bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in
                      [mail, await wait_for_mail(mailbox, to="temoin@example.org", subject_contains="Passerelle")]]
            assert any("Fusionnés." in b and "https://carrefour.example/projets/passerelle-a" in b for b in bodies)

        async with engine.connect() as conn:
            overrides = (await conn.execute(text("SELECT record_a, record_b, decision FROM dedup_decisions"))).all()
            statuses = dict((await conn.execute(text(
                "SELECT status, count(*) FROM reports GROUP BY status"))).all())
        assert [tuple(o) for o in overrides] == [("avise:1", "cerdd:2", "same")]
        assert statuses == {"confirmed": 2, "rejected": 1, "open": hour.max - 3}
        events = await read_published(overrides_consumer, 1, "the merge was")
        assert [(e["record_a"], e["record_b"], e["decision"]) for e in events] == [("avise:1", "cerdd:2", "same")]
    finally:
        await engine.dispose()
