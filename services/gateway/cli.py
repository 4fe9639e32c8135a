"""Operator commands: ``python -m services.gateway.cli create-key --partner SLUG`` / ``revoke-key PREFIX``."""

from __future__ import annotations

import argparse
import asyncio
import re

from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts.runtime.settings import settings
from services.gateway.adapters.keys import SCOPES, ApiKeys


async def _main(args) -> int:
    engine = create_async_engine(settings().database_url)
    keys = ApiKeys(engine)
    try:
        if args.cmd == "create-key":
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
    r = sub.add_parser("revoke-key", help="revoke a key by its first 8 characters or the whole key")
    r.add_argument("prefix")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
