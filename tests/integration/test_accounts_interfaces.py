"""The shared interfaces of accounts work end to end: create_user + login give a session the guards
accept, current_user reaches templates, CSRF guards forms, the mailer's outbox reaches the Maildir."""

from __future__ import annotations

from litestar import get
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.gateway.web.mailer import Mailer
from tests.conftest import fresh_database
from tests.helpers_accounts import create_user, login, logout, wait_for_mail


async def test_login_session_guards_csrf_and_mail(stack, tmp_path):
    url = fresh_database(stack, "acci")
    engine = create_async_engine(url)
    mailbox = tmp_path / "mail"
    try:
        holder = await create_user(engine, "porteur@example.org")
        await create_user(engine, "op@example.org", roles=("operator",))
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap, mailbox_dir=str(mailbox)))
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/api/v1/me")).status_code == 401
            page = await client.get("/")
            assert 'href="/connexion"' in page.text and "Mon compte" not in page.text
            # a form post without the CSRF token is refused
            r = await client.post("/connexion", data={"email": "porteur@example.org", "password": "x"},
                                  follow_redirects=False)
            assert r.status_code == 403

            await login(client, "porteur@example.org")
            me = (await client.get("/api/v1/me")).json()
            assert me["id"] == holder and "holder" in me["roles"] and me["email_verified"]
            page = await client.get("/")
            assert "Mon compte" in page.text and "Déconnexion" in page.text and "/operateur/partenaires" not in page.text

            # the app runs on the test client's own loop: queue through a Mailer on this loop's engine
            await Mailer(engine).send("Quelqu'un <dest@example.org>", "Bonjour\nBcc: x@y", "Corps du message",
                                        reply_to="reponse+abc@carrefour.localhost", headers={"X-Carrefour": "1"})
            msg = await wait_for_mail(mailbox, to="dest@example.org", subject_contains="Bonjour")
            assert msg["Reply-To"] == "reponse+abc@carrefour.localhost" and msg["X-Carrefour"] == "1"
            assert msg["Bcc"] is None and "Corps du message" in msg.get_body().get_content()

            await logout(client)
            assert (await client.get("/api/v1/me")).status_code == 401
            await login(client, "op@example.org")
            page = await client.get("/")
            assert "/operateur/partenaires" in page.text and 'href="/moderation"' in page.text
        async with engine.connect() as conn:
            actions = [r.action for r in await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))]
            assert actions.count("account.login") == 2 and "account.logout" in actions
            assert (await conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_guards_answer_401_and_403(stack):
    from services.gateway.accounts.identity import current_user, require_login, require_role

    @get("/t/login", guards=[require_login])
    async def needs_login() -> str:
        return "ok"

    @get("/t/mod", guards=[require_role("moderator")])
    async def needs_mod(request: Request) -> dict:  # noqa: F821
        user = await current_user(request)
        return {"id": user.id}

    from litestar import Request  # noqa: F401 — for the annotation above

    url = fresh_database(stack, "accg")
    engine = create_async_engine(url)
    try:
        await create_user(engine, "h@example.org")
        op = await create_user(engine, "op@example.org", roles=("operator",))
        await create_user(engine, "new@example.org", roles=("moderator",), verified=False)
        app = create_app(GatewaySettings(database_url=url, kafka_bootstrap=stack.bootstrap))
        app.register(needs_login)
        app.register(needs_mod)
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/t/login")).status_code == 401
            assert (await client.get("/t/mod")).status_code == 401
            await login(client, "h@example.org")
            assert (await client.get("/t/login")).status_code == 200
            assert (await client.get("/t/mod")).status_code == 403
            await logout(client)
            await login(client, "new@example.org")  # unverified: no role beyond visitor yet
            assert (await client.get("/t/mod")).status_code == 403
            await logout(client)
            await login(client, "op@example.org")  # operator implies moderator
            assert (await client.get("/t/mod")).json() == {"id": op}
    finally:
        await engine.dispose()
