"""Crawl now, from the command line: ``python -m services.crawler.cli crawl --partner avise`` (or ``--all``,
several partners at once); ``preview avise`` shows what a crawl would emit, skip and reject, writing nothing.

Uses the same broker, database and partners file as the service (KAFKA_BOOTSTRAP, DATABASE_URL,
CARREFOUR_PARTNERS_FILE). ``check`` validates the partners file; ``list`` shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from libs.runtime.console import progress_bar
from services.crawler.config import ConfigError, load_partners
from services.crawler.settings import settings

FIELDS = ("requests", "fetched", "not_modified", "unchanged", "skipped", "disallowed", "items", "projects", "excluded",
          "new", "updated", "deleted", "rejected", "errors")



def _progress(bar, slug: str):
    """One progress line per partner (requests made; the total is not known in advance)."""
    task = bar.add_task(slug, total=None, detail="")

    def show(stats) -> None:
        bar.update(task, completed=stats.requests,
                   detail=f"{stats.fetched} fetched, {stats.not_modified} not modified, "
                          f"{stats.new + stats.updated} changed, {stats.errors} errors")

    return show


async def _crawl(partners_file, slugs: list[str], everything: bool, full: bool = False) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.crawler.adapters.http import PoliteClient
    from services.crawler.adapters.store import CrawlStore
    from services.crawler.app import PARALLEL_PARTNERS
    from services.crawler.crawl import status_of
    from services.crawler.handlers import BrokerEmitter, crawl_partner, report_status

    cfg = settings()
    partners = load_partners(partners_file or cfg.carrefour_partners_file)
    by_slug = {p.slug: p for p in partners.partners}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        print(f"unknown partner(s): {', '.join(unknown)}; known: {', '.join(by_slug)}", file=sys.stderr)
        return 2
    chosen = [p for p in partners.partners if p.enabled] if everything else [by_slug[s] for s in slugs]
    from libs.runtime.messaging import make_broker

    broker = make_broker("crawler-cli", cfg.kafka_bootstrap)
    await broker.connect()
    engine = create_async_engine(cfg.database_url)
    store = CrawlStore(engine)
    client = PoliteClient(partners.user_agent)
    failed = 0
    gate = asyncio.Semaphore(PARALLEL_PARTNERS)

    async def one(p) -> None:
        nonlocal failed
        async with gate:
            bar.console.print(f"crawling {p.slug} ({p.connector}) …")
            try:
                stats = await crawl_partner(p, client, store, BrokerEmitter(broker), _progress(bar, p.slug),
                                            full=full)
            except Exception as exc:  # noqa: BLE001 — reported; the other partners are still crawled
                failed += 1
                print(f"\n  {p.slug}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
                return
        status = status_of(stats, p.max_reject_share)
        failed += status == "failed"
        summary = ", ".join(f"{k}={getattr(stats, k)}" for k in FIELDS)
        print(f"\n{p.slug}: {status} ({'complete' if stats.complete else 'incomplete'}) {summary}")
        for sample in stats.error_samples[:5]:
            print(f"    {sample}")
        for reason in stats.first_reasons[:5]:
            print(f"    {reason}")

    try:
        await store.sync_partners(partners.partners)
        await report_status(store, BrokerEmitter(broker))  # the partners as configured, for the gateway
        # several partners at once; the client still sends one request at a time to each host
        with progress_bar() as bar:
            await asyncio.gather(*(one(p) for p in chosen))
    finally:
        await client.close()
        await broker.stop()
        await engine.dispose()
    return 1 if failed else 0


async def _preview(partners_file, slug: str, max_pages: int) -> int:
    """No broker, no database: the partners file and the partner's site only. The report is on
    stdout; the JSON logs (warnings and worse) on stderr."""
    import structlog

    from libs.runtime.logs import configure_logging
    from services.crawler.adapters.http import PoliteClient

    configure_logging("crawler-preview", "WARNING")
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
                        cache_logger_on_first_use=False)
    from services.crawler.preview import preview, render

    partners = load_partners(partners_file or settings().carrefour_partners_file)
    by_slug = {p.slug: p for p in partners.partners}
    if slug not in by_slug:
        print(f"unknown partner {slug!r}; known: {', '.join(by_slug)}", file=sys.stderr)
        return 2
    client = PoliteClient(partners.user_agent)
    try:
        result = await preview(by_slug[slug], client, max_pages)
    finally:
        await client.close()
    print(render(result))
    return 1 if result.status == "failed" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.crawler.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners-file", help="default: CARREFOUR_PARTNERS_FILE or partners.demo.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    crawl = sub.add_parser("crawl", help="crawl partners now")
    crawl.add_argument("--partner", action="append", default=[], help="partner slug (repeatable)")
    crawl.add_argument("--all", action="store_true", help="every enabled partner")
    crawl.add_argument("--full", action="store_true",
                       help="no conditional GET, re-emit every record (after a pipeline change or a lost broker)")
    prev = sub.add_parser("preview", help="what a crawl of a partner would emit, skip and reject; writes nothing")
    prev.add_argument("partner", help="partner slug")
    prev.add_argument("--max-pages", type=int, default=30, help="requests at most (default 30)")
    sub.add_parser("check", help="validate the partners file")
    sub.add_parser("list", help="list the configured partners")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            cfg = load_partners(args.partners_file or settings().carrefour_partners_file)
            print(f"ok: {len(cfg.partners)} partners")
            return 0
        if args.command == "list":
            cfg = load_partners(args.partners_file or settings().carrefour_partners_file)
            for p in cfg.partners:
                flags = ("" if p.enabled else " [disabled]") + (" [guessed]" if p.guessed else "")
                print(f"{p.slug:24} {p.connector:12} {p.base_url}{flags}")
            return 0
        if args.command == "preview":
            return asyncio.run(_preview(args.partners_file, args.partner, args.max_pages))
        if not args.partner and not args.all:
            parser.error("crawl: give --partner SLUG (repeatable) or --all")
        return asyncio.run(_crawl(args.partners_file, args.partner, args.all, args.full))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
