"""Unit tests for the crawler's pure decisions: incremental state, deletions, safety checks, config."""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest

from services.crawler.adapters.http import is_public_address, retry_after_seconds
from services.crawler.config import REAL_PARTNERS_FILE, ConfigError, load_partners
from services.crawler.crawl import content_type_ok
from services.crawler.domain import (
    RecordState,
    UrlState,
    conditional_headers,
    deletions_after_crawl,
    record_change,
)


def rs(rid: str, missing: int = 0, deleted: bool = False) -> RecordState:
    return RecordState(rid, "h", None, missing, deleted)


# --------------------------------------------------------------------------- conditional GET, changes


def test_conditional_headers_only_after_a_good_fetch() -> None:
    assert conditional_headers(None) == {}
    assert conditional_headers(UrlState("u", etag='"a"', last_modified="Tue, 01 Jul 2025 00:00:00 GMT",
                                        content_hash="x")) == {
        "If-None-Match": '"a"', "If-Modified-Since": "Tue, 01 Jul 2025 00:00:00 GMT"}
    assert conditional_headers(UrlState("u", etag='"a"', content_hash="x")) == {"If-None-Match": '"a"'}
    # an unreadable document (hash reset) is fetched in full again
    assert conditional_headers(UrlState("u", etag='"a"', content_hash=None)) == {}


def test_record_change() -> None:
    assert record_change(None, "h") == "new"
    assert record_change(rs("1"), "h") == "unchanged"
    assert record_change(RecordState("1", "old"), "h") == "updated"
    assert record_change(rs("1", deleted=True), "h") == "new"


# --------------------------------------------------------------------------- deletions


def test_gone_pages_delete_at_once_unless_seen_elsewhere() -> None:
    records = {"a": rs("a"), "b": rs("b"), "c": rs("c")}
    delete, missing = deletions_after_crawl(records, seen={"b", "c"}, gone={"a", "b"}, complete=False, after_missing=3)
    assert delete == ["a"] and missing == {}


def test_absence_counts_only_on_complete_crawls() -> None:
    records = {"a": rs("a"), "b": rs("b", missing=1), "c": rs("c", missing=1), "d": rs("d", deleted=True)}
    assert deletions_after_crawl(records, {"c"}, set(), complete=False, after_missing=2) == ([], {"c": 0})
    delete, missing = deletions_after_crawl(records, {"c"}, set(), complete=True, after_missing=2)
    assert delete == ["b"] and missing == {"a": 1, "c": 0}
    assert deletions_after_crawl(records, set(), set(), complete=True, after_missing=1)[0] == ["a", "b", "c"]


# --------------------------------------------------------------------------- safety, politeness


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2a00:1450:4007:80f::200e", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("224.0.0.1", False), ("100.64.0.1", False), ("240.0.0.1", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_retry_after() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = 1_750_000_000.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(("family", "ctype", "ok"), [
    ("html", "text/html", True), ("html", "application/pdf", False), ("html", "", True),
    ("json", "application/vnd.api+json", True), ("json", "text/html", False),
    ("xml", "application/atom+xml", True), ("xml", "text/xml", True), ("csv", "text/csv", True),
    ("csv", "image/png", False),
])
def test_content_type_families(family: str, ctype: str, ok: bool) -> None:
    assert content_type_ok(family, ctype) is ok


# --------------------------------------------------------------------------- configuration


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "partners.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_every_connector_shape_loads(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "fixtures/crawler/partners.yaml").read_text()
    cfg = load_partners(write(tmp_path, text.replace("{BASE}", "http://127.0.0.1:1")))
    assert {p.connector for p in cfg.partners} == {"json_export", "csv_export", "sitemap", "schema_org", "feed",
                                                   "wordpress", "html"}


@pytest.mark.parametrize(("options", "message"), [
    ("{start_urls: ['https://a.fr/'], link_selector: 'a', selectors: {commune: '.c'}}",
     "partner x: options.selectors: Value error, a 'title' selector is required"),
    ("{start_urls: ['https://a.fr/'], link_selector: 'a[', selectors: {title: h1}}",
     "partner x: options.link_selector: Value error, invalid selector 'a['"),
    ("{start_urls: [], link_selector: a, selectors: {title: h1}}", "partner x: options.start_urls: "),
    ("{start_urls: ['file:///etc/passwd'], link_selector: a, selectors: {title: h1}}",
     "partner x: options.start_urls.0: Value error, URL scheme must be http or https"),
])
def test_html_options_errors_name_partner_and_field(tmp_path: Path, options: str, message: str) -> None:
    text = f"partners:\n- slug: x\n  name: X\n  base_url: https://a.fr/\n  connector: html\n  options: {options}\n"
    with pytest.raises(ConfigError) as info:
        load_partners(write(tmp_path, text))
    assert message in str(info.value)


def test_unknown_connector_is_named(tmp_path: Path) -> None:
    text = "partners:\n- slug: y\n  name: Y\n  base_url: https://a.fr/\n  connector: ftp\n  options: {}\n"
    with pytest.raises(ConfigError, match="partner y: connector: unknown connector 'ftp'; expected one of json_export"):
        load_partners(write(tmp_path, text))


def test_sitemap_bad_regex_and_schedule(tmp_path: Path) -> None:
    text = ("partners:\n- slug: z\n  name: Z\n  base_url: https://a.fr/\n  connector: sitemap\n"
            "  options: {url: 'https://a.fr/s.xml', include: ['(']}\n  schedule_s: 5\n")
    with pytest.raises(ConfigError) as info:
        load_partners(write(tmp_path, text))
    assert "partner z: options.include: Value error, invalid regular expression '('" in str(info.value)
    assert "partner z: schedule_s: " in str(info.value)


def test_seed_partners_file() -> None:
    cfg = load_partners(REAL_PARTNERS_FILE)
    slugs = {p.slug for p in cfg.partners}
    assert {"avise", "la-fonda", "unccas", "odas-apriles", "fej", "social-planet", "esspace", "cerdd",
            "bretagne-creative", "bruded", "alternatiba", "enssemble", "socioeco", "territoria", "comite21",
            "reporters-d-espoirs"} <= slugs
    for p in cfg.partners:
        assert p.guessed and p.notes, f"{p.slug}: an unchecked entry must say so and why"
        assert not p.allow_private_addresses and p.base_url.startswith("https://")
        assert p.delay_s >= 1
    assert "contact" in cfg.user_agent or "+http" in cfg.user_agent
