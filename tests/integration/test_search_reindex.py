"""``make reindex`` (``python -m services.indexer.reindex``) as a real command on the embedded
database: the index ends up exactly equal to the live canonical projects, and the swap leaves
one table with the migrations' indexes."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.search.postgres import PostgresSearch
from services.gateway.search.rules import parse_search
from services.indexer.adapters.search import PostgresIndexWriter
from tests.conftest import fresh_database
from tests.integration.test_search_conformance import BY_ID, PROJECTS
from tools.devstack import ROOT


async def test_make_reindex_rebuilds_from_canonical_projects(stack):
    url = fresh_database(stack, "reindex")
    engine = create_async_engine(url)
    try:
        writer = PostgresIndexWriter(engine)
        stale = BY_ID["velo-lille"].model_copy(update={"title": "Ancien titre"})
        await writer.upsert(stale, 1)  # the index lags: old title
        await writer.upsert(BY_ID["cuisine-paris"], 1)  # no longer canonical
        async with engine.begin() as conn:
            for project in PROJECTS:
                if project.id == "cuisine-paris":
                    continue
                await conn.execute(text(
                    "INSERT INTO canonical_projects (id, version, project, deleted) VALUES (:id, 2, :p, :d)"),
                    {"id": project.id, "p": orjson.dumps(project.model_dump(mode="json")).decode(),
                     "d": project.id == "epicerie-lyon"})
        env = {**os.environ, "DATABASE_URL": url, "SEARCH_BACKEND": "postgres"}
        done = subprocess.run([sys.executable, "-m", "services.indexer.reindex"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "reindexed 10 projects into postgres" in done.stdout and "swapped" in done.stdout

        reader = PostgresSearch(engine)
        result = await reader.search(parse_search(per_page=50))
        assert {h["id"] for h in result["hits"]} == {p.id for p in PROJECTS} - {"cuisine-paris", "epicerie-lyon"}
        assert (await reader.get("velo-lille"))["title"] == "Atelier vélo participatif"
        assert {h["version"] for h in result["hits"]} == {2}
        async with engine.connect() as conn:
            tables = set((await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'search_documents%'"))).scalars())
        assert tables == {"search_documents"}
    finally:
        await engine.dispose()
