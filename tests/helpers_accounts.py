"""Test helpers for anything behind a login: users inserted directly, logging a test client
in (session cookie + CSRF header), and reading the mail the gateway delivered to its Maildir.

    user_id = await create_user(engine, "porteur@example.org")            # verified holder
    op_id = await create_user(engine, "op@example.org", roles=("operator",))
    await login(client, "porteur@example.org")  # the client now sends the cookie and x-csrftoken
    msg = await wait_for_mail(mailbox_dir, to="porteur@example.org", subject_contains="Confirmez")
    url = link_in(msg, "/verification")
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import re
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import text

from services.gateway.accounts.passwords import hash_password

DEFAULT_PASSWORD = "correct horse battery"
_HASHES: dict[str, str] = {}


async def create_user(engine, email: str, *, roles=("holder",), partner: str | None = None,
                      password: str = DEFAULT_PASSWORD, verified: bool = True,
                      display_name: str | None = None) -> int:
    """Insert an account (argon2 hash) and return its id; a ``partner`` organisation is created when
    missing (and "partner" added to the roles)."""
    if password not in _HASHES:
        _HASHES[password] = await hash_password(password)
    roles = list(dict.fromkeys([*roles, *(["partner"] if partner else [])]))
    async with engine.begin() as conn:
        if partner:
            await conn.execute(text("INSERT INTO partner_orgs (slug, name) VALUES (:s, :s) ON CONFLICT DO NOTHING"),
                               {"s": partner})
        return (await conn.execute(text(
            "INSERT INTO users (email, display_name, password_hash, roles, partner, email_verified) "
            "VALUES (:e, :n, :h, :r, :p, :v) RETURNING id"),
            {"e": email.lower(), "n": display_name or email.split("@")[0], "h": _HASHES[password],
             "r": [r for r in roles if r not in ("visitor", "holder")], "p": partner, "v": verified})).scalar_one()


async def csrf(client) -> str:
    """Make sure the client holds a CSRF cookie and sends it back as the x-csrftoken header."""
    token = client.cookies.get("csrftoken")
    if not token:
        await client.get("/connexion")
        token = client.cookies.get("csrftoken")
    assert token, "the gateway set no csrftoken cookie"
    client.headers["x-csrftoken"] = token
    return token


async def login(client, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Log ``client`` in through the login form; afterwards it sends the session cookie and the CSRF header."""
    token = await csrf(client)
    r = await client.post("/connexion", data={"email": email, "password": password, "_csrf_token": token},
                          follow_redirects=False)
    assert r.status_code == 303, f"login of {email} failed: {r.status_code} {r.text[:300]}"
    assert client.cookies.get("carrefour_session"), "no session cookie after login"


async def logout(client) -> None:
    await csrf(client)
    await client.post("/deconnexion", follow_redirects=False)
    client.cookies.delete("carrefour_session")


def read_mailbox(directory) -> list[EmailMessage]:
    """Every message delivered to the Maildir ``directory``, oldest first ([] when it does not exist)."""
    path = Path(directory)
    if not (path / "new").exists():
        return []
    box = mailbox.Maildir(path, factory=None, create=False)
    files = []
    for sub in ("new", "cur"):
        files += [f for f in (path / sub).iterdir() if f.is_file()]
    files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name))
    del box
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def _matches(msg: EmailMessage, to: str | None, subject_contains: str | None) -> bool:
    if to and to.lower() not in str(msg.get("To", "")).lower():
        return False
    return not (subject_contains and subject_contains.lower() not in str(msg.get("Subject", "")).lower())


async def wait_for_mail(directory, *, to: str | None = None, subject_contains: str | None = None,
                        timeout: float = 15.0, count: int = 1) -> EmailMessage:
    """The newest message to ``to`` whose subject contains ``subject_contains``, once at least ``count``
    such messages are there; AssertionError after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in read_mailbox(directory) if _matches(m, to, subject_contains)]
        if len(found) >= count:
            return found[-1]
        if asyncio.get_running_loop().time() > deadline:
            seen = [(m["To"], m["Subject"]) for m in read_mailbox(directory)]
            raise AssertionError(f"no mail to {to!r} with subject containing {subject_contains!r} "
                                 f"after {timeout}s; mailbox has {seen}")
        await asyncio.sleep(0.1)


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def link_in(msg: EmailMessage, path: str) -> str:
    """The first URL of the message's text whose path starts with ``path`` (e.g. "/verification")."""
    for url in re.findall(r"https?://\S+", body_of(msg)):
        if re.match(r"https?://[^/]+" + re.escape(path), url):
            return url
    raise AssertionError(f"no link to {path} in: {body_of(msg)[:500]}")


async def make_holder(engine, project_id: str, user_id: int) -> None:
    """Record ``user_id`` as the verified holder of ``project_id`` (an approved claim), directly."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO claims (project_id, user_id, status, decided_at, decided_via) "
                                "VALUES (:p, :u, 'approved', now(), 'operator')"), {"p": project_id, "u": user_id})
