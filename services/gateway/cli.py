"""Operator commands: ``python -m services.gateway.cli create-key --partner SLUG`` / ``revoke-key PREFIX`` /
``create-operator --email EMAIL`` (creates or resets an operator account; prints its password)."""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.accounts import domain
from services.gateway.accounts.audit import audit
from services.gateway.accounts.domain import AccountError
from services.gateway.accounts.passwords import hash_password
from services.gateway.partners.keys import SCOPES, ApiKeys
from services.gateway.settings import settings


async def create_operator(engine, email: str, password: str | None = None) -> str:
    """Create the operator account ``email`` (verified), or give it the operator role and a new password;
    returns the password."""
    email = domain.normalize_email(email)
    password = password or secrets.token_urlsafe(12)
    domain.check_password(password, email)
    password_hash = await hash_password(password)
    async with engine.begin() as conn:
        user_id = (await conn.execute(text(
            "INSERT INTO users (email, display_name, password_hash, roles, email_verified) "
            "VALUES (:e, 'Opérateur', :h, '{operator}', true) "
            "ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash, email_verified = true, "
            "roles = CASE WHEN 'operator' = ANY(users.roles) THEN users.roles "
            "ELSE array_append(users.roles, 'operator') END, disabled_at = NULL RETURNING id"),
            {"e": email, "h": password_hash})).scalar_one()
        await conn.execute(text("DELETE FROM user_sessions WHERE user_id = :u"), {"u": user_id})
        await audit(conn, None, "account.operator_created", f"user:{user_id}", {"by": "cli"})
    return password


async def _main(args) -> int:
    engine = create_async_engine(settings().database_url)
    keys = ApiKeys(engine)
    try:
        if args.cmd == "create-operator":
            try:
                password = await create_operator(engine, args.email, args.password)
            except AccountError as exc:
                print(f"create-operator: {exc.message}")
                return 2
            print(f"operator account: {args.email}  password: {password}  (log in at /connexion)")
        elif args.cmd == "create-key":
            if not re.match(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$", args.partner):
                print("partner must be a slug (a-z, 0-9, -)")
                return 2
            key = await keys.create(args.partner, tuple(args.scope or ["ingest"]), args.label, args.key)
            print(key)
        else:
            n = await keys.revoke(args.prefix)
            print(f"revoked {n} key(s)")
    finally:
        await engine.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="carrefour-keys")
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-key", help="create an API key for a partner; prints it once")
    c.add_argument("--partner", required=True)
    c.add_argument("--scope", action="append", choices=SCOPES)
    c.add_argument("--label")
    c.add_argument("--key", help="use this key instead of a random one (demo and tests only)")
    o = sub.add_parser("create-operator", help="create an operator account (or reset its password); prints it once")
    o.add_argument("--email", required=True)
    o.add_argument("--password", help="this password instead of a random one (tests only)")
    r = sub.add_parser("revoke-key", help="revoke a key by its first 8 characters or the whole key")
    r.add_argument("prefix")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
