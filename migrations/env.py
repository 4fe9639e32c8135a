"""Alembic environment: async (asyncpg), URL from DATABASE_URL (embedded default otherwise)."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from libs.runtime.settings import settings

config = context.config


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def main() -> None:
    url = config.get_main_option("sqlalchemy.url") or settings().database_url
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(run_migrations)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
asyncio.run(main())
