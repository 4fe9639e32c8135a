"""Contact between visitors and holders, in process, on the real database and broker: the first
message (anonymous with confirmation, or logged in), the recipient's e-mail with an unguessable
reply-to, replies on the platform and by e-mail (Maildir and webhook, quotes stripped), the
``answered`` event, every anti-abuse rule, moderation and every forbidden case."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import Contact, MatchmakingChanged
from libs.contracts.topics import MATCHMAKING
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database, wait_until
from tests.helpers_accounts import (
    body_of,
    create_user,
    csrf,
    link_in,
    login,
    logout,
    make_holder,
    read_mailbox,
    wait_for_mail,
)
from tests.integration.test_search_conformance import ROWS, make_project

DOMAIN = "carrefour.test"
SECRET = "inbound-secret-for-tests-0123456789"
BODY = "Bonjour, je voudrais rejoindre le jardin partagé et apporter des graines."
JARDIN = "jardin-roubaix"      # no holder: its published contact gets the mail
EPICERIE = "epicerie-lyon"     # a verified holder
CONTACT = "contact@jardin.example.org"


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "contact")
    engine = create_async_engine(url)
    projects = [make_project(i, row, contact=Contact(email=CONTACT) if row[0] in (JARDIN, EPICERIE) else None)
                for i, row in enumerate(ROWS)]
    await PostgresIndexWriter(engine).upsert_many([(p, 1) for p in projects])
    holder = await create_user(engine, "porteuse@exemple.org", display_name="Porteuse")
    visitor = await create_user(engine, "visiteur@exemple.org", display_name="Visiteur")
    other = await create_user(engine, "autre@exemple.org", display_name="Autre")
    moderator = await create_user(engine, "modo@exemple.org", roles=("moderator",))
    await make_holder(engine, EPICERIE, holder)
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO mm_posts (id, kind, author_id, project_id, title, description, themes, departement, "
            "expires_at) VALUES ('appel-compost', 'call_for_expertise', :u, :p, 'Expertise compost', 'Besoin', "
            "ARRAY['alimentation'], '69', :x)"),
            {"u": holder, "p": EPICERIE, "x": datetime.now(UTC) + timedelta(days=30)})
    mailbox, inbound = tmp_path / "mailbox", tmp_path / "inbound"
    cfg = GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox),
                   inbound_mailbox_dir=str(inbound), inbound_secret=SECRET, inbound_poll_s=0.2, mail_domain=DOMAIN,
                   public_base_url="http://carrefour.test")
    app = create_app(cfg)
    yield dict(app=app, engine=engine, mailbox=mailbox, inbound=inbound, holder=holder, visitor=visitor,
               other=other, moderator=moderator)
    await engine.dispose()


def reply_to_token(msg: EmailMessage) -> str:
    m = re.fullmatch(rf"reponse\+([A-Za-z0-9_-]+)@{re.escape(DOMAIN)}", str(msg["Reply-To"]))
    assert m, msg["Reply-To"]
    return m.group(1)


def reply_mail(to: str, body: str, message_id: str, sender: str = "Quelqu'un <quelquun@exemple.org>",
               **headers) -> bytes:
    """A reply as a mail client sends it; ``sender`` must be the replying party's address to be appended."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Re: votre message"
    msg["Message-ID"] = message_id
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg.as_bytes()


async def count(engine, sql: str, **params) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def test_anonymous_message_to_a_project_without_holder_goes_to_its_contact_after_confirmation(env):
    async with AsyncTestClient(app=env["app"]) as client:
        page = await client.get(f"/contact/projet/{JARDIN}")
        assert page.status_code == 200 and "Jardin partagé" in page.text and CONTACT not in page.text
        token = await csrf(client)
        r = await client.post(f"/contact/projet/{JARDIN}", data={
            "name": "Paul", "email": "paul@exemple.fr", "body": BODY, "site_web": "", "_csrf_token": token})
        assert r.status_code == 200 and "Vérifiez votre boîte" in r.text, r.text[:500]
        confirm = await wait_for_mail(env["mailbox"], to="paul@exemple.fr", subject_contains="Confirmez")
        link = link_in(confirm, "/conversation/")
        assert not [m for m in read_mailbox(env["mailbox"]) if CONTACT in str(m["To"])]  # nothing before confirming
        path = link.split("carrefour.test", 1)[1]
        page = await client.get(path)
        assert page.status_code == 200 and "Confirmer l'envoi" in page.text and CONTACT not in page.text
        r = await client.post(path + "/confirmer", data={"_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        mail = await wait_for_mail(env["mailbox"], to=CONTACT, subject_contains="Message à propos")
        assert BODY in body_of(mail) and "paul@exemple.fr" not in body_of(mail)
        assert "revendiquez" in body_of(mail)
        # confirming twice sends nothing more
        await client.post(path + "/confirmer", data={"_csrf_token": token}, follow_redirects=False)
        await asyncio.sleep(1.0)
        assert len([m for m in read_mailbox(env["mailbox"]) if CONTACT in str(m["To"])]) == 1

        # the contact answers by e-mail: appended without the quote, forwarded to Paul, via the webhook
        token_r = reply_to_token(mail)
        raw = reply_mail(f"reponse+{token_r}@{DOMAIN}", "Avec plaisir, venez samedi !\n\nLe 26 nov. 2026, "
                         "Carrefour a écrit :\n> " + BODY, "<r1@exemple.org>", sender=f"Contact <{CONTACT}>")
        assert (await client.post("/api/v1/inbound-mail", content=raw)).status_code == 401
        assert (await client.post("/api/v1/inbound-mail", content=raw,
                                  headers={"x-inbound-secret": "wrong"})).status_code == 401
        r = await client.post("/api/v1/inbound-mail", content=raw, headers={"x-inbound-secret": SECRET})
        assert r.status_code == 200 and r.json()["outcome"] == "appended", r.text
        r = await client.post("/api/v1/inbound-mail", content=raw, headers={"x-inbound-secret": SECRET})
        assert r.json()["outcome"] == "duplicate"  # same Message-ID: once only
        fwd = await wait_for_mail(env["mailbox"], to="paul@exemple.fr", subject_contains="Re:")
        assert "Avec plaisir, venez samedi !" in body_of(fwd) and BODY not in body_of(fwd)
        assert CONTACT not in body_of(fwd) and CONTACT not in str(fwd["Reply-To"])
        page = await client.get(link_in(fwd, "/conversation/").split("carrefour.test", 1)[1])
        assert "Avec plaisir, venez samedi !" in page.text and CONTACT not in page.text

        # Paul answers on the platform with his secret link: the contact gets it
        r = await client.post(path + "/repondre", data={"body": "Super, à samedi.", "_csrf_token": token},
                              follow_redirects=False)
        assert r.status_code == 303
        await wait_for_mail(env["mailbox"], to=CONTACT, subject_contains="Message à propos", count=2)

        # Paul answers the forwarded mail by e-mail too (the provider gives the envelope recipient)
        paul = reply_mail("Liste <cachee@exemple.org>", "Parfait.\n\n> Avec plaisir", "<p1@exemple.fr>",
                          sender="Paul <PAUL@exemple.fr>")
        r = await client.post("/api/v1/inbound-mail", content=paul, headers={"x-inbound-secret": SECRET},
                              params={"recipient": str(fwd["Reply-To"])})
        assert r.json()["outcome"] == "appended"
        again = await wait_for_mail(env["mailbox"], to=CONTACT, subject_contains="Message à propos", count=3)
        assert "Parfait." in body_of(again) and "Avec plaisir" not in body_of(again)

        # automatic answers and unknown tokens are not appended
        auto = reply_mail(f"reponse+{token_r}@{DOMAIN}", "Je suis absente.", "<r2@exemple.org>",
                          Auto_Submitted="auto-replied")
        r = await client.post("/api/v1/inbound-mail", content=auto, headers={"x-inbound-secret": SECRET})
        assert r.json()["outcome"] == "automatic"
        forged = reply_mail(f"reponse+{'A' * 43}@{DOMAIN}", "Coucou", "<r3@exemple.org>")
        r = await client.post("/api/v1/inbound-mail", content=forged, headers={"x-inbound-secret": SECRET})
        assert r.json()["outcome"] == "unknown_token"
        assert (await client.get("/conversation/" + "B" * 43)).status_code == 404
    assert await count(env["engine"], "SELECT count(*) FROM contact_messages") == 4
    assert await count(env["engine"], "SELECT count(*) FROM contact_messages WHERE channel = 'email'") == 2


async def test_logged_in_message_to_a_holder_reply_by_maildir_and_answered_event(env, stack):
    consumer = AIOKafkaConsumer(MATCHMAKING, bootstrap_servers=stack.bootstrap, auto_offset_reset="latest",
                                group_id=None)
    await consumer.start()
    try:
        await consumer.seek_to_end()
        async with AsyncTestClient(app=env["app"]) as client:
            await login(client, "visiteur@exemple.org")
            r = await client.post("/api/v1/contact/messages", json={
                "target_kind": "post", "target_id": "appel-compost", "body": BODY})
            assert r.status_code == 202 and r.json()["status"] == "sent", r.text
            conv_id = r.json()["conversation_id"]
            mail = await wait_for_mail(env["mailbox"], to="porteuse@exemple.org", subject_contains="Message à propos")
            assert BODY in body_of(mail) and "visiteur@exemple.org" not in mail.as_string()
            assert f"/messages/{conv_id}" in body_of(mail)

            # the holder replies by e-mail: a file in the inbound Maildir, picked up by the lifespan poller
            token_r = reply_to_token(mail)
            (env["inbound"] / "new").mkdir(parents=True, exist_ok=True)
            (env["inbound"] / "new" / "1.mail").write_bytes(reply_mail(
                f"Carrefour <reponse+{token_r}@{DOMAIN}>", "Merci ! Appelez-moi.\n\nOn Thu, Nov 26, 2026 at 6:30 PM "
                "Carrefour wrote:\n> " + BODY, "<m1@exemple.org>", sender="porteuse@exemple.org"))
            fwd = await wait_for_mail(env["mailbox"], to="visiteur@exemple.org", subject_contains="Re:")
            assert "Merci ! Appelez-moi." in body_of(fwd) and "porteuse@exemple.org" not in fwd.as_string()
            assert next(iter((env["inbound"] / "cur").iterdir())).name.endswith(":2,S")

            got = (await client.get(f"/api/v1/contact/conversations/{conv_id}")).json()
            assert [(m["author"], m["body"]) for m in got["messages"]] == [("sender", BODY),
                                                                             ("recipient", "Merci ! Appelez-moi.")]
            assert got["role"] == "sender" and got["answered"] and "porteuse" not in orjson.dumps(got).decode()
            listed = (await client.get("/api/v1/contact/conversations")).json()["conversations"]
            assert [c["id"] for c in listed] == [conv_id]
            page = await client.get("/messages")
            assert page.status_code == 200 and "Expertise compost" in page.text

            await logout(client)
            await login(client, "porteuse@exemple.org")
            r = await client.post(f"/api/v1/contact/conversations/{conv_id}/messages", json={"body": "Demain <b>10 h</b> ?"})
            assert r.status_code == 201, r.text
            page = await client.get(f"/messages/{conv_id}")
            assert page.status_code == 200 and "visiteur@exemple.org" not in page.text
            assert "Demain &lt;b&gt;10 h&lt;/b&gt; ?" in page.text  # escaped, never markup

        batch = await consumer.getmany(timeout_ms=10_000)
        events = [MatchmakingChanged.model_validate(orjson.loads(m.value)) for ms in batch.values() for m in ms]
        answered = [e for e in events if e.kind == "answered"]
        assert [(e.post_id, e.post_kind, e.project_id) for e in answered] == [
            ("appel-compost", "call_for_expertise", EPICERIE)]  # the first answer only
    finally:
        await consumer.stop()


async def test_anti_abuse(env):
    async with AsyncTestClient(app=env["app"]) as client:
        await csrf(client)
        send = dict(target_kind="project", target_id=EPICERIE, name="Bot", email="bot@exemple.fr", body=BODY)
        # honeypot: looks accepted, nothing stored, nothing sent
        r = await client.post("/api/v1/contact/messages", json={**send, "website": "http://spam.example"})
        assert r.status_code == 202 and r.json()["status"] == "sent"
        assert await count(env["engine"], "SELECT count(*) FROM contact_conversations") == 0
        # sizes and links
        r = await client.post("/api/v1/contact/messages", json={**send, "body": "court"})
        assert r.status_code == 400 and "body" in r.json()["errors"]
        r = await client.post("/api/v1/contact/messages", json={**send, "body": BODY + " x" * 5000})
        assert r.status_code == 400
        r = await client.post("/api/v1/contact/messages", json={
            **send, "body": BODY + " https://a.example.com https://b.example.com https://c.example.com"})
        assert r.status_code == 400 and "liens" in r.json()["errors"]["body"]
        r = await client.post("/api/v1/contact/messages", json={**send, "email": "pas une adresse"})
        assert r.status_code == 400 and "email" in r.json()["errors"]
        r = await client.post("/api/v1/contact/messages", json={**send, "target_id": "Pas-Valide"})
        assert r.status_code == 400
        r = await client.post("/api/v1/contact/messages", json={**send, "target_id": "inconnu"})
        assert r.status_code == 404
        r = await client.post("/api/v1/contact/messages", json={**send, "target_id": "velo-lille"})
        assert r.status_code == 404  # no holder, no published contact
        # duplicate suppression (same text from the same address, even to another project)
        assert (await client.post("/api/v1/contact/messages", json=send)).status_code == 202
        r = await client.post("/api/v1/contact/messages", json={**send, "target_id": JARDIN})
        assert r.status_code == 409
        # per sender: 3 an hour
        for i in range(2):
            r = await client.post("/api/v1/contact/messages", json={**send, "body": f"{BODY} ({i})"})
            assert r.status_code == 202, r.text
        r = await client.post("/api/v1/contact/messages", json={**send, "body": f"{BODY} (3)"})
        assert r.status_code == 429
        # per IP: 5 an hour, whatever the address
        for i in range(2):
            r = await client.post("/api/v1/contact/messages", json={**send, "email": f"x{i}@exemple.fr",
                                                                    "body": f"{BODY} autre {i + 10}"})
            assert r.status_code == 202, r.text
        r = await client.post("/api/v1/contact/messages", json={**send, "email": "y@exemple.fr", "body": BODY + "!!"})
        assert r.status_code == 429 and "connexion" in r.json()["detail"]
        # the form shows the error next to the field, status 400
        token = await csrf(client)
        r = await client.post(f"/contact/projet/{JARDIN}", data={"name": "", "email": "a@b.fr", "body": BODY,
                                                                 "_csrf_token": token})
        assert r.status_code == 400 and 'id="e-name"' in r.text
        # a holder cannot write to their own project
        await login(client, "porteuse@exemple.org")
        r = await client.post("/api/v1/contact/messages", json={"target_kind": "project", "target_id": EPICERIE,
                                                               "body": BODY + " moi"})
        assert r.status_code == 400
    assert await count(env["engine"], "SELECT count(*) FROM contact_attempts WHERE bucket = 'ip'") == 5


async def test_forbidden_cases_and_moderation(env):
    async with AsyncTestClient(app=env["app"]) as client:
        await login(client, "visiteur@exemple.org")
        r = await client.post("/api/v1/contact/messages", json={"target_kind": "project", "target_id": EPICERIE,
                                                               "body": "Message insultant " + BODY})
        conv_id = r.json()["conversation_id"]
        async with env["engine"].connect() as conn:
            msg_id = (await conn.execute(text("SELECT id FROM contact_messages WHERE conversation_id = :c"),
                                         {"c": conv_id})).scalar_one()
        r = await client.post(f"/api/v1/contact/conversations/{conv_id}/messages/{msg_id}/report", json={})
        assert r.status_code == 400  # one's own message
        await logout(client)

        # anonymous: 401 on the API, login redirect on the pages, 403 with a CSRF-less POST
        for path in ("/api/v1/contact/conversations", f"/api/v1/contact/conversations/{conv_id}",
                     "/api/v1/contact/reports"):
            assert (await client.get(path)).status_code == 401, path
        await csrf(client)
        for path in (f"/api/v1/contact/conversations/{conv_id}/messages",
                     f"/api/v1/contact/conversations/{conv_id}/messages/{msg_id}/report",
                     f"/api/v1/contact/messages/{msg_id}/hide", f"/api/v1/contact/messages/{msg_id}/unhide"):
            assert (await client.post(path, json={"body": "x"})).status_code == 401, path
        for path in ("/messages", f"/messages/{conv_id}", "/moderation/messages"):
            r = await client.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion"), path
        token = client.headers.pop("x-csrftoken")
        r = await client.post(f"/contact/projet/{JARDIN}", data={"name": "P", "email": "p@e.fr", "body": BODY})
        assert r.status_code == 403  # no CSRF token
        client.headers["x-csrftoken"] = token

        # another user: 403 on someone else's conversation; 403 on moderation
        await login(client, "autre@exemple.org")
        assert (await client.get(f"/api/v1/contact/conversations/{conv_id}")).status_code == 403
        assert (await client.post(f"/api/v1/contact/conversations/{conv_id}/messages",
                                  json={"body": "intrus"})).status_code == 403
        assert (await client.post(f"/api/v1/contact/conversations/{conv_id}/messages/{msg_id}/report",
                                  json={})).status_code == 403
        assert (await client.get(f"/messages/{conv_id}")).status_code == 403
        assert (await client.get("/api/v1/contact/reports")).status_code == 403
        assert (await client.post(f"/api/v1/contact/messages/{msg_id}/hide")).status_code == 403
        assert (await client.get("/moderation/messages")).status_code == 403
        assert (await client.get("/api/v1/contact/conversations/999999")).status_code == 404
        await logout(client)

        # the holder reports it; a moderator hides it; the parties see it hidden
        await login(client, "porteuse@exemple.org")
        r = await client.post(f"/api/v1/contact/conversations/{conv_id}/messages/{msg_id}/report",
                              json={"reason": "insultes"})
        assert r.status_code == 201 and r.json()["new"]
        await logout(client)
        await login(client, "modo@exemple.org")
        reports = (await client.get("/api/v1/contact/reports")).json()["reports"]
        assert [(x["message_id"], x["reason"]) for x in reports] == [(msg_id, "insultes")]
        page = await client.get("/moderation/messages")
        assert page.status_code == 200 and "insultes" in page.text
        assert (await client.post(f"/api/v1/contact/messages/{msg_id}/hide")).status_code == 200
        assert (await client.post("/api/v1/contact/messages/999999/hide")).status_code == 404
        await logout(client)
        await login(client, "porteuse@exemple.org")
        got = (await client.get(f"/api/v1/contact/conversations/{conv_id}")).json()
        assert got["messages"][0]["hidden"] and got["messages"][0]["body"] is None
        page = await client.get(f"/messages/{conv_id}")
        assert "masqué par la modération" in page.text and "insultant" not in page.text
    assert await count(env["engine"], "SELECT count(*) FROM audit_log WHERE action = 'contact.message.hide'") == 1


async def test_inbound_webhook_is_off_without_a_secret_and_bounded(env, stack):
    url = fresh_database(stack, "contactoff")
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, inbound_mailbox_dir="",
                              mail_domain=DOMAIN))
    async with AsyncTestClient(app=app) as client:
        r = await client.post("/api/v1/inbound-mail", content=b"From: a@b.fr\n\nhello",
                              headers={"x-inbound-secret": ""})
        assert r.status_code == 404
    async with AsyncTestClient(app=env["app"]) as client:
        r = await client.post("/api/v1/inbound-mail", content=b"", headers={"x-inbound-secret": SECRET})
        assert r.status_code == 400
        r = await client.post("/api/v1/inbound-mail", content=b"x" * (1024 * 1024 + 10),
                              headers={"x-inbound-secret": SECRET})
        assert r.status_code == 413
        r = await client.post("/api/v1/inbound-mail", content=b"\x00\xff garbage", headers={"x-inbound-secret": SECRET})
        assert r.status_code == 200 and r.json()["outcome"] in ("unknown_token", "rejected")


async def test_maildir_rejects_unknown_and_keeps_going(env):
    async with AsyncTestClient(app=env["app"]):
        new = env["inbound"] / "new"
        new.mkdir(parents=True, exist_ok=True)
        (new / "bad.mail").write_bytes(reply_mail(f"reponse+{'C' * 43}@{DOMAIN}", "hello", "<x@y>"))
        await wait_until(lambda: asyncio.sleep(0, result=any((env["inbound"] / "cur").glob("bad.mail:2,T"))),
                         timeout=10, what="the unknown reply trashed")


async def test_odd_requests_never_fail_with_a_server_error(env):
    async with AsyncTestClient(app=env["app"]) as client:
        token = await csrf(client)
        gets = ["/contact/inconnu/abc", "/contact/projet/" + "a" * 300, "/contact/projet/%00", "/contact/annonce/nope",
                "/conversation/x", "/conversation/" + "A" * 500, "/messages/0", "/messages/abc",
                "/api/v1/contact/conversations/-1", "/api/v1/contact/conversations/99999999999999999999999"]
        for path in gets:
            r = await client.get(path, follow_redirects=False)
            assert r.status_code < 500, (path, r.status_code)
        posts = [("/api/v1/contact/messages", {"json": {"target_kind": "x"}}),
                 ("/api/v1/contact/messages", {"json": {"target_kind": "project", "target_id": JARDIN, "body": 5}}),
                 ("/api/v1/contact/messages", {"content": b"\xff\xfe not json",
                                               "headers": {"content-type": "application/json"}}),
                 ("/api/v1/contact/messages", {"json": {"target_kind": "project", "target_id": JARDIN, "body": BODY,
                                                        "unexpected": 1}}),
                 (f"/contact/projet/{JARDIN}", {"data": {"_csrf_token": token}}),
                 (f"/contact/projet/{JARDIN}", {"data": {"_csrf_token": token, "name": "\x00" * 50,
                                                         "email": "a@b.fr" * 100, "body": "\x00" * 20000}}),
                 ("/conversation/" + "A" * 43 + "/confirmer", {"data": {"_csrf_token": token}}),
                 ("/conversation/" + "A" * 43 + "/repondre", {"data": {"_csrf_token": token, "body": "x"}}),
                 ("/moderation/messages/1/masquer", {"data": {"_csrf_token": token}})]
        for path, kwargs in posts:
            r = await client.post(path, follow_redirects=False, **kwargs)
            assert r.status_code < 500, (path, r.status_code, r.text[:300])


async def test_purge_drops_old_counters_expired_tokens_and_unconfirmed_messages(env):
    from services.gateway.contact import store

    engine = env["engine"]
    async with engine.begin() as conn:
        old = await store.create_conversation(
            conn, target_kind="project", target_id=JARDIN, project_id=JARDIN, subject="x", sender_user_id=None,
            sender_name="P", sender_email="p@e.fr", recipient_user_id=None, recipient_email=CONTACT, state="pending")
        fresh = await store.create_conversation(
            conn, target_kind="project", target_id=JARDIN, project_id=JARDIN, subject="x", sender_user_id=None,
            sender_name="P", sender_email="p@e.fr", recipient_user_id=None, recipient_email=CONTACT, state="pending")
        token = await store.new_conversation_token(conn, fresh, "access")
        await conn.execute(text("UPDATE contact_conversations SET created_at = now() - interval '8 days' "
                                "WHERE id = :c"), {"c": old})
        await conn.execute(text("INSERT INTO contact_attempts (bucket, key_hash, at) VALUES "
                                "('ip', 'a', now() - interval '3 days'), ('ip', 'b', now())"))
        await conn.execute(text("INSERT INTO contact_tokens (token_hash, conversation_id, purpose, expires_at) "
                                "VALUES ('dead', :c, 'access', now() - interval '1 second')"), {"c": fresh})
        await store.purge(conn)
    assert await count(engine, "SELECT count(*) FROM contact_conversations") == 1
    assert await count(engine, "SELECT count(*) FROM contact_attempts") == 1
    assert await count(engine, "SELECT count(*) FROM contact_tokens") == 1
    async with engine.connect() as conn:
        assert (await store.conversation_by_token(conn, token, ("access",)))[0]["id"] == fresh
        assert await store.conversation_by_token(conn, token, ("reply_sender",)) is None
