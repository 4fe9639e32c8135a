"""Request-level protections in process on the real database and broker: CSRF whatever other headers
come along; reply-by-mail addresses that expire and only work from the replying party's address; rate
limits on export and post creation (at, one past, far beyond; 429 with Retry-After)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import create_api_key, fresh_database
from tests.helpers_accounts import create_user, login, wait_for_mail
from tests.integration.test_contact import BODY, DOMAIN, SECRET, env, reply_mail, reply_to_token  # noqa: F401
from tests.integration.test_matchmaking_api import OFFER

# --------------------------------------------------------------------------- CSRF


@pytest.fixture
async def app_env(stack, tmp_path):
    url = fresh_database(stack, "secreq")
    engine = create_async_engine(url)

    def make(**settings):
        return create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap,
                                          mailbox_dir=str(tmp_path / "mail"), **settings))

    yield make, engine, url
    await engine.dispose()


async def test_a_stray_api_key_or_bearer_header_does_not_skip_csrf_on_session_routes(app_env):
    make, engine, url = app_env
    await create_user(engine, "holder@example.org", display_name="Avant")
    key = await asyncio.to_thread(create_api_key, url, "secreq-partner", "secreq-" + uuid.uuid4().hex)
    async with AsyncTestClient(app=make()) as client:
        await login(client, "holder@example.org")
        token = client.headers.pop("x-csrftoken")  # what a forging page cannot read
        for stray in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}, {"x-api-key": "n'importe quoi"},
                      {"x-api-key": key, "authorization": "Bearer x"}):
            r = await client.post("/compte", data={"display_name": "Pirate"}, headers=stray, follow_redirects=False)
            assert r.status_code == 403, (stray, r.status_code)
            r = await client.post("/api/v1/matchmaking/posts", json=OFFER, headers=stray)
            assert r.status_code == 403, (stray, r.status_code)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT display_name FROM users"))).scalar() == "Avant"
            assert (await conn.execute(text("SELECT count(*) FROM mm_posts"))).scalar() == 0
        # with the token, the same request goes through
        r = await client.post("/compte", data={"display_name": "Après", "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        # API-key routes still take their key without a CSRF token, session cookie or not
        record = {"source": "secreq-partner", "source_record_id": "1", "url": "https://exemple.org/p/1",
                  "title": "Jardin partagé"}
        r = await client.post("/api/v1/ingest", json={"records": [record]}, headers={"x-api-key": key})
        assert r.status_code == 202, r.text


# --------------------------------------------------------------------------- rate limits


async def test_export_is_limited_per_client_address(app_env):
    make, engine, _ = app_env
    async with AsyncTestClient(app=make(export_per_minute=3)) as client:
        assert (await client.get("/api/v1/export", params={"format": "xml"})).status_code == 400  # not counted
        for _ in range(3):  # at the limit
            assert (await client.get("/api/v1/export", params={"format": "json"})).status_code == 200
        r = await client.get("/api/v1/export", params={"format": "json"})  # one past
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        far = await asyncio.gather(*(client.get("/api/v1/export") for _ in range(30)))  # far beyond
        assert {r.status_code for r in far} == {429}
        assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in far)
        async with engine.begin() as conn:  # a minute later
            await conn.execute(text("UPDATE auth_throttle SET at = at - interval '61 seconds'"))
        assert (await client.get("/api/v1/export", params={"format": "csv"})).status_code == 200


async def test_post_creation_is_limited_per_account(app_env):
    make, engine, _ = app_env
    await create_user(engine, "prolixe@example.org")
    await create_user(engine, "sobre@example.org")
    offer = {**OFFER, "title": "Comptable disponible pour les associations"}
    async with AsyncTestClient(app=make(posts_per_hour=2)) as client:
        await login(client, "prolixe@example.org")
        for _ in range(2):
            r = await client.post("/api/v1/matchmaking/posts", json=offer)
            assert r.status_code == 201, r.text
        r = await client.post("/api/v1/matchmaking/posts", json=offer)
        assert r.status_code == 429 and 3500 <= int(r.headers["retry-after"]) <= 3600
        far = await asyncio.gather(*(client.post("/api/v1/matchmaking/posts", json=offer) for _ in range(15)))
        assert {r.status_code for r in far} == {429}
        token = client.headers["x-csrftoken"]
        r = await client.post("/annonces/nouvelle", data={**{k: v for k, v in offer.items() if k != "skills"},
                                                          "skills": "comptabilité", "_csrf_token": token},
                              follow_redirects=False)
        assert r.status_code == 429 and "retry-after" in r.headers
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM mm_posts"))).scalar() == 2
    async with AsyncTestClient(app=make(posts_per_hour=2)) as other:  # another account is not affected
        await login(other, "sobre@example.org")
        assert (await other.post("/api/v1/matchmaking/posts", json=offer)).status_code == 201


# --------------------------------------------------------------------------- replies by e-mail


async def _inbound(client, raw: bytes) -> str:
    r = await client.post("/api/v1/inbound-mail", content=raw, headers={"x-inbound-secret": SECRET})
    assert r.status_code == 200, r.text
    return r.json()["outcome"]


async def _age(engine, conv_id: int, interval: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE contact_conversations SET last_message_at = now() - interval '{interval}' "
                                "WHERE id = :c"), {"c": conv_id})


async def test_reply_addresses_expire_and_only_work_from_the_party(env):  # noqa: F811
    engine = env["engine"]
    async with AsyncTestClient(app=env["app"]) as client:
        await login(client, "visiteur@exemple.org")
        r = await client.post("/api/v1/contact/messages", json={
            "target_kind": "post", "target_id": "appel-compost", "body": BODY})
        assert r.status_code == 202, r.text
        conv_id = r.json()["conversation_id"]
        mail = await wait_for_mail(env["mailbox"], to="porteuse@exemple.org", subject_contains="Message à propos")
        to = f"reponse+{reply_to_token(mail)}@{DOMAIN}"

        # someone else who got hold of the address (a forwarded mail, a leak) is refused
        assert await _inbound(client, reply_mail(to, "Je me fais passer pour la porteuse.", "<s1@x>",
                                                 sender="mallory@exemple.org")) == "wrong_sender"
        # the other party cannot write as this one either
        assert await _inbound(client, reply_mail(to, "C'est moi, la porteuse.", "<s2@x>",
                                                 sender="visiteur@exemple.org")) == "wrong_sender"
        # the address expires 30 days after the conversation's last message: one hour past, far beyond
        for interval in ("30 days 1 hour", "364 days"):
            await _age(engine, conv_id, interval)
            assert await _inbound(client, reply_mail(to, "Trop tard ?", f"<late-{interval[:3]}@x>",
                                                     sender="porteuse@exemple.org")) == "unknown_token"
        # just before the end, from the holder's own address (any case): appended
        await _age(engine, conv_id, "29 days 23 hours")
        assert await _inbound(client, reply_mail(to, "Merci, avec plaisir !", "<ok@x>",
                                                 sender="Porteuse <Porteuse@Exemple.org>")) == "appended"
        fwd = await wait_for_mail(env["mailbox"], to="visiteur@exemple.org", subject_contains="Re:")
        back = f"reponse+{reply_to_token(fwd)}@{DOMAIN}"
        assert await _inbound(client, reply_mail(back, "Je suis la porteuse.", "<b1@x>",
                                                 sender="porteuse@exemple.org")) == "wrong_sender"
        assert await _inbound(client, reply_mail(back, "À bientôt.", "<b2@x>",
                                                 sender="visiteur@exemple.org")) == "appended"
    async with engine.connect() as conn:
        bodies = list((await conn.execute(text(
            "SELECT body FROM contact_messages WHERE conversation_id = :c ORDER BY id"), {"c": conv_id})).scalars())
    assert bodies == [BODY, "Merci, avec plaisir !", "À bientôt."]
