"""Crawl state, runs and partners in PostgreSQL (tables of migrations/versions/0002_crawler.py)."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.partner_events import RUN_COUNTS, CrawlRunSummary, PartnerInfo, PartnerStatusChanged
from services.crawler.domain import RecordState, UrlState

_RUN_COLUMNS = ("id, status, complete, started_at, finished_at, " + ", ".join(RUN_COUNTS)
                + ", error_samples, by_rule, first_reasons")


def _json(value) -> str:
    return orjson.dumps(value).decode()


class CrawlStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def load(self, partner: str) -> tuple[dict[str, UrlState], dict[str, RecordState]]:
        async with self.engine.connect() as conn:
            urls = {
                r.url: UrlState(r.url, r.etag, r.last_modified, r.content_hash, r.status, r.links or [],
                                r.record_ids or [], r.body, r.last_fetched)
                for r in await conn.execute(text(
                    "SELECT url, etag, last_modified, content_hash, status, links, record_ids, body, last_fetched "
                    "FROM crawl_urls WHERE partner = :p"), {"p": partner})
            }
            records = {
                r.record_id: RecordState(r.record_id, r.content_hash, r.url, r.missing_cycles, r.deleted)
                for r in await conn.execute(text(
                    "SELECT record_id, content_hash, url, missing_cycles, deleted FROM crawl_records "
                    "WHERE partner = :p"), {"p": partner})
            }
        return urls, records

    async def save(self, partner: str, urls: list[UrlState], removed: set[str], records: list[RecordState]) -> None:
        async with self.engine.begin() as conn:
            if removed:
                await conn.execute(text("DELETE FROM crawl_urls WHERE partner = :p AND url = ANY(:urls)"),
                                   {"p": partner, "urls": sorted(removed)})
            if urls:
                await conn.execute(text(
                    """
                    INSERT INTO crawl_urls (partner, url, etag, last_modified, content_hash, status, links,
                                            record_ids, body, last_fetched, last_seen)
                    VALUES (:p, :url, :etag, :lm, :hash, :status, CAST(:links AS jsonb), CAST(:ids AS jsonb),
                            :body, :fetched, now())
                    ON CONFLICT (partner, url) DO UPDATE SET
                        etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
                        content_hash = EXCLUDED.content_hash, status = EXCLUDED.status, links = EXCLUDED.links,
                        record_ids = EXCLUDED.record_ids, body = EXCLUDED.body,
                        last_fetched = EXCLUDED.last_fetched, last_seen = now()
                    """),
                    [{"p": partner, "url": u.url, "etag": u.etag, "lm": u.last_modified, "hash": u.content_hash,
                      "status": u.status, "links": _json(u.links), "ids": _json(u.record_ids), "body": u.body,
                      "fetched": u.last_fetched} for u in urls])
            if records:
                await conn.execute(text(
                    """
                    INSERT INTO crawl_records (partner, record_id, content_hash, url, missing_cycles, deleted, last_seen)
                    VALUES (:p, :rid, :hash, :url, :missing, :deleted, now())
                    ON CONFLICT (partner, record_id) DO UPDATE SET
                        content_hash = EXCLUDED.content_hash, url = EXCLUDED.url,
                        missing_cycles = EXCLUDED.missing_cycles, deleted = EXCLUDED.deleted,
                        last_seen = CASE WHEN EXCLUDED.missing_cycles = 0 AND NOT EXCLUDED.deleted
                                         THEN now() ELSE crawl_records.last_seen END
                    """),
                    [{"p": partner, "rid": r.record_id, "hash": r.content_hash, "url": r.url,
                      "missing": r.missing_cycles, "deleted": r.deleted} for r in records])

    async def start_run(self, partner: str) -> int:
        async with self.engine.begin() as conn:
            return (await conn.execute(text("INSERT INTO crawl_runs (partner) VALUES (:p) RETURNING id"),
                                       {"p": partner})).scalar_one()

    async def finish_run(self, run_id: int, status: str, stats: dict) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                """
                UPDATE crawl_runs SET finished_at = now(), status = :status, complete = :complete,
                    requests = :requests, fetched = :fetched, not_modified = :not_modified, unchanged = :unchanged,
                    new = :new, updated = :updated, deleted = :deleted, rejected = :rejected, errors = :errors,
                    error_samples = CAST(:samples AS jsonb), items = :items, projects = :projects,
                    excluded = :excluded, by_rule = CAST(:by_rule AS jsonb),
                    first_reasons = CAST(:first_reasons AS jsonb)
                WHERE id = :id
                """),
                {"id": run_id, "status": status, "complete": stats.get("complete", False),
                 **{k: int(stats.get(k, 0)) for k in ("requests", "fetched", "not_modified", "unchanged", "new",
                                                      "updated", "deleted", "rejected", "errors", "items",
                                                      "projects", "excluded")},
                 "samples": _json(stats.get("error_samples", [])[:20]),
                 "by_rule": _json(stats.get("by_rule", {})),
                 "first_reasons": _json(stats.get("first_reasons", [])[:20])})

    async def sync_partners(self, partners) -> None:
        """The configured partners, for the gateway's GET /api/v1/partners (removed ones disabled)."""
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE crawl_partners SET enabled = false, updated_at = now()"))
            if partners:
                await conn.execute(text(
                    """
                    INSERT INTO crawl_partners (slug, name, base_url, connector, licence, attribution, enabled,
                                                guessed, schedule_s, updated_at)
                    VALUES (:slug, :name, :base_url, :connector, :licence, :attribution, :enabled, :guessed,
                            :schedule_s, now())
                    ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, base_url = EXCLUDED.base_url,
                        connector = EXCLUDED.connector, licence = EXCLUDED.licence,
                        attribution = EXCLUDED.attribution, enabled = EXCLUDED.enabled,
                        guessed = EXCLUDED.guessed, schedule_s = EXCLUDED.schedule_s, updated_at = now()
                    """),
                    [{"slug": p.slug, "name": p.name, "base_url": p.base_url, "connector": p.connector,
                      "licence": p.licence, "attribution": p.attribution, "enabled": p.enabled,
                      "guessed": p.guessed, "schedule_s": p.schedule_s} for p in partners])

    async def last_run_finished(self, partner: str):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(
                "SELECT max(finished_at) FROM crawl_runs WHERE partner = :p AND status <> 'running'"),
                {"p": partner})).scalar_one()

    async def statuses(self, slug: str | None = None, run_id: int | None = None) -> list[PartnerStatusChanged]:
        """What the crawler tells the platform about its partners (``crawl.partners.v1``): every known
        partner (or ``slug``) with its run ``run_id`` (default: its last finished run) and live records."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                f"""
                SELECT p.slug, p.name, p.base_url, p.connector, p.licence, p.attribution, p.enabled, p.guessed,
                       p.schedule_s, r.{_RUN_COLUMNS.replace(', ', ', r.')},
                       (SELECT count(*) FROM crawl_records c WHERE c.partner = p.slug AND NOT c.deleted) AS records
                FROM crawl_partners p
                LEFT JOIN LATERAL (SELECT * FROM crawl_runs WHERE partner = p.slug
                                   AND (id = :run OR (CAST(:run AS bigint) IS NULL AND status <> 'running'))
                                   ORDER BY id DESC LIMIT 1) r ON true
                WHERE CAST(:slug AS text) IS NULL OR p.slug = :slug
                ORDER BY p.slug
                """), {"slug": slug, "run": run_id})).mappings().all()
        return [PartnerStatusChanged(partner=PartnerInfo(
            slug=r["slug"], name=r["name"] or r["slug"], base_url=r["base_url"], connector=r["connector"],
            licence=r["licence"], attribution=r["attribution"], enabled=r["enabled"], guessed=r["guessed"],
            schedule_s=r["schedule_s"]), run=_run(r), records=r["records"]) for r in rows]


def _run(row) -> CrawlRunSummary | None:
    if row["id"] is None:
        return None
    return CrawlRunSummary(
        run_id=row["id"], status=row["status"], complete=row["complete"], started_at=row["started_at"],
        finished_at=row["finished_at"], counts={k: int(row[k] or 0) for k in RUN_COUNTS},
        error_samples=[str(x)[:2000] for x in (row["error_samples"] or [])][:20],
        by_rule={str(k)[:80]: int(v) for k, v in list((row["by_rule"] or {}).items())[:60]},
        first_reasons=[str(x)[:2000] for x in (row["first_reasons"] or [])][:20])
