"""Claims and holder edits through the gateway, in process, on the real database and broker:
claiming by e-mail confirmation and by partner review, every forbidden case (401 anonymous, 403
unverified / not a partner of a source / not the holder / not an operator, 409 already held), the
holder's edits validated, stored and published as HolderEditChanged, the project page mention."""

from __future__ import annotations

import re

import orjson
from aiokafka import AIOKafkaConsumer
from litestar.testing import AsyncTestClient
from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Contact, HolderEditChanged
from libs.contracts.topics import HOLDER_EDITS
from services.gateway.app import create_app
from services.gateway.claims import store
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database
from tests.helpers_accounts import body_of, create_user, csrf, link_in, login, wait_for_mail
from tests.integration.test_search_conformance import PROJECTS

SESSION = "carrefour_session"


async def _index(engine):
    """Two projects of the conformance fixtures: one with a published contact e-mail, one without."""
    with_contact = PROJECTS[0].model_copy(update={"contact": Contact(email="contact@jardin.example.org")})
    without = PROJECTS[1].model_copy(update={"contact": None})
    await PostgresIndexWriter(engine).upsert_many([(with_contact, 1), (without, 1), *((p, 1) for p in PROJECTS[2:])])
    return with_contact, without


class Sessions:
    """One test client, several logged-in people: swap the session cookie."""

    def __init__(self, client):
        self.client, self.tokens = client, {}

    async def login(self, email: str) -> None:
        self.client.cookies.delete(SESSION)
        await login(self.client, email)
        self.tokens[email] = self.client.cookies.get(SESSION)

    def be(self, email: str | None):
        self.client.cookies.delete(SESSION)
        if email:
            self.client.cookies.set(SESSION, self.tokens[email])
        return self.client


async def test_claims_edits_and_every_forbidden_case(stack, tmp_path):
    url = fresh_database(stack, "claims")
    engine = create_async_engine(url)
    mailbox = tmp_path / "mail"
    p1, p2 = await _index(engine)
    p1_sources = {s.partner for s in p1.sources}
    p2_sources = {s.partner for s in p2.sources}
    other_partner = "zz-partner"
    assert other_partner not in p1_sources | p2_sources
    alice = await create_user(engine, "alice@example.org", display_name="Alice Porteuse")
    bob = await create_user(engine, "bob@example.org")
    await create_user(engine, "carol@example.org", verified=False)
    await create_user(engine, "partner@example.org", partner=sorted(p2_sources)[0])
    await create_user(engine, "other@example.org", partner=other_partner)
    await create_user(engine, "op@example.org", roles=("operator",))

    consumer = AIOKafkaConsumer(HOLDER_EDITS, bootstrap_servers=stack.bootstrap, auto_offset_reset="latest",
                                group_id=None)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox)))
        async with AsyncTestClient(app=app) as client:
            s = Sessions(client)
            for email in ("alice@example.org", "bob@example.org", "carol@example.org", "partner@example.org",
                          "other@example.org", "op@example.org"):
                await s.login(email)

            # ---------------------------------------------------------------- anonymous: 401 / login redirect
            c = s.be(None)
            await csrf(c)
            anonymous = [
                ("post", "/api/v1/claims", {"project_id": p1.id}), ("get", "/api/v1/claims", None),
                ("get", "/api/v1/claims/pending", None), ("post", "/api/v1/claims/1/approve", {}),
                ("post", "/api/v1/claims/1/reject", {}), ("post", "/api/v1/claims/1/withdraw", None),
                ("get", f"/api/v1/projects/{p1.id}/holder-edits", None),
                ("put", f"/api/v1/projects/{p1.id}/holder-edits", {"summary": "x"}),
                ("post", f"/api/v1/projects/{p1.id}/holder/revoke", {}),
            ]
            for method, path, body in anonymous:
                r = await getattr(c, method)(path, **({"json": body} if body is not None else {}))
                assert r.status_code == 401, (method, path, r.status_code, r.text)
            for path in (f"/projets/{p1.id}/revendiquer", f"/projets/{p1.id}/modifier", "/revendications",
                         "/mes-projets"):
                r = await c.get(path, follow_redirects=False)
                assert r.status_code == 303 and r.headers["location"].startswith("/connexion?next="), path
            r = await c.post(f"/projets/{p1.id}/modifier", data={"summary": "x"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion")
            page = await c.get(f"/projets/{p1.id}")
            assert "Projet géré par son porteur" not in page.text and f"/projets/{p1.id}/revendiquer" in page.text

            # ---------------------------------------------------------------- claims
            c = s.be("carol@example.org")  # e-mail not verified
            r = await c.post("/api/v1/claims", json={"project_id": p1.id})
            assert r.status_code == 403, r.text
            c = s.be("alice@example.org")
            assert (await c.post("/api/v1/claims", json={"project_id": "nope-404"})).status_code == 404
            assert (await c.post("/api/v1/claims", json={"project_id": "../etc"})).status_code == 400
            assert (await c.post("/api/v1/claims", json={"project_id": p1.id, "message": "x" * 1001})).status_code == 400
            assert (await c.post("/api/v1/claims", json={"project_id": p1.id, "extra": 1})).status_code == 400
            r = await c.post("/api/v1/claims", json={"project_id": p1.id, "message": "Je suis la présidente."})
            assert r.status_code == 201, r.text
            claim1 = r.json()
            assert claim1["confirmation_sent_to"] == "c…@jardin.example.org"
            assert (await c.post("/api/v1/claims", json={"project_id": p1.id})).status_code == 409  # pending already

            msg = await wait_for_mail(mailbox, to="contact@jardin.example.org", subject_contains="Confirmez")
            assert "Alice Porteuse" in body_of(msg)
            link = link_in(msg, "/revendications/confirmer")
            token = re.search(r"jeton=([A-Za-z0-9_\-]+)", link).group(1)
            async with engine.connect() as conn:  # only the hash is stored
                stored = (await conn.execute(text("SELECT token_hash FROM claims WHERE id = :i"),
                                             {"i": claim1["id"]})).scalar()
                assert stored and token not in stored

            c = s.be(None)  # the contact confirms without an account
            page = await c.get(f"/revendications/confirmer?jeton={token}")
            assert page.status_code == 200 and "Je confirme" in page.text
            assert "Alice Porteuse" in page.text and "Je suis la présidente." in page.text
            r = await c.post("/revendications/confirmer", data={"token": token})
            assert r.status_code == 200 and "gère désormais la fiche" in r.text
            r = await c.post("/revendications/confirmer", data={"token": token})
            assert r.status_code == 404, "single use"
            assert (await c.get(f"/revendications/confirmer?jeton={token}")).status_code == 404
            assert (await c.post("/api/v1/claims/confirm", json={"token": "x" * 40})).status_code == 404
            await wait_for_mail(mailbox, to="alice@example.org", subject_contains="Vous gérez désormais")

            c = s.be("bob@example.org")
            r = await c.post("/api/v1/claims", json={"project_id": p1.id})
            assert r.status_code == 409 and "déjà géré" in r.json()["detail"]
            r = await c.post("/api/v1/claims", json={"project_id": p2.id})
            assert r.status_code == 201 and r.json()["confirmation_sent_to"] is None
            claim2 = r.json()["id"]
            # bob is neither partner nor operator
            assert (await c.get("/api/v1/claims/pending")).status_code == 403
            assert (await c.post(f"/api/v1/claims/{claim2}/approve", json={})).status_code == 403
            page = await c.get("/revendications")
            assert page.status_code == 403 and "réservée" in page.text
            # a partner whose organisation does not publish p2
            c = s.be("other@example.org")
            assert (await c.get("/api/v1/claims/pending")).json()["claims"] == []
            r = await c.post(f"/api/v1/claims/{claim2}/approve", json={})
            assert r.status_code == 403 and "partenaire" in r.json()["detail"]
            r = await c.post(f"/revendications/{claim2}", data={"decision": "approve"})
            assert r.status_code == 403
            # alice may not withdraw bob's claim
            c = s.be("alice@example.org")
            assert (await c.post(f"/api/v1/claims/{claim2}/withdraw")).status_code == 403
            assert (await c.post("/api/v1/claims/999999/approve", json={})).status_code == 404
            # the partner of one of p2's sources sees it and approves it through the page
            c = s.be("partner@example.org")
            pending = (await c.get("/api/v1/claims/pending")).json()["claims"]
            assert [p["id"] for p in pending] == [claim2] and pending[0]["claimant"]["email"] == "bob@example.org"
            page = await c.get("/revendications")
            assert page.status_code == 200 and str(escape(p2.title)) in page.text
            r = await c.post(f"/revendications/{claim2}", data={"decision": "approve", "reason": ""},
                             follow_redirects=False)
            assert r.status_code == 303, r.text
            assert (await c.post(f"/api/v1/claims/{claim2}/reject", json={})).status_code == 409
            await wait_for_mail(mailbox, to="bob@example.org", subject_contains="Vous gérez désormais")
            # the partner had been told of the claim waiting for review
            told = await wait_for_mail(mailbox, to="partner@example.org", subject_contains="Demande à examiner")
            assert "/revendications" in body_of(told)

            async with engine.connect() as conn:
                assert await store.holder_of(conn, p1.id) == alice and await store.holder_of(conn, p2.id) == bob
                assert await store.projects_of(conn, alice) == [p1.id]
                assert await store.contact_email_of(conn, p1.id) == "alice@example.org"

            # ---------------------------------------------------------------- holder edits
            for who in ("bob@example.org", "op@example.org", "partner@example.org"):
                c = s.be(who)
                assert (await c.get(f"/api/v1/projects/{p1.id}/holder-edits")).status_code == 403, who
                assert (await c.put(f"/api/v1/projects/{p1.id}/holder-edits",
                                    json={"summary": "pirate"})).status_code == 403, who
                page = await c.get(f"/projets/{p1.id}/modifier")
                assert page.status_code == 403, who
                assert (await c.post(f"/projets/{p1.id}/modifier", data={"summary": "pirate"})).status_code == 403
            c = s.be("alice@example.org")
            r = await c.put(f"/api/v1/projects/{p1.id}/holder-edits",
                            json={"website": "javascript:alert(1)", "themes": ["inconnue"], "stage": "fini"})
            assert r.status_code == 400 and set(r.json()["extra"]["errors"]) == {"website", "themes", "stage"}
            assert (await c.put(f"/api/v1/projects/{p1.id}/holder-edits", json={"title": "x"})).status_code == 400
            assert (await c.put(f"/api/v1/projects/{p1.id}/holder-edits",
                                json={"summary": "x" * 20_000})).status_code == 400
            edit = {"summary": "Le jardin, raconté par sa porteuse", "website": "https://jardin.example.org",
                    "stage": "developpement", "themes": ["alimentation", "sante"],
                    "contact_email": "jardin@porteuse.example.org"}
            r = await c.put(f"/api/v1/projects/{p1.id}/holder-edits", json=edit)
            assert r.status_code == 200, r.text
            assert r.json()["version"] == 1 and r.json()["contact_email"] == "jardin@porteuse.example.org"
            got = (await c.get(f"/api/v1/projects/{p1.id}/holder-edits")).json()
            assert got["fields"]["summary"] == edit["summary"] and got["fields"]["description"] is None

            # the HTML form: errors next to the fields, then a save
            page = await c.get(f"/projets/{p1.id}/modifier")
            assert page.status_code == 200 and 'value="Le jardin, raconté par sa porteuse"' in page.text
            r = await c.post(f"/projets/{p1.id}/modifier", data={"summary": "ok", "website": "pas une adresse",
                                                                 "contact_email": "non"})
            assert r.status_code == 400 and 'id="e-website"' in r.text and 'id="e-contact_email"' in r.text
            assert 'aria-invalid="true"' in r.text
            r = await c.post(f"/projets/{p1.id}/modifier", data={"summary": "Résumé du formulaire",
                                                                 "themes": ["alimentation", "culture"], "stage": ""})
            assert r.status_code == 200 and "Modifications enregistrées" in r.text

            # project page: the mention for everyone, the edit link for the holder only
            page = await c.get(f"/projets/{p1.id}")
            assert "Projet géré par son porteur" in page.text and f"/projets/{p1.id}/modifier" in page.text
            c = s.be("bob@example.org")
            page = await c.get(f"/projets/{p1.id}")
            assert "Projet géré par son porteur" in page.text and f"/projets/{p1.id}/modifier" not in page.text
            mine = await c.get("/mes-projets")
            assert mine.status_code == 200 and str(escape(p2.title)) in mine.text

            # ---------------------------------------------------------------- revocation: operators only
            c = s.be("partner@example.org")
            assert (await c.post(f"/api/v1/projects/{p1.id}/holder/revoke", json={})).status_code == 403
            c = s.be("op@example.org")
            r = await c.post(f"/api/v1/projects/{p1.id}/holder/revoke", json={"reason": "test"})
            assert r.status_code == 200 and r.json()["revoked_holder"] == alice
            assert (await c.post(f"/api/v1/projects/{p1.id}/holder/revoke", json={})).status_code == 404
            c = s.be("alice@example.org")
            assert (await c.get(f"/api/v1/projects/{p1.id}/holder-edits")).status_code == 403

            # ---------------------------------------------------------------- bad input never 500
            c = s.be("op@example.org")
            for path in ("/api/v1/claims/99999999999999999999/approve", "/api/v1/claims/0/reject"):
                assert (await c.post(path, json={})).status_code in (400, 404), path
            assert (await c.post("/revendications/99999999999999999999", data={"decision": "approve"})).status_code \
                in (400, 404)
            assert (await c.post("/revendications/1", data={"decision": "peut-etre"})).status_code == 400
            assert (await c.get("/revendications/confirmer?jeton=<script>")).status_code == 400
            assert (await c.post("/revendications/confirmer", data={"token": "x" * 5000})).status_code == 404
            assert (await c.put("/api/v1/projects/UPPER/holder-edits", json={})).status_code == 404
            assert (await c.get("/projets/nope-404/revendiquer")).status_code == 404

            # ---------------------------------------------------------------- at most 5 claims a day
            c = s.be("bob@example.org")
            statuses = [(await c.post("/api/v1/claims", json={"project_id": p.id})).status_code for p in PROJECTS[2:7]]
            assert statuses == [201, 201, 201, 201, 429], statuses
            # withdrawing from "Mes projets": one's own pending claims only
            pending_ids = [x["id"] for x in (await c.get("/api/v1/claims")).json()["claims"] if x["status"] == "pending"]
            assert len(pending_ids) == 4
            c = s.be("alice@example.org")
            r = await c.post(f"/mes-projets/demandes/{pending_ids[0]}/retrait", follow_redirects=False)
            assert r.status_code == 403
            c = s.be("bob@example.org")
            r = await c.post(f"/mes-projets/demandes/{pending_ids[0]}/retrait", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/mes-projets?retrait=ok"
            mine = await c.get("/mes-projets?retrait=ok")
            assert "Demande retirée." in mine.text and "retirée" in mine.text
            assert (await c.post(f"/api/v1/claims/{pending_ids[0]}/withdraw")).status_code == 409
            # a project no partner user publishes: the operators are told instead
            partner_slug = sorted(p2_sources)[0]
            assert any(partner_slug not in {x.partner for x in p.sources} for p in PROJECTS[2:6])
            await wait_for_mail(mailbox, to="op@example.org", subject_contains="Demande à examiner")

        # the events: full state of the published fields, never the private contact e-mail
        events = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=1000)
            events += [HolderEditChanged.model_validate(orjson.loads(m.value)) for ms in batch.values() for m in ms]
            if len(events) >= 3:
                break
        assert [(e.canonical_id, e.version) for e in events] == [(p1.id, 1), (p1.id, 2), (p1.id, 3)]
        assert events[0].fields == {"summary": edit["summary"], "description": None, "website": edit["website"],
                                    "stage": "developpement", "themes": ["alimentation", "sante"]}
        assert events[1].fields["themes"] == ["alimentation", "culture"] and events[1].fields["website"] is None
        assert set(events[2].fields.values()) == {None}, "revocation withdraws the holder's fields"
        raw = b"".join(orjson.dumps(e.model_dump(mode="json")) for e in events)
        assert b"jardin@porteuse.example.org" not in raw
        async with engine.connect() as conn:
            actions = [r.action for r in await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))]
        for action in ("claim.created", "claim.approved", "project.holder_edit", "claim.revoked"):
            assert action in actions
    finally:
        await consumer.stop()
        await engine.dispose()
