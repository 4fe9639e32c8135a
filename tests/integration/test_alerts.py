"""Saved searches and alerts against the real database and broker: saving (and its limit at, one past
and far beyond), the consumer recording matches from ``projects.canonical.v1`` and
``matchmaking.v1`` (replays change nothing, a project that stops matching or is deleted leaves the
digest), the digest in the Maildir (its size limit at, one past and far beyond), one-click
unsubscription with the signed token, and the Atom feed read by feedparser."""

from __future__ import annotations

import asyncio
import uuid

import feedparser
import pytest
from aiokafka import AIOKafkaProducer
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.events import CanonicalChanged, Location, Operation, utcnow
from libs.contracts.topics import PROJECTS_CANONICAL
from services.gateway.alerts import rules, service
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.gateway.web.mailer import Mailer
from tests.conftest import wait_until
from tests.helpers_accounts import create_user, csrf, login, read_mailbox
from tests.integration.test_search_conformance import PROJECTS, ROWS, indexed_database, make_project

KEY = "test-secret-key"
LILLE = Location(commune_code="59350", commune_name="Lille", postcode="59000", departement_code="59",
                 departement_name="Nord", region_code="32", region_name="Hauts-de-France", lat=50.63, lon=3.06,
                 precision="commune")


@pytest.fixture(scope="module")
def env(stack):
    async def setup():
        url, engine = await indexed_database(stack, "alerts")
        users = {"ana": await create_user(engine, "ana@example.org"),
                 "bob": await create_user(engine, "bob@example.org"),
                 "unverified": await create_user(engine, "nv@example.org", verified=False)}
        await engine.dispose()
        return url, users

    return asyncio.run(setup())


def _app(stack, url, tmp_path, **extra):
    return create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, secret_key=KEY,
                                      mailbox_dir=str(tmp_path / "mail"), public_base_url="https://c.example",
                                      **extra))


def _canonical(pid: str, title: str, version: int = 1, **changes) -> CanonicalChanged:
    changes = {"location": LILLE, "first_seen": utcnow(), "description": f"{title}.", "summary": "", **changes}
    project = make_project(0, ROWS[1], id=pid, title=title, **changes)
    return CanonicalChanged(op=Operation.UPSERT, canonical_id=pid, version=version, project=project)


async def _send(bootstrap: str, events: list[CanonicalChanged]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(PROJECTS_CANONICAL, e.model_dump_json().encode(), key=e.canonical_id.encode())
    finally:
        await producer.stop()


async def _save(client, name="Jardins du Nord", frequency="daily", **params) -> int:
    token = await csrf(client)
    data = {"name": name, "frequency": frequency, "_csrf_token": token, **params}
    r = await client.post("/alertes", data=data, follow_redirects=False)
    return r.status_code


async def _pending(engine, search_id) -> list[tuple]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(
            "SELECT item_kind, item_id, version, change FROM alert_matches WHERE search_id = :s AND sent_at IS NULL "
            "ORDER BY item_id"), {"s": search_id})).all()]


async def _search_ids(engine, user_id) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT id FROM alert_searches WHERE user_id = :u AND active ORDER BY id"), {"u": user_id})).scalars())


async def test_save_match_digest_unsubscribe(stack, env, tmp_path):
    url, users = env
    engine = create_async_engine(url)
    tag = uuid.uuid4().hex[:6]
    app = _app(stack, url, tmp_path, alerts_subscriber=True, alerts_digest_interval_s=3600)
    try:
        async with AsyncTestClient(app=app) as client:
            # anonymous: to the login; unverified: refused; a bad parameter: 400 naming it; nothing: refused
            r = await client.get("/alertes/nouvelle?q=jardin", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion")
            await login(client, "nv@example.org")
            assert await _save(client, q="jardin") == 403
            await login(client, "ana@example.org")
            page = await client.get("/alertes/nouvelle", params=[("q", "jardin"), ("departement", "59")])
            assert page.status_code == 200 and "« jardin » · Département : 59" in page.text
            assert await _save(client, theme="pas-un-theme") == 400
            assert await _save(client, page="2") == 400
            assert await _save(client, name="", q="jardin") == 400
            assert await _save(client, frequency="hourly", q="jardin") == 400
            assert await _save(client, q=f"jardin {tag}", departement="59") == 303
            (search_id,) = await _search_ids(engine, users["ana"])
            listing = await client.get("/alertes")
            assert "Jardins du Nord" in listing.text and "quotidien" in listing.text

            # the consumer: a match, a non-match, a replay, a newer version; another place does not match
            await _send(stack.bootstrap, [
                _canonical(f"a-{tag}", f"Jardin partagé {tag}"),
                _canonical(f"b-{tag}", f"Atelier vélo {tag}"),
                _canonical(f"c-{tag}", f"Jardin lyonnais {tag}", location=Location(
                    commune_code="69123", commune_name="Lyon", departement_code="69", region_code="84",
                    lat=45.76, lon=4.84, precision="commune")),
                _canonical(f"a-{tag}", f"Jardin partagé {tag}"),
            ])

            async def one_match():
                rows = await _pending(engine, search_id)
                return rows if rows == [("project", f"a-{tag}", 1, "new")] else None

            await wait_until(one_match, timeout=90, what="the consumer recorded the match")
            await _send(stack.bootstrap, [_canonical(f"a-{tag}", f"Jardin partagé {tag} agrandi", version=2)])
            await wait_until(lambda: _title_is(engine, search_id, f"Jardin partagé {tag} agrandi"), timeout=60,
                             what="the newer version recorded")
            assert len(await _pending(engine, search_id)) == 1

            # the digest: one mail, the item and the one-click unsubscribe headers; then nothing until the period
            mailbox = tmp_path / "mail"
            assert await service.send_digests(engine, app.state.mailer, KEY, "https://c.example") == 1
            assert await service.send_digests(engine, app.state.mailer, KEY, "https://c.example") == 0
            mail = await _wait_mail(mailbox, "ana@example.org")
            body = mail.get_content()
            assert "Jardins du Nord" in mail["Subject"] and f"https://c.example/projets/a-{tag}" in body
            assert "[Projet, nouveau]" in body
            unsubscribe = mail["List-Unsubscribe"].strip("<>")
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and unsubscribe in body
            assert await _pending(engine, search_id) == []

            # a sent project that changes comes back as "changed"; one that stops matching leaves the digest
            await service.on_canonical(engine, _canonical(f"a-{tag}", f"Jardin partagé {tag} v3", version=3))
            assert await _pending(engine, search_id) == [("project", f"a-{tag}", 3, "changed")]
            await service.on_canonical(engine, _canonical(f"a-{tag}", f"Verger {tag}", version=4))
            assert await _pending(engine, search_id) == []
            await service.on_canonical(engine, _canonical(f"a-{tag}", f"Jardin {tag}", version=5))
            await service.on_canonical(engine, CanonicalChanged(op=Operation.DELETE, canonical_id=f"a-{tag}",
                                                                version=6))
            assert await _pending(engine, search_id) == []

        # unsubscribe from the mail's link: no login, no CSRF cookie (a fresh client, as a mail client)
        async with AsyncTestClient(app=_app(stack, url, tmp_path)) as anonymous:
            path = unsubscribe.removeprefix("https://c.example")
            page = await anonymous.get(path)
            assert page.status_code == 200 and "Ne plus recevoir cette alerte" in page.text
            assert await _search_ids(engine, users["ana"]) == [search_id]  # a GET unsubscribes nobody
            forged = path[:-4] + ("0000" if not path.endswith("0000") else "1111")
            assert (await anonymous.post(forged)).status_code == 404
            assert (await anonymous.get("/alertes/desabonnement/nimportequoi")).status_code == 404
            done = await anonymous.post(path)
            assert done.status_code == 200 and "Désabonnement confirmé" in done.text
            assert await _search_ids(engine, users["ana"]) == []
            assert (await anonymous.post(path)).status_code == 200  # twice: still fine
        await service.on_canonical(engine, _canonical(f"d-{tag}", f"Jardin partagé {tag}"))
        assert await _pending(engine, search_id) == []  # an unsubscribed search records nothing
    finally:
        await engine.dispose()


async def _title_is(engine, search_id, title):
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT title FROM alert_matches WHERE search_id = :s"),
                                   {"s": search_id})).scalar() == title


async def _wait_mail(mailbox, to, count=1):
    async def found():
        mails = [m for m in read_mailbox(mailbox) if to in str(m["To"])]
        return mails if len(mails) >= count else None

    return (await wait_until(found, timeout=30, what=f"mail to {to}"))[-1]


async def test_saved_searches_per_account_at_one_past_and_far_beyond(stack, env, tmp_path):
    url, users = env
    engine = create_async_engine(url)
    try:
        async with AsyncTestClient(app=_app(stack, url, tmp_path)) as client:
            await login(client, "bob@example.org")
            # the name: at its limit, one past, far beyond
            for name, status in (("n" * rules.MAX_NAME_CHARS, 303), ("n" * (rules.MAX_NAME_CHARS + 1), 400),
                                 ("n" * 100_000, 400)):
                assert await _save(client, name=name, q="jardin") == status
            first = (await _search_ids(engine, users["bob"]))[0]
            token = await csrf(client)
            await client.post(f"/alertes/{first}/supprimer", data={"_csrf_token": token})
            for i in range(rules.MAX_SEARCHES_PER_USER):
                assert await _save(client, name=f"Alerte {i}", q=f"mot{i}") == 303
            assert await _save(client, name="Une de trop", q="jardin") == 409  # one past
            statuses = await asyncio.gather(*(_save(client, name=f"x{i}", q="jardin") for i in range(30)))
            assert set(statuses) == {409}  # far beyond, even at once
            assert len(await _search_ids(engine, users["bob"])) == rules.MAX_SEARCHES_PER_USER
            # deleting one makes room for exactly one; another account's alert cannot be deleted
            first = (await _search_ids(engine, users["bob"]))[0]
            token = await csrf(client)
            assert (await client.post(f"/alertes/{first}/supprimer", data={"_csrf_token": token},
                                      follow_redirects=False)).status_code == 303
            assert await _save(client, name="Remplaçante", q="jardin") == 303
            assert await _save(client, name="Encore une", q="jardin") == 409
            await login(client, "ana@example.org")
            token = await csrf(client)
            assert (await client.post(f"/alertes/{first + 1}/supprimer", data={"_csrf_token": token})).status_code == 403
    finally:
        await engine.dispose()


@pytest.mark.parametrize("matching", [rules.DIGEST_MAX_ITEMS, rules.DIGEST_MAX_ITEMS + 1, 400])
async def test_digest_size_at_one_past_and_far_beyond(stack, env, tmp_path, matching):
    url, _ = env
    engine = create_async_engine(url)
    tag = uuid.uuid4().hex[:6]
    mailbox = tmp_path / "mail"
    try:
        email = f"digest-{tag}@example.org"
        await create_user(engine, email)
        from services.gateway.accounts.identity import User

        async with engine.connect() as conn:
            uid = (await conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})).scalar()
        user = User(id=uid, email=email, display_name="d", roles=frozenset({"holder"}), partner=None,
                    email_verified=True)
        saved = await service.create(engine, user, "Tout le Nord", [("q", tag), ("region", "32")], "weekly")
        for i in range(matching):
            await service.on_canonical(engine, _canonical(f"z{i}-{tag}", f"Projet {tag} numéro {i}"))
        assert len(await _pending(engine, saved["id"])) == matching
        mailer = Mailer(engine)
        from services.gateway.web.mailer import Dispatcher, MaildirTransport

        assert await service.send_digests(engine, mailer, KEY, "https://c.example") == 1
        await Dispatcher(engine, MaildirTransport(mailbox), "c@c.example", "c.example").deliver_due()
        body = (await _wait_mail(mailbox, email)).get_content()
        listed = min(matching, rules.DIGEST_MAX_ITEMS)
        assert body.count("https://c.example/projets/") == listed
        more = matching - listed
        assert (f"… et {more} autre" in body) == (more > 0)
        assert await _pending(engine, saved["id"]) == []  # all of them accounted for: listed or counted
        # weekly: a new match waits for the week; once it has passed, it goes
        await service.on_canonical(engine, _canonical(f"late-{tag}", f"Projet {tag} tardif"))
        assert await service.send_digests(engine, mailer, KEY, "https://c.example") == 0
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alert_searches SET last_sent_at = now() - make_interval(days => 7, "
                                    "secs => 1) WHERE id = :i"), {"i": saved["id"]})
        assert await service.send_digests(engine, mailer, KEY, "https://c.example") == 1
    finally:
        await engine.dispose()


async def test_posts_are_matched_from_matchmaking_events(stack, env, tmp_path):
    url, users = env
    engine = create_async_engine(url)
    tag = uuid.uuid4().hex[:6]
    try:
        async with AsyncTestClient(app=_app(stack, url, tmp_path, alerts_subscriber=True)) as client:
            await login(client, "ana@example.org")
            assert await _save(client, name="Comptables", q=f"comptable {tag}", departement="59") == 303
            search_id = (await _search_ids(engine, users["ana"]))[-1]
            r = await client.post("/api/v1/matchmaking/posts", json={
                "kind": "expertise_offer", "title": f"Comptable {tag} disponible",
                "description": "J'aide volontiers des projets solidaires du quartier.", "skills": ["Comptabilité"],
                "themes": ["alimentation"], "commune": "Lille", "availability": "le soir", "remote": "hybrid"})
            assert r.status_code == 201, r.text
            post_id = r.json()["id"]

            async def recorded():
                return await _pending(engine, search_id) == [("post", post_id, await _post_version(engine, post_id),
                                                              "new")]

            await wait_until(recorded, timeout=90, what="the post matched from matchmaking.v1")
            token = await csrf(client)
            assert (await client.post(f"/api/v1/matchmaking/posts/{post_id}/close", json={},
                                      headers={"x-csrftoken": token})).status_code == 200
            await wait_until(lambda: _empty(engine, search_id), timeout=60, what="the closed post left the digest")
    finally:
        await engine.dispose()


async def _post_version(engine, post_id):
    async with engine.connect() as conn:
        updated = (await conn.execute(text("SELECT updated_at FROM mm_posts WHERE id = :i"), {"i": post_id})).scalar()
    return int(updated.timestamp() * 1000)


async def _empty(engine, search_id):
    return await _pending(engine, search_id) == []


async def test_atom_feed_of_a_search_reads_in_feedparser(stack, env, tmp_path):
    url, _ = env
    async with AsyncTestClient(app=_app(stack, url, tmp_path)) as client:
        r = await client.get("/alertes/flux.atom", params=[("theme", "alimentation"), ("region", "32")])
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(r.content)
        assert not feed.bozo, feed.get("bozo_exception")
        expected = [p for p in PROJECTS if "alimentation" in p.themes and p.location.region_code == "32"]
        assert [e.link for e in feed.entries] == [f"https://c.example/projets/{p.id}" for p in
                                                  sorted(expected, key=lambda p: p.first_seen, reverse=True)]
        assert feed.feed.title.startswith("Carrefour — Thématique")
        assert all(e.updated_parsed and e.title for e in feed.entries)
        every = feedparser.parse((await client.get("/alertes/flux.atom")).content)
        assert not every.bozo and len(every.entries) == min(len(PROJECTS), 50)
        bad = await client.get("/alertes/flux.atom", params={"radius_km": "5"})
        assert bad.status_code == 400 and "radius_km" in bad.text


async def test_a_change_asks_only_the_searches_its_keys_gate(stack, env):
    """The consumer's work grows with the changes, not with the saved searches: among thousands of
    searches of every département, a change in Lille is matched against those whose two gates meet
    its keys (département 59 and a word starting like one of its words) and the ungated one only."""
    url, users = env
    engine = create_async_engine(url)
    try:
        deps = [f"{n:02d}" for n in range(1, 96) if n != 20]
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM alert_searches"))
            await conn.execute(text(
                "INSERT INTO alert_searches (user_id, name, params, frequency, gate, gate2, nonce) "
                "SELECT :u, 'dep ' || d || ' ' || w, jsonb_build_array(jsonb_build_array('departement', d), "
                "jsonb_build_array('q', w)), 'daily', ARRAY['f:departement:' || d], ARRAY['w:' || left(w, 3)], "
                "md5(d || i) FROM unnest(CAST(:deps AS text[])) AS d, generate_series(1, 40) AS i, "
                "LATERAL (SELECT CASE WHEN i <= 5 THEN 'jardin' ELSE 'mot' || i END AS w) AS x"),
                {"u": users["bob"], "deps": deps})
            await conn.execute(text(
                "INSERT INTO alert_searches (user_id, name, params, frequency, gate, nonce) VALUES "
                "(:u, 'vague', '[[\"q\", \"a\"]]', 'weekly', '{}', 'n1')"), {"u": users["bob"]})
        from services.gateway.alerts import store

        item = rules.project_item(_canonical("x", "Jardin partagé").project)
        async with engine.connect() as conn:
            total = (await conn.execute(text("SELECT count(*) FROM alert_searches"))).scalar()
            candidates = await store.candidates(conn, rules.item_keys(item))
        assert total == len(deps) * 40 + 1
        assert sorted(c["name"] for c in candidates) == ["dep 59 jardin"] * 5 + ["vague"]
        assert "matched 5 of 6 candidate searches" in await service.on_canonical(engine, _canonical("x", "Jardin"))
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM alert_searches"))
        await engine.dispose()
