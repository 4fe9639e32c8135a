"""Operator pages and API on the real database and broker: partner organisations, partner users,
API keys (scopes ingest/read, shown once, hashed, listed by prefix, revocable, confined to their
source on ingest), moderator grants; and every forbidden case (401 anonymous, 403 wrong role, 403
without the CSRF token)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.partners.keys import hash_key
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, csrf, login, logout

RECORD = {"source": "tiers-lieux-nord", "source_record_id": "r-1", "title": "Un tiers-lieu à Lille",
          "url": "https://example.org/r-1"}

# (method, path, json body) of every operator endpoint
OPERATOR_API = [
    ("GET", "/api/v1/operator/partners", None),
    ("POST", "/api/v1/operator/partners", {"slug": "x-org", "name": "X"}),
    ("GET", "/api/v1/operator/partners/tiers-lieux-nord", None),
    ("POST", "/api/v1/operator/partners/tiers-lieux-nord/users", {"email": "p@example.org"}),
    ("POST", "/api/v1/operator/partners/tiers-lieux-nord/users/1/detach", None),
    ("POST", "/api/v1/operator/partners/tiers-lieux-nord/keys", {"scopes": ["ingest"]}),
    ("POST", "/api/v1/operator/partners/tiers-lieux-nord/keys/1/revoke", None),
    ("GET", "/api/v1/operator/moderators", None),
    ("POST", "/api/v1/operator/moderators", {"email": "h@example.org"}),
    ("POST", "/api/v1/operator/moderators/1/revoke", None),
]
OPERATOR_PAGES = [
    ("GET", "/operateur/partenaires"), ("POST", "/operateur/partenaires"),
    ("GET", "/operateur/partenaires/tiers-lieux-nord"), ("POST", "/operateur/partenaires/tiers-lieux-nord/utilisateurs"),
    ("POST", "/operateur/partenaires/tiers-lieux-nord/utilisateurs/1/retirer"),
    ("POST", "/operateur/partenaires/tiers-lieux-nord/cles"), ("POST", "/operateur/partenaires/tiers-lieux-nord/cles/1/revoquer"),
    ("GET", "/operateur/moderateurs"), ("POST", "/operateur/moderateurs"), ("POST", "/operateur/moderateurs/1/retirer"),
]


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "acco")
    engine = create_async_engine(url)
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(tmp_path / "m")))
    async with AsyncTestClient(app=app) as client:
        yield client, engine
    await engine.dispose()


async def _call(client, method, path, body=None):
    return await client.request(method, path, json=body, follow_redirects=False)


async def test_partner_orgs_users_and_keys(env):
    client, engine = env
    await create_user(engine, "op@example.org", roles=("operator",))
    partner_id = await create_user(engine, "p@example.org")
    await login(client, "op@example.org")

    r = await client.post("/api/v1/operator/partners", json={"slug": "tiers-lieux-nord", "name": "Tiers-lieux du Nord"})
    assert r.status_code == 201, r.text
    assert (await client.post("/api/v1/operator/partners", json={"slug": "tiers-lieux-nord", "name": "x"})).status_code == 409
    for bad in ({"slug": "Pas Un Slug", "name": "x"}, {"slug": "ok", "name": ""}, {"slug": "ok", "name": "x", "more": 1},
                {"slug": "o" * 65, "name": "x"}):
        assert (await client.post("/api/v1/operator/partners", json=bad)).status_code == 400, bad
    assert (await client.get("/api/v1/operator/partners/nope")).status_code == 404

    r = await client.post("/api/v1/operator/partners/tiers-lieux-nord/users", json={"email": "P@example.org"})
    assert r.status_code == 200 and r.json()["id"] == partner_id
    assert (await client.post("/api/v1/operator/partners/tiers-lieux-nord/users",
                              json={"email": "inconnu@example.org"})).status_code == 400
    assert (await client.post("/api/v1/operator/partners/nope/users", json={"email": "p@example.org"})).status_code == 404

    ingest_key = await client.post("/api/v1/operator/partners/tiers-lieux-nord/keys",
                                   json={"scopes": ["ingest"], "label": "flux quotidien"})
    assert ingest_key.status_code == 201 and ingest_key.headers["cache-control"] == "no-store"
    issued = ingest_key.json()
    key = issued["key"]
    assert key.startswith("cfr_") and issued["prefix"] == key[:8] and issued["scopes"] == ["ingest"]
    read_key = (await client.post("/api/v1/operator/partners/tiers-lieux-nord/keys", json={"scopes": ["read"]})).json()["key"]
    for bad in ({"scopes": ["admin"]}, {"scopes": []}, {"scopes": ["ingest"], "label": "x" * 101}):
        assert (await client.post("/api/v1/operator/partners/tiers-lieux-nord/keys", json=bad)).status_code == 400, bad

    detail = (await client.get("/api/v1/operator/partners/tiers-lieux-nord")).json()
    assert [u["email"] for u in detail["users"]] == ["p@example.org"]
    assert {k["prefix"] for k in detail["keys"]} == {key[:8], read_key[:8]}
    assert all("key" not in k and "key_hash" not in k for k in detail["keys"])  # shown once, listed by prefix
    listed = (await client.get("/api/v1/operator/partners")).json()["partners"]
    assert listed[0]["slug"] == "tiers-lieux-nord" and listed[0]["users"] == 1 and listed[0]["keys"] == 2
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_hash, created_by FROM api_keys WHERE prefix = :p"),
                                     {"p": key[:8]})).one()
    assert stored.key_hash == hash_key(key) and key not in stored.key_hash and stored.created_by is not None

    # the partner account now has the partner role and its organisation
    await logout(client)
    await login(client, "p@example.org")
    me = (await client.get("/api/v1/me")).json()
    assert "partner" in me["roles"] and me["partner"] == "tiers-lieux-nord"
    await logout(client)

    # the key pushes its own source only (no session, no CSRF token needed)
    anon = {"X-API-Key": key}
    client.headers.pop("x-csrftoken", None)
    r = await client.post("/api/v1/ingest", json={"records": [RECORD]}, headers=anon)
    assert r.status_code == 202, r.text
    r = await client.post("/api/v1/ingest", json={"records": [{**RECORD, "source": "avise"}]}, headers=anon)
    assert r.status_code == 403 and "tiers-lieux-nord" in r.text
    r = await client.post("/api/v1/ingest", json={"records": [RECORD]}, headers={"X-API-Key": read_key})
    assert r.status_code == 403  # read scope only
    r = await client.get("/api/v1/partner/me", headers={"Authorization": f"Bearer {read_key}"})
    assert r.status_code == 200 and r.json()["name"] == "Tiers-lieux du Nord"
    assert {k["prefix"] for k in r.json()["keys"]} == {key[:8], read_key[:8]}
    assert (await client.get("/api/v1/partner/me", headers=anon)).status_code == 403  # ingest scope only
    assert (await client.get("/api/v1/partner/me")).status_code == 401

    # revoked: the key no longer works
    await login(client, "op@example.org")
    key_id = issued["id"]
    r = await client.post(f"/api/v1/operator/partners/tiers-lieux-nord/keys/{key_id}/revoke")
    assert r.status_code == 200
    assert (await client.post(f"/api/v1/operator/partners/tiers-lieux-nord/keys/{key_id}/revoke")).status_code == 404
    assert (await client.post("/api/v1/ingest", json={"records": [RECORD]}, headers=anon)).status_code == 401

    r = await client.post(f"/api/v1/operator/partners/tiers-lieux-nord/users/{partner_id}/detach")
    assert r.status_code == 200
    assert (await client.get("/api/v1/operator/partners/tiers-lieux-nord")).json()["users"] == []
    async with engine.connect() as conn:
        actions = [r.action for r in await conn.execute(text("SELECT action FROM audit_log WHERE action LIKE 'partner.%' "
                                                             "ORDER BY id"))]
    assert actions == ["partner.created", "partner.user_attached", "partner.key_issued", "partner.key_issued",
                       "partner.key_revoked", "partner.user_detached"]


async def test_moderator_grants(env):
    client, engine = env
    await create_user(engine, "op@example.org", roles=("operator",))
    h = await create_user(engine, "h@example.org")
    await login(client, "op@example.org")
    r = await client.post("/api/v1/operator/moderators", json={"email": "h@example.org"})
    assert r.status_code == 200 and r.json()["id"] == h
    assert [m["id"] for m in (await client.get("/api/v1/operator/moderators")).json()["moderators"]] == [h]
    await logout(client)
    await login(client, "h@example.org")
    assert "moderator" in (await client.get("/api/v1/me")).json()["roles"]
    assert (await client.get("/moderation")).status_code == 200
    await logout(client)
    await login(client, "op@example.org")
    assert (await client.post(f"/api/v1/operator/moderators/{h}/revoke")).status_code == 200
    assert (await client.post(f"/api/v1/operator/moderators/{h}/revoke")).status_code == 404
    assert (await client.post("/api/v1/operator/moderators", json={"email": "nobody@example.org"})).status_code == 400
    assert (await client.post("/api/v1/operator/moderators", json={"email": "x" * 300})).status_code == 400


async def test_operator_pages(env):
    client, engine = env
    await create_user(engine, "op@example.org", roles=("operator",))
    await create_user(engine, "p@example.org")
    await login(client, "op@example.org")
    token = client.cookies.get("csrftoken")

    async def form(path, data):
        return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)

    page = await client.get("/operateur/partenaires")
    assert page.status_code == 200 and "Aucune organisation" in page.text
    r = await form("/operateur/partenaires", {"slug": "Mauvais slug", "name": "X"})
    assert r.status_code == 400 and 'aria-invalid="true"' in r.text
    r = await form("/operateur/partenaires", {"slug": "avise", "name": "Avise"})
    assert r.status_code == 303 and r.headers["location"] == "/operateur/partenaires/avise"
    r = await form("/operateur/partenaires/avise/utilisateurs", {"email": "p@example.org"})
    assert r.status_code == 303
    r = await client.post("/operateur/partenaires/avise/cles",
                          data={"scopes": ["ingest", "read"], "label": "essai", "_csrf_token": token})
    assert r.status_code == 200 and "ne sera plus jamais affichée" in r.text
    shown = r.text.split('id="new-key-value">', 1)[1].split("<", 1)[0]
    assert shown.startswith("cfr_")
    again = await client.get("/operateur/partenaires/avise")
    assert shown not in again.text and shown[:8] in again.text and "p@example.org" in again.text
    r = await client.post("/operateur/partenaires/avise/cles", data={"scopes": ["admin"], "_csrf_token": token})
    assert r.status_code == 400 and "ingest et/ou read" in r.text
    key_id = (await client.get("/api/v1/operator/partners/avise")).json()["keys"][0]["id"]
    r = await form(f"/operateur/partenaires/avise/cles/{key_id}/revoquer", {})
    assert r.status_code == 303
    assert "révoquée le" in (await client.get("/operateur/partenaires/avise")).text
    assert (await client.get("/operateur/partenaires/nope")).status_code == 404
    r = await form("/operateur/moderateurs", {"email": "p@example.org"})
    assert r.status_code == 303
    assert "p@example.org" in (await client.get("/operateur/moderateurs")).text


async def test_forbidden_cases(env):
    client, engine = env
    await create_user(engine, "op@example.org", roles=("operator",))
    await create_user(engine, "h@example.org")
    await create_user(engine, "m@example.org", roles=("moderator",))
    await create_user(engine, "p@example.org", partner="tiers-lieux-nord")
    await create_user(engine, "u@example.org", roles=("operator",), verified=False)

    # anonymous: 401 on the API (CSRF token present so that the guard answers), redirect on the pages
    await csrf(client)
    for method, path, body in OPERATOR_API:
        assert (await _call(client, method, path, body)).status_code == 401, (method, path)
    for method, path in OPERATOR_PAGES:
        r = await _call(client, method, path)
        assert r.status_code == 303 and r.headers["location"].startswith("/connexion?next="), (method, path)
    r = await client.get("/moderation", follow_redirects=False)
    assert r.status_code == 303
    assert (await client.get("/api/v1/me")).status_code == 401

    # logged in without the operator role (holder, moderator, partner, unverified operator): 403
    for email in ("h@example.org", "m@example.org", "p@example.org", "u@example.org"):
        await login(client, email)
        for method, path, body in OPERATOR_API:
            assert (await _call(client, method, path, body)).status_code == 403, (email, method, path)
        for method, path in OPERATOR_PAGES:
            r = await _call(client, method, path)
            assert r.status_code == 403 and "Accès refusé" in r.text, (email, method, path)
        expected = 200 if email == "m@example.org" else 403
        assert (await client.get("/moderation")).status_code == expected, email
        await logout(client)

    # the operator, but without the CSRF token: every unsafe request refused
    await login(client, "op@example.org")
    client.headers.pop("x-csrftoken")
    for method, path, body in OPERATOR_API:
        if method != "GET":
            assert (await _call(client, method, path, body)).status_code == 403, (method, path)
    r = await client.post("/deconnexion", follow_redirects=False)
    assert r.status_code == 403
    await csrf(client)
    assert (await client.get("/api/v1/operator/partners")).status_code == 200
    # a forged session cookie is nobody
    client.cookies.set("carrefour_session", "x" * 43)
    assert (await client.get("/api/v1/operator/partners")).status_code == 401


async def test_odd_inputs_never_500(env):
    client, engine = env
    await create_user(engine, "op@example.org", roles=("operator",))
    await login(client, "op@example.org")
    huge = 10**20
    for method, path, body in [
        ("POST", f"/api/v1/operator/partners/x/users/{huge}/detach", None),
        ("POST", f"/api/v1/operator/partners/x/keys/{huge}/revoke", None),
        ("POST", f"/api/v1/operator/moderators/{huge}/revoke", None),
        ("POST", "/api/v1/operator/moderators/-1/revoke", None),
        ("GET", "/api/v1/operator/partners/" + "a" * 500, None),
        ("POST", "/api/v1/operator/partners", {"slug": 12, "name": ["x"]}),
        ("POST", "/api/v1/operator/partners", [1, 2]),
        ("POST", "/api/v1/operator/partners/x/keys", {"scopes": "ingest"}),
        ("POST", f"/operateur/partenaires/x/cles/{huge}/revoquer", None),
        ("POST", f"/operateur/moderateurs/{huge}/retirer", None),
    ]:
        r = await _call(client, method, path, body)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:200])
    token = client.cookies.get("csrftoken")
    for data in ({"email": "x" * 5000, "password": "y" * 5000}, {"email": "\x00", "password": "\x00"}, {}):
        r = await client.post("/connexion", data={**data, "_csrf_token": token}, follow_redirects=False)
        assert r.status_code == 400, r.text[:200]
    r = await client.post("/connexion", content=b"\xff\xfe garbage", follow_redirects=False,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500
    for path in ("/verification?token=" + "x" * 5000, "/reinitialisation?token=%00", "/connexion?next=" + "/" * 3000):
        assert (await client.get(path)).status_code in (200, 400), path
