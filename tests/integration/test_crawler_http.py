"""Integration: the polite, safe HTTP client against the local fixture server."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.crawler.adapters.http import FetchError, PoliteClient
from services.crawler.config import load_partners
from services.crawler.crawl import CrawlSession
from tests.fixtures.crawler.sites_fixture import partners_file

UA = "CarrefourBot/0.1 (+https://carrefour.example.org/robot)"


@pytest.fixture
async def client():
    c = PoliteClient(UA, backoff_s=0.01, max_retries=3)
    yield c
    await c.close()


async def test_redirect_loop_is_an_error(client, site) -> None:
    with pytest.raises(FetchError) as info:
        await client.get(f"{site.base}/special/loop-a", delay_s=0, allow_private=True)
    assert info.value.kind == "redirects" and "loop" in str(info.value)
    assert site.paths() == ["/special/loop-a", "/special/loop-b"]


async def test_oversized_page_is_cut_off(client, site) -> None:
    with pytest.raises(FetchError) as info:
        await client.get(f"{site.base}/special/big.html", delay_s=0, allow_private=True)
    assert info.value.kind == "too_large" and str(5 * 1024 * 1024) in str(info.value)


async def test_server_errors_are_retried_with_backoff_then_reported(client, site) -> None:
    resp = await client.get(f"{site.base}/special/flaky.json", delay_s=0, allow_private=True)
    assert resp.status == 200 and resp.requests == 2
    (site.root / "special").rename(site.root / "gone")
    resp = await client.get(f"{site.base}/special/nothing", delay_s=0, allow_private=True)
    assert resp.status == 404 and resp.requests == 1  # a 404 is an answer, not retried


async def test_per_host_delay_and_one_request_at_a_time(client, site) -> None:
    started = time.monotonic()
    urls = [f"{site.base}/json/projets.json", f"{site.base}/csv/projets.csv", f"{site.base}/feed/rss.xml"]
    await asyncio.gather(*(client.get(u, delay_s=0.3, allow_private=True) for u in urls))
    assert time.monotonic() - started >= 0.6
    assert len(site.log) == 3


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/json/projets.json", "http://localhost:{port}/json/projets.json",
                                 "http://[::1]:{port}/", "http://0.0.0.0:{port}/", "http://169.254.169.254/latest/meta-data/",
                                 "file:///etc/passwd", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1:{port}/"])
async def test_ssrf_refused_without_allowance(client, site, url: str) -> None:
    with pytest.raises(FetchError) as info:
        await client.get(url.format(port=site.port), delay_s=0, allow_private=False)
    assert info.value.kind == "unsafe"
    assert site.paths() == []


async def test_redirects_are_checked_hop_by_hop(client, site, tmp_path) -> None:
    # allowed partner host redirecting to the cloud metadata address: refused before any request to it
    with pytest.raises(FetchError) as info:
        await client.get(f"{site.base}/special/redirect?to=http://169.254.169.254/latest/", delay_s=0,
                         allow_private=False)
    assert info.value.kind == "unsafe"
    # with the private allowance, the partner's host list still applies (localhost is another host)
    partner = load_partners(partners_file(tmp_path, site)).partners[0]
    session = CrawlSession(partner, client, {}, {}, emitter=None)
    doc = await session.get(f"{site.base}/special/redirect?to=http://localhost:{site.port}/json/projets.json", "json")
    assert doc.state == "error" and "not one of the partner's hosts" in session.stats.error_samples[0]
    assert not [p for p in site.paths() if p.startswith("/json/")]
    # a redirect into a robots.txt-disallowed section is refused too
    doc = await session.get(f"{site.base}/special/redirect?to=/html/brouillons/projet-secret.html", "html")
    assert doc.state == "error" and session.stats.disallowed == 1
    assert not [p for p in site.paths() if p.startswith("/html/brouillons")]


async def test_content_type_is_checked(client, site, tmp_path) -> None:
    partner = load_partners(partners_file(tmp_path, site)).partners[0]
    session = CrawlSession(partner, client, {}, {}, emitter=None)
    doc = await session.get(f"{site.base}/feed/rss.xml", "html")
    assert doc.state == "error" and "unexpected content type 'application/xml' for html" in session.stats.error_samples[0]


async def test_robots_crawl_delay_is_honoured(client, site, tmp_path) -> None:
    robots = site.root / "robots.txt"
    robots.write_text(robots.read_text().replace("Crawl-delay: 0", "Crawl-delay: 0.4"))
    partner = load_partners(partners_file(tmp_path, site)).partners[0]  # delay_s: 0
    session = CrawlSession(partner, client, {}, {}, emitter=None)
    started = time.monotonic()
    for path in ("/json/projets.json", "/csv/projets.csv", "/feed/rss.xml"):
        assert (await session.get(f"{site.base}{path}", "json" if path.endswith("json") else "csv"
                                  if path.endswith("csv") else "xml")).state == "changed"
    assert session.delay_for(site.base + "/x") == 0.4
    assert time.monotonic() - started >= 0.8  # two waits after robots.txt and the first page
