"""Accounts end to end, in process on the real database and broker: sign-up and e-mail verification,
login (cookie flags, only a hash stored, expiry), throttling across accounts and addresses, password
reset (single use, expiring), Mon compte, and the forbidden cases of the pages."""

from __future__ import annotations

import hashlib

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, csrf, link_in, login, logout, read_mailbox, wait_for_mail

PASSWORD = "une phrase de passe solide"


@pytest.fixture
async def env(stack, tmp_path):
    url = fresh_database(stack, "accf")
    engine = create_async_engine(url)
    mailbox = tmp_path / "mail"
    app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox),
                                     login_delay_base_s=0.01))
    async with AsyncTestClient(app=app) as client:
        yield client, engine, mailbox, app
    await engine.dispose()


async def _post(client, path, data, **kw):
    token = await csrf(client)
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False, **kw)


async def _scalar(engine, sql, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_signup_verify_login_logout(env):
    client, engine, mailbox, _ = env
    assert (await client.get("/inscription")).status_code == 200
    bad = await _post(client, "/inscription", {"email": "lea@example.org", "password": "court", "password2": "court"})
    assert bad.status_code == 400 and "au moins 12 caractères" in bad.text and 'aria-invalid="true"' in bad.text
    bad = await _post(client, "/inscription", {"email": "pas-une-adresse", "password": PASSWORD, "password2": PASSWORD})
    assert bad.status_code == 400 and "n&#39;est pas valide" in bad.text
    bad = await _post(client, "/inscription", {"email": "lea@example.org", "password": PASSWORD, "password2": "autre"})
    assert bad.status_code == 400 and "ne correspondent pas" in bad.text
    assert read_mailbox(mailbox) == []

    r = await _post(client, "/inscription", {"email": "Lea@Example.org", "display_name": "Léa",
                                             "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/inscription/envoyee"  # post/redirect/get
    assert "Vérifiez votre messagerie" in (await client.get("/inscription/envoyee")).text
    msg = await wait_for_mail(mailbox, to="lea@example.org", subject_contains="Confirmez")
    verify_url = link_in(msg, "/verification")
    # the same address again: no second account, the owner is told instead (no enumeration on the page)
    again = await _post(client, "/inscription", {"email": "lea@example.org", "password": PASSWORD, "password2": PASSWORD})
    assert again.status_code == 303 and again.headers["location"] == "/inscription/envoyee"
    await wait_for_mail(mailbox, to="lea@example.org", subject_contains="existe déjà")
    assert await _scalar(engine, "SELECT count(*) FROM users") == 1
    password_hash = await _scalar(engine, "SELECT password_hash FROM users")
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash

    # unverified: logged in, but only a visitor
    await login(client, "lea@example.org", PASSWORD)
    me = (await client.get("/api/v1/me")).json()
    assert me["roles"] == ["visitor"] and not me["email_verified"] and me["display_name"] == "Léa"
    page = await client.get("/compte")
    assert "à confirmer" in page.text and "Renvoyer le lien" in page.text

    r = await client.get(verify_url.split("testserver.local", 1)[1])
    assert r.status_code == 200 and "Adresse confirmée" in r.text
    me = (await client.get("/api/v1/me")).json()
    assert me["email_verified"] and "holder" in me["roles"]
    again = await client.get(verify_url.split("testserver.local", 1)[1])
    assert again.status_code == 400  # single use
    assert (await client.get("/verification?token=nope")).status_code == 400

    await logout(client)
    assert (await client.get("/api/v1/me")).status_code == 401
    async with engine.connect() as conn:
        actions = [r.action for r in await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))]
    assert actions[:2] == ["account.signup", "account.signup_existing"] and "account.verified" in actions


async def test_session_cookie_flags_hash_only_and_expiry(env, stack):
    client, engine, _, _ = env
    await create_user(engine, "h@example.org")
    token = await csrf(client)
    r = await client.post("/connexion", data={"email": "h@example.org", "password": "correct horse battery",
                                              "next": "https://evil.example/x", "_csrf_token": token},
                          follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/compte"  # never an open redirect
    cookie = r.headers["set-cookie"]
    assert "carrefour_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # local development host over http
    session = client.cookies.get("carrefour_session")
    stored = await _scalar(engine, "SELECT token_hash FROM user_sessions")
    assert stored == hashlib.sha256(session.encode()).hexdigest() and session not in stored
    assert (await client.get("/compte")).status_code == 200

    async with engine.begin() as conn:
        await conn.execute(text("UPDATE user_sessions SET expires_at = now() - interval '1 second'"))
    assert (await client.get("/api/v1/me")).status_code == 401
    r = await client.get("/compte", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/connexion?next=%2Fcompte"

    r = await _post(client, "/connexion", {"email": "h@example.org", "password": "correct horse battery",
                                           "next": "/annonces?kind=job_offer"})
    assert r.headers["location"] == "/annonces?kind=job_offer"

    # Secure when configured (and by default on a public host)
    url = fresh_database(stack, "accs")
    other = create_async_engine(url)
    try:
        await create_user(other, "h@example.org")
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, session_cookie_secure=True))
        async with AsyncTestClient(app=app, base_url="https://testserver.local") as c2:
            token = await csrf(c2)
            r = await c2.post("/connexion", data={"email": "h@example.org", "password": "correct horse battery",
                                                  "_csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
    finally:
        await other.dispose()


async def test_login_throttled_per_address_and_challenged_per_account(env):
    client, engine, mailbox, _ = env
    await create_user(engine, "cible@example.org")
    for _ in range(5):
        r = await _post(client, "/connexion", {"email": "cible@example.org", "password": "mauvais mot de passe"})
        assert r.status_code == 400 and "incorrect" in r.text
    # the password alone no longer logs in (whatever the replica) — but it is no lock: a mailed link does
    r = await _post(client, "/connexion", {"email": "cible@example.org", "password": "correct horse battery"})
    assert r.status_code == 429 and "lien reçu par e-mail" in r.text and 'action="/connexion/lien"' in r.text
    assert int(r.headers["retry-after"]) >= 1
    assert await _scalar(engine, "SELECT count(*) FROM auth_throttle WHERE key = 'login:acct:cible@example.org'") == 5
    r = await _post(client, "/connexion/lien", {"email": "cible@example.org"})
    assert r.status_code == 200 and "Si un compte existe" in r.text
    path = link_in(await wait_for_mail(mailbox, to="cible@example.org", subject_contains="lien de connexion"),
                   "/connexion/lien").split("testserver.local", 1)[1]
    page = await client.get(path)  # a page with a button: a mail scanner's prefetch logs nobody in
    assert page.status_code == 200 and "Me connecter" in page.text and not client.cookies.get("carrefour_session")
    token = path.split("token=", 1)[1]
    r = await _post(client, "/connexion/lien/confirmer", {"token": token})
    assert r.status_code == 303 and r.headers["location"] == "/compte" and client.cookies.get("carrefour_session")
    assert (await client.get("/api/v1/me")).json()["email"] == "cible@example.org"
    assert await _scalar(engine, "SELECT count(*) FROM auth_throttle WHERE key = 'login:acct:cible@example.org'") == 0
    await logout(client)
    r = await _post(client, "/connexion/lien/confirmer", {"token": token})
    assert r.status_code == 400 and not client.cookies.get("carrefour_session")  # single use

    # per address: 30 failures spread over many accounts refuse the address; the counts live in
    # PostgreSQL, so failures seen by other gateway replicas count too (rows added here)
    await create_user(engine, "autre@example.org")
    ip_key = await _scalar(engine, "SELECT DISTINCT key FROM auth_throttle WHERE key LIKE 'login:ip:%'")
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO auth_throttle (key) SELECT :k FROM generate_series(1, 20)"), {"k": ip_key})
    for i in range(5):  # 5 (above) + 20 + 5 = 30 failures from this address
        r = await _post(client, "/connexion", {"email": f"x{i}@example.org", "password": "mauvais mot de passe"})
        assert r.status_code == 400
    r = await _post(client, "/connexion", {"email": "autre@example.org", "password": "correct horse battery"})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 15 * 60
    # the window passed (rows aged): the address may log in again
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE auth_throttle SET at = now() - interval '16 minutes'"))
    r = await _post(client, "/connexion", {"email": "cible@example.org", "password": "correct horse battery"})
    assert r.status_code == 303


async def test_password_reset_single_use_and_expiring(env):
    client, engine, mailbox, _ = env
    await create_user(engine, "oubli@example.org")
    await login(client, "oubli@example.org")  # a session that the reset must close
    other = client.cookies.get("carrefour_session")
    client.cookies.delete("carrefour_session")

    sent = (303, "/mot-de-passe-oublie/envoye")  # post/redirect/get
    r = await _post(client, "/mot-de-passe-oublie", {"email": "inconnu@example.org"})
    assert (r.status_code, r.headers["location"]) == sent  # same answer, no mail
    r = await _post(client, "/mot-de-passe-oublie", {"email": "oubli@example.org"})
    assert (r.status_code, r.headers["location"]) == sent
    assert "Si un compte existe" in (await client.get(sent[1])).text
    msg = await wait_for_mail(mailbox, to="oubli@example.org", subject_contains="Réinitialiser")
    assert all("inconnu" not in str(m["To"]) for m in read_mailbox(mailbox))
    path = link_in(msg, "/reinitialisation").split("testserver.local", 1)[1]
    token = path.split("token=", 1)[1]
    assert (await client.get(path)).status_code == 200
    weak = await _post(client, "/reinitialisation", {"token": token, "password": "abc", "password2": "abc"})
    assert weak.status_code == 400 and "au moins" in weak.text
    ok = await _post(client, "/reinitialisation", {"token": token, "password": PASSWORD, "password2": PASSWORD})
    assert ok.status_code == 303 and ok.headers["location"] == "/reinitialisation/faite"
    assert "Mot de passe changé" in (await client.get("/reinitialisation/faite")).text
    reuse = await _post(client, "/reinitialisation", {"token": token, "password": PASSWORD, "password2": PASSWORD})
    assert reuse.status_code == 400 and "plus valable" in reuse.text
    assert (await client.get(path)).status_code == 400

    client.cookies.set("carrefour_session", other)
    assert (await client.get("/api/v1/me")).status_code == 401  # the older session was closed
    client.cookies.delete("carrefour_session")
    await login(client, "oubli@example.org", PASSWORD)

    # an expired link is refused
    await logout(client)
    await _post(client, "/mot-de-passe-oublie", {"email": "oubli@example.org"})
    msg = await wait_for_mail(mailbox, to="oubli@example.org", subject_contains="Réinitialiser", count=2)
    token2 = link_in(msg, "/reinitialisation").split("token=", 1)[1]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE purpose='reset'"))
    r = await _post(client, "/reinitialisation", {"token": token2, "password": PASSWORD + "!", "password2": PASSWORD + "!"})
    assert r.status_code == 400
    # reset requests are throttled per address (3 an hour): the third is sent, the next ones are not
    for _ in range(3):
        await _post(client, "/mot-de-passe-oublie", {"email": "oubli@example.org"})
    assert await _scalar(engine, "SELECT count(*) FROM outbox WHERE subject LIKE 'Réinitialiser%'") == 3


async def test_account_page_name_and_password_change(env):
    client, engine, mailbox, _ = env
    await create_user(engine, "moi@example.org", display_name="Moi")
    r = await client.get("/compte", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/connexion?next=")
    await login(client, "moi@example.org")
    page = await client.get("/compte")
    assert page.status_code == 200 and "moi@example.org" in page.text and "porteur de projet" in page.text
    assert page.headers["cache-control"] == "no-store"
    r = await _post(client, "/compte", {"display_name": "Nouveau nom"})
    assert r.status_code == 303
    assert (await client.get("/api/v1/me")).json()["display_name"] == "Nouveau nom"
    r = await _post(client, "/compte", {"display_name": "x" * 81})
    assert r.status_code == 400
    r = await _post(client, "/compte/mot-de-passe", {"current": "faux faux faux", "password": PASSWORD,
                                                     "password2": PASSWORD})
    assert r.status_code == 400 and "actuel est incorrect" in r.text
    r = await _post(client, "/compte/mot-de-passe", {"current": "correct horse battery", "password": PASSWORD,
                                                     "password2": PASSWORD})
    assert r.status_code == 303
    assert (await client.get("/api/v1/me")).status_code == 200  # this session is kept
    await logout(client)
    await login(client, "moi@example.org", PASSWORD)
    # forbidden without a login: the account forms and the resend
    await logout(client)
    for path in ("/compte", "/compte/mot-de-passe", "/compte/verification"):
        r = await _post(client, path, {"display_name": "x"})
        assert r.status_code == 303 and r.headers["location"].startswith("/connexion")
    # and every form without the CSRF token
    client.headers.pop("x-csrftoken")
    r = await client.post("/inscription", data={"email": "z@example.org"}, follow_redirects=False)
    assert r.status_code == 403


async def test_resend_verification(env):
    client, engine, mailbox, _ = env
    await create_user(engine, "nv@example.org", verified=False)
    await login(client, "nv@example.org")
    r = await _post(client, "/compte/verification", {})
    assert r.status_code == 303 and r.headers["location"] == "/compte?renvoi=ok"
    msg = await wait_for_mail(mailbox, to="nv@example.org", subject_contains="Confirmez")
    path = link_in(msg, "/verification").split("testserver.local", 1)[1]
    assert (await client.get(path)).status_code == 200
    assert "holder" in (await client.get("/api/v1/me")).json()["roles"]
    r = await _post(client, "/compte/verification", {})
    assert r.headers["location"] == "/compte?renvoi=non"  # already verified


async def test_signups_from_one_address_are_limited(env):
    client, engine, _, _ = env
    ip_key = "mail:ip:testclient"
    async with engine.begin() as conn:  # 20 mails already triggered from this address within the hour
        await conn.execute(text("INSERT INTO auth_throttle (key) SELECT :k FROM generate_series(1, 20)"), {"k": ip_key})
    r = await _post(client, "/inscription", {"email": "spam@example.org", "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 400 and "Trop de demandes" in r.text
    assert await _scalar(engine, "SELECT count(*) FROM users") == 0  # rolled back with the refusal
