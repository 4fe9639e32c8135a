"""Crawl benchmark, offline: pages parsed per second by each connector's pure parser, and a whole
incremental crawl (HTTP on loopback, robots.txt, conditional GET, diff) against a generated site.

    .venv/bin/python -m benchmarks.bench_crawl [--pages 400]

Parsing: synthetic but realistic pages for each shape (schema.org JSON-LD / microdata / RDFa
project pages, HTML detail pages read with selectors, listing pages, RSS feeds of 50 items,
WordPress REST pages of 100 posts, CSV exports of 1,000 rows, sitemaps of 1,000 URLs), one
process, one thread. Crawl: a generated sitemap site of ``--pages`` JSON-LD project pages served
by the tests' fixture server on 127.0.0.1 with no politeness delay (a real partner gets
``delay_s`` seconds between requests, which then bounds the crawl, not the parser), first a full
crawl, then a recrawl of the unchanged site (conditional GET, pages skipped by sitemap lastmod).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import orjson

from benchmarks.rundir import run_directory
from services.crawler.parsing import feeds, html, schemaorg, sitemap, tabular, wordpress

COMMUNES = [("Lille", "59000"), ("Rennes", "35000"), ("Grenoble", "38000"), ("Nantes", "44000"),
            ("Marseille", "13001"), ("Lyon", "69001"), ("Dijon", "21000"), ("Brest", "29200")]
WORDS = ["jardin", "partagé", "épicerie", "solidaire", "atelier", "vélo", "recyclerie", "tiers-lieu", "fablab", "habitat", "inclusif", "mobilité", "insertion", "alimentation", "quartier", "habitants", "bénévoles", "réemploi"]
FILLER = "<nav>" + "".join(f'<a href="/rubrique/{i}">Rubrique {i}</a>' for i in range(40)) + "</nav>"


def text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def jsonld_page(rng, i: int) -> bytes:
    commune, cp = rng.choice(COMMUNES)
    item = {"@context": "https://schema.org", "@type": "Project", "name": f"{text(rng, 4)} {i}",
            "description": text(rng, 80), "keywords": ", ".join(rng.sample(WORDS, 3)),
            "founder": {"@type": "Organization", "name": text(rng, 3)},
            "address": {"@type": "PostalAddress", "postalCode": cp, "addressLocality": commune},
            "geo": {"@type": "GeoCoordinates", "latitude": 45 + rng.random(), "longitude": 2 + rng.random()}}
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{item["name"]}</title>'
            f'<script type="application/ld+json">{orjson.dumps(item).decode()}</script></head><body>{FILLER}'
            f'<main><h1>{item["name"]}</h1><p>{item["description"]}</p></main></body></html>').encode()


def microdata_page(rng, i: int) -> bytes:
    commune, cp = rng.choice(COMMUNES)
    return (f'<html><body>{FILLER}<div itemscope itemtype="https://schema.org/Organization">'
            f'<h1 itemprop="name">Association {text(rng, 3)} {i}</h1><p itemprop="description">{text(rng, 80)}</p>'
            f'<div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">'
            f'<span itemprop="postalCode">{cp}</span><span itemprop="addressLocality">{commune}</span></div>'
            f'<span itemprop="email">contact{i}@exemple.org</span></div></body></html>').encode()


def rdfa_page(rng, i: int) -> bytes:
    commune, cp = rng.choice(COMMUNES)
    return (f'<html><body vocab="https://schema.org/">{FILLER}<div typeof="Place" resource="#p">'
            f'<h1 property="name">Tiers-lieu {text(rng, 3)} {i}</h1><p property="description">{text(rng, 80)}</p>'
            f'<div property="address" typeof="PostalAddress"><span property="postalCode">{cp}</span>'
            f'<span property="addressLocality">{commune}</span></div></div></body></html>').encode()


def detail_page(rng, i: int) -> str:
    commune, cp = rng.choice(COMMUNES)
    themes = "".join(f"<li>{w}</li>" for w in rng.sample(WORDS, 3))
    return (f'<html><body>{FILLER}<main class="fiche"><h1 class="titre">{text(rng, 4)} {i}</h1>'
            f'<div class="resume"><p>{text(rng, 80)}</p></div><dd class="commune">{commune}</dd>'
            f'<dd class="cp">{cp}</dd><ul class="themes">{themes}</ul><dd class="porteur">{text(rng, 3)}</dd>'
            f'<p class="maj"><time datetime="2025-03-01">1er mars</time></p></main></body></html>')


def listing_page(rng, i: int) -> str:
    links = "".join(f'<article><h2><a href="fiches/{i}-{k}.html">{text(rng, 3)}</a></h2></article>' for k in range(20))
    return f'<html><body>{FILLER}<div class="projets">{links}</div><a rel="next" href="liste-{i + 1}.html">»</a></body></html>'


def rss(rng, n: int = 50) -> bytes:
    items = "".join(f"<item><title>{text(rng, 4)}</title><link>https://a.fr/p/{k}</link><guid>g{k}</guid>"
                    f"<description><![CDATA[<p>{text(rng, 60)}</p>]]></description><category>{rng.choice(WORDS)}"
                    f"</category><pubDate>Tue, 04 Mar 2025 09:00:00 +0100</pubDate></item>" for k in range(n))
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def wp_page(rng, n: int = 100) -> bytes:
    return orjson.dumps([{"id": k, "date": "2024-10-01T10:00:00", "modified": "2025-01-15T08:30:00",
                          "link": f"https://wp.fr/p/{k}/", "title": {"rendered": text(rng, 4)},
                          "content": {"rendered": f"<p>{text(rng, 80)}</p>"},
                          "acf": {"ville": rng.choice(COMMUNES)[0], "code_postal": rng.choice(COMMUNES)[1]}}
                         for k in range(n)])


def csv_export(rng, n: int = 1000) -> bytes:
    rows = ["id;url;titre;description;commune;code_postal;latitude;longitude;thematiques"]
    for k in range(n):
        commune, cp = rng.choice(COMMUNES)
        rows.append(f"c{k};https://c.fr/{k};{text(rng, 4)};{text(rng, 40)};{commune};{cp};45,1;2,3;"
                    f"{rng.choice(WORDS)}|{rng.choice(WORDS)}")
    return ("\ufeff" + "\n".join(rows)).encode()


def sitemap_xml(base: str, n: int) -> bytes:
    urls = "".join(f"<url><loc>{base}/p/{k}.html</loc><lastmod>2025-05-01</lastmod></url>" for k in range(n))
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>").encode()


SELECTORS = {"title": "h1.titre", "description": ".resume p", "commune": ".commune", "postcode": ".cp",
             "themes": "ul.themes li", "holder.name": ".porteur", "updated_at": "xpath://p[@class='maj']/time/@datetime"}


def measure(name: str, docs: list, parse, unit_per_doc: int) -> tuple[str, int, float, float, int]:
    parse(docs[0])  # warm-up (imports, selector compilation)
    started = time.perf_counter()
    records = 0
    for d in docs:
        out = parse(d)
        records += len(out) if isinstance(out, list) else 1
    elapsed = time.perf_counter() - started
    return name, len(docs), len(docs) / elapsed, records / elapsed, unit_per_doc


def parsing_figures() -> list[tuple]:
    rng = random.Random(3)
    url = "https://partenaire.example.org/p/1.html"
    return [
        measure("schema.org JSON-LD page", [jsonld_page(rng, i) for i in range(300)],
                lambda b: schemaorg.page_records(b, url, "b"), 1),
        measure("schema.org microdata page", [microdata_page(rng, i) for i in range(300)],
                lambda b: schemaorg.page_records(b, url, "b"), 1),
        measure("schema.org RDFa page", [rdfa_page(rng, i) for i in range(300)],
                lambda b: schemaorg.page_records(b, url, "b"), 1),
        measure("HTML detail page (selectors)", [detail_page(rng, i) for i in range(300)],
                lambda t: html.detail_record(t, url, "b", SELECTORS), 1),
        measure("HTML listing page (20 links)", [listing_page(rng, i) for i in range(300)],
                lambda t: html.links(t, url, ".projets a") + [html.next_page(t, url, "a[rel=next]")], 21),
        measure("RSS feed (50 items)", [rss(rng) for _ in range(40)],
                lambda b: [feeds.entry_record(e, "b") for e in feeds.parse_feed(b)], 50),
        measure("WordPress REST page (100 posts)", [wp_page(rng) for _ in range(40)],
                lambda b: wordpress.posts_records(orjson.loads(b), "b", {"commune": "acf.ville"}), 100),
        measure("CSV export (1,000 rows)", [csv_export(rng) for _ in range(10)],
                lambda b: tabular.csv_records(b, "b"), 1000),
        measure("sitemap (1,000 URLs)", [sitemap_xml("https://a.fr", 1000) for _ in range(20)],
                lambda b: sitemap.parse_sitemap(b).entries, 1000),
    ]


async def crawl_figures(pages: int) -> list[tuple[str, float, int, int, float]]:
    from services.crawler.adapters.http import PoliteClient
    from services.crawler.config import SitemapPartner
    from services.crawler.connectors import connector_for
    from services.crawler.crawl import CrawlSession
    from tests.fixtures.crawler.server import FixtureServer

    class Sink:
        n = 0

        async def upsert(self, record, crawl):
            self.n += 1

        async def delete(self, *a):
            self.n += 1

        async def reject(self, *a):
            pass

    rng = random.Random(5)
    root = run_directory("bench-crawl-")
    server = FixtureServer(root)
    (root / "p").mkdir()
    for k in range(pages):
        (root / "p" / f"{k}.html").write_bytes(jsonld_page(rng, k))
    (root / "sitemap.xml").write_bytes(sitemap_xml(server.base, pages))
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /prive/\n")
    partner = SitemapPartner.model_validate({
        "slug": "bench", "name": "bench", "base_url": server.base + "/", "connector": "sitemap",
        "options": {"url": f"{server.base}/sitemap.xml"}, "delay_s": 0, "allow_private_addresses": True,
        "max_pages": 100_000})
    client = PoliteClient("CarrefourBot/bench")
    urls, records, out = {}, {}, []
    try:
        for label in ("first crawl (all new)", "recrawl, unchanged site", "recrawl, sitemap changed (no lastmod)"):
            if label.startswith("recrawl, sitemap"):
                (root / "sitemap.xml").write_bytes(sitemap_xml(server.base, pages).replace(b"<lastmod>2025-05-01</lastmod>", b""))
            server.reset_log()
            sink = Sink()
            session = CrawlSession(partner, client, urls, records, sink)
            started = time.perf_counter()
            await connector_for(partner).run(session)
            stats = await session.finish()
            elapsed = time.perf_counter() - started
            not_modified = sum(h.status == 304 for h in server.log)
            out.append((label, elapsed, stats.requests, sink.n, not_modified / max(1, len(server.log)),
                        pages / elapsed))
    finally:
        await client.close()
        server.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=400)
    args = parser.parse_args()
    print("Parsing, one core (pure parsers, no I/O):")
    print(f"  {'shape':34} {'docs':>5} {'docs/s':>9} {'records/s':>10}")
    for name, n, docs_s, recs_s, _ in parsing_figures():
        print(f"  {name:34} {n:>5} {docs_s:>9,.0f} {recs_s:>10,.0f}")
    print(f"\nWhole crawl of a generated sitemap site, {args.pages} JSON-LD pages on 127.0.0.1, delay 0:")
    print(f"  {'run':40} {'seconds':>8} {'requests':>9} {'emitted':>8} {'304 share':>9} {'pages/s':>8}")
    for label, secs, reqs, emitted, share, pps in asyncio.run(crawl_figures(args.pages)):
        print(f"  {label:40} {secs:>8.2f} {reqs:>9} {emitted:>8} {share:>9.0%} {pps:>8,.0f}")


if __name__ == "__main__":
    main()
