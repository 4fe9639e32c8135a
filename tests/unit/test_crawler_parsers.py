"""Unit tests for the crawler's pure parsers (services/crawler/parsing/*) on the saved fixture pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.crawler.parsing import (
    common,
    feeds,
    html,
    schemaorg,
    sitemap,
    tabular,
    wordpress,
)

SITES = Path(__file__).resolve().parents[1] / "fixtures" / "crawler" / "sites"
BASE = "https://partenaire.example.org"


def page(rel: str) -> bytes:
    return (SITES / rel).read_bytes().replace(b"{BASE}", BASE.encode())


# --------------------------------------------------------------------------- common


@pytest.mark.parametrize(("raw", "expected"), [
    (b"\xef\xbb\xbfid;titre\n", "id;titre\n"),
    ("Épicerie".encode(), "Épicerie"),
    ("Épicerie".encode("latin-1"), "Épicerie"),
    ("Œuvre — “guillemets”".encode("cp1252"), "Œuvre — “guillemets”"),
])
def test_decode_text_utf8_bom_latin1(raw: bytes, expected: str) -> None:
    assert common.decode_text(raw) == expected


@given(st.text(max_size=200))
def test_decode_text_never_fails_and_round_trips_utf8(text: str) -> None:
    assert common.decode_text(text.encode("utf-8")) == text.removeprefix("\ufeff")
    common.decode_text(text.encode("utf-8", errors="ignore")[::-1])


def test_html_to_text_drops_markup_and_scripts() -> None:
    assert common.html_to_text("<p>Un <b>jardin</b></p><script>alert(1)</script>") == "Un jardin"
    assert common.html_to_text("a &amp; b") == "a & b"
    assert common.html_to_text("  plain\n text ") == "plain text"
    assert common.html_to_text(None) is None


def test_record_id_for_url() -> None:
    assert common.record_id_for_url("https://a.fr/projets/x/#top") == "/projets/x"
    assert common.record_id_for_url("https://a.fr/?p=12") == "/?p=12"
    long = common.record_id_for_url("https://a.fr/" + "x" * 300)
    assert long.startswith("sha256:") and len(long) <= 200


@pytest.mark.parametrize(("value", "expected"), [("2024-03-15T10:00:00Z", "2024-03-15"), ("15/03/2024", "2024-03-15"),
                                                 ("2024-02-30", None), ("hier", None), (None, None)])
def test_to_date(value, expected) -> None:
    assert common.to_date(value) == expected


# --------------------------------------------------------------------------- sitemap


def test_sitemap_index_and_urlset() -> None:
    index = sitemap.parse_sitemap(page("sitemap/sitemap_index.xml"))
    assert index.kind == "sitemapindex"
    assert index.entries == [sitemap.SitemapEntry(f"{BASE}/sitemap/sitemap-projets.xml",
                                                  datetime(2025, 6, 1, tzinfo=UTC))]
    urls = sitemap.parse_sitemap(page("sitemap/sitemap-projets.xml"))
    assert urls.kind == "urlset" and len(urls.entries) == 6
    assert urls.entries[0].lastmod == datetime.fromisoformat("2025-05-02T10:00:00+02:00")
    assert urls.entries[-1] == sitemap.SitemapEntry(f"{BASE}/sitemap/a-propos.html", None)


def test_sitemap_rejects_other_xml_and_entities_are_not_expanded() -> None:
    with pytest.raises(ValueError, match="not a sitemap"):
        sitemap.parse_sitemap(b"<rss><channel/></rss>")
    with pytest.raises(ValueError):
        sitemap.parse_sitemap(b"")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a.fr/&x;</loc></url></urlset>')
    entries = sitemap.parse_sitemap(xxe).entries
    assert all("root:" not in e.loc for e in entries)


@pytest.mark.parametrize(("text", "expected"), [("2025", datetime(2025, 1, 1, tzinfo=UTC)),
                                                ("2025-05", datetime(2025, 5, 1, tzinfo=UTC)),
                                                ("bad", None), ("", None)])
def test_lastmod_formats(text, expected) -> None:
    assert sitemap.parse_lastmod(text) == expected


# --------------------------------------------------------------------------- schema.org


def test_jsonld_project_with_graph_address_geo_and_founder() -> None:
    url = f"{BASE}/sitemap/projets/jardin-lilas.html"
    [m] = schemaorg.page_records(page("sitemap/projets/jardin-lilas.html"), url, "p")
    r = m.record
    assert r.title == "Jardin partagé des Lilas"
    assert r.description == "Un jardin partagé cultivé par les habitants du quartier, avec compost collectif."
    assert (r.address, r.postcode, r.commune, r.country) == ("4 rue des Lilas", "59000", "Lille", "FR")
    assert (r.lat, r.lon) == (50.6311, 3.0468)
    assert r.themes == ["jardin partagé", "alimentation durable"]
    assert r.holder.name == "Les Amis des Lilas"
    assert str(r.published_at) == "2024-02-10" and str(r.updated_at) == "2025-04-30"
    assert r.source_record_id == "/sitemap/projets/jardin-lilas.html"


def test_microdata_organization_with_contact() -> None:
    [m] = schemaorg.page_records(page("sitemap/projets/ressourcerie.html"), f"{BASE}/r.html", "p")
    r = m.record
    assert r.title == "Ressourcerie La Bonne Pioche" and (r.commune, r.postcode) == ("Nantes", "44000")
    assert r.contact.email == "bonjour@bonnepioche.example.org" and r.contact.phone == "02 40 00 00 00"
    assert r.themes == ["Économie circulaire", "Réemploi"]
    assert r.holder.name == "Ressourcerie La Bonne Pioche"


def test_rdfa_place_with_nested_address_and_geo() -> None:
    [m] = schemaorg.page_records(page("sitemap/projets/tiers-lieu.html"), f"{BASE}/t.html", "p")
    assert m.record.title == "Tiers-lieu La Fabrique des Possibles"
    assert (m.record.commune, m.record.postcode, m.record.lat, m.record.lon) == ("Grenoble", "38000", 45.1885, 5.7245)


def test_microdata_event_reads_location_and_organizer() -> None:
    [m] = schemaorg.page_records(page("schemaorg/fiches/festival.html"), f"{BASE}/f.html", "p")
    r = m.record
    assert (r.commune, r.postcode, r.lat) == ("Montpellier", "34000", 43.6047)
    assert r.holder.name == "Collectif ESS 34" and str(r.published_at) == "2025-11-14"


def test_identifier_wins_over_url_and_unwanted_types_are_ignored() -> None:
    [m] = schemaorg.page_records(page("sitemap/projets/atelier-velo.html"), f"{BASE}/v.html", "p")
    assert m.record.source_record_id == "cyclofix"
    assert schemaorg.page_records(page("sitemap/projets/atelier-velo.html"), f"{BASE}/v.html", "p",
                                  types=("Event",)) == []
    assert schemaorg.page_records(page("sitemap/a-propos.html"), f"{BASE}/a.html", "p") == []
    assert schemaorg.page_records(b"\x00\xff not html", f"{BASE}/x", "p") == []


def test_schema_org_item_without_name_is_an_error_not_a_crash() -> None:
    body = b'<script type="application/ld+json">{"@type":"Project","description":"x"}</script>'
    [m] = schemaorg.page_records(body, f"{BASE}/x.html", "p")
    assert m.record is None and m.error.startswith("title: ")


def test_broken_jsonld_is_skipped() -> None:
    body = (b'<script type="application/ld+json">{"@type": "Project", broken</script>'
            b'<script type="application/ld+json">{"@type":"Project","name":"Bon"}</script>')
    assert [m.record.title for m in schemaorg.page_records(body, f"{BASE}/x.html", "p")] == ["Bon"]


# --------------------------------------------------------------------------- feeds


def test_rss_entries_to_records() -> None:
    entries = feeds.parse_feed(page("feed/rss.xml"))
    assert [e.id for e in entries] == ["fxr-covoiturage", "fxr-laverie"]
    records = [feeds.entry_record(e, "p").record for e in entries]
    assert records[0].title == "Covoiturage solidaire en Pays de Redon"
    assert records[0].description.startswith("Mise en relation") and "<" not in records[0].description
    assert records[0].themes == ["Mobilité", "Ruralité"] and str(records[0].published_at) == "2025-03-04"
    assert records[1].title == "Laverie solidaire & café à Rennes"
    assert records[1].url == f"{BASE}/feed/initiatives/laverie.html"


def test_atom_feed() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <entry><id>urn:uuid:1</id><title type="html">Jardin &lt;b&gt;partag\xc3\xa9&lt;/b&gt;</title>
    <link href="https://a.fr/1"/><updated>2025-01-02T00:00:00Z</updated>
    <content type="html">&lt;p&gt;Texte&lt;/p&gt;</content><category term="Jardins"/></entry></feed>"""
    [e] = feeds.parse_feed(atom)
    r = feeds.entry_record(e, "p").record
    assert (r.source_record_id, r.title, r.description, r.themes, str(r.updated_at)) == (
        "urn:uuid:1", "Jardin partagé", "Texte", ["Jardins"], "2025-01-02")


def test_not_a_feed() -> None:
    with pytest.raises(ValueError, match="not an RSS/Atom feed"):
        feeds.parse_feed(b"{}")


# --------------------------------------------------------------------------- WordPress


def test_wordpress_posts_with_custom_fields() -> None:
    fields = {"commune": "acf.ville", "postcode": "acf.code_postal", "themes": "acf.thematiques"}
    mapped = wordpress.posts_records(orjson.loads(page("wp/wp-json/wp/v2/projets/page-1.json")), "p", fields)
    r = mapped[0].record
    assert r.source_record_id == "101" and r.title == "Habitat inclusif – La Maison des Tilleuls"
    assert r.description == "Colocation pour personnes âgées et jeunes actifs." and "img" not in r.description
    assert (r.commune, r.postcode, r.themes) == ("Angers", "49000", ["Habitat", "Vieillissement"])
    assert str(r.published_at) == "2024-10-01" and str(r.updated_at) == "2025-01-15"
    assert wordpress.posts_records([1], "p")[0].error == "record must be an object, got int"
    with pytest.raises(ValueError):
        wordpress.posts_records({"code": "rest_no_route"}, "p")


def test_wordpress_pagination() -> None:
    assert wordpress.page_url("https://a.fr/wp-json/wp/v2", "posts", 3, 50) == \
        "https://a.fr/wp-json/wp/v2/posts?per_page=50&page=3&orderby=id&order=asc&_embed=wp%3Aterm"
    assert wordpress.total_pages({"x-wp-totalpages": "7"}) == 7
    assert wordpress.total_pages({}) == 1 and wordpress.total_pages({"x-wp-totalpages": "x"}) == 1
    assert wordpress.total_pages({"x-wp-totalpages": "999999"}) == 1000


# --------------------------------------------------------------------------- CSV


def test_csv_semicolon_utf8_bom_french_decimals_and_dates() -> None:
    mapped = tabular.csv_records(page("csv/projets.csv"), "p")
    a, b = (m.record for m in mapped)
    assert a.title == "Épicerie sociale « Le Panier »" and (a.lat, a.lon) == (47.322, 5.0415)
    assert a.themes == ["Alimentation", "Précarité"] and str(a.published_at) == "2024-03-15"
    assert a.holder.name == "CCAS de Dijon" and a.contact.email == "contact@panier.example.org"
    assert b.lat is None and b.address is None and b.commune == "Brest"


def test_csv_comma_latin1_and_column_mapping() -> None:
    [m] = tabular.csv_records(page("csv/projets-latin1.csv"), "p")
    assert (m.record.title, m.record.commune, m.record.themes) == (
        "Café associatif de l'Étoile", "Besançon", ["Lien social", "Culture"])
    body = b"ref,nom,lien\n7,Projet,https://b.fr/7\n"
    [m] = tabular.csv_records(body, "p", {"source_record_id": "ref", "title": "nom", "url": "lien"})
    assert (m.record.source_record_id, m.record.title) == ("7", "Projet")


def test_csv_bad_rows_and_empty() -> None:
    body = b"id;url;titre\n1;https://a.fr;\n2;ftp://a.fr;T\n"
    errors = [m.error for m in tabular.csv_records(body, "p")]
    assert errors[0].startswith("title: ") and "http or https" in errors[1]
    with pytest.raises(ValueError, match="empty CSV"):
        tabular.csv_records(b"", "p")


@pytest.mark.parametrize(("line", "delim"), [("a;b;c", ";"), ("a,b", ","), ("a\tb", "\t"), ("abc", ",")])
def test_sniff_delimiter(line, delim) -> None:
    assert tabular.sniff_delimiter(line) == delim


# --------------------------------------------------------------------------- HTML selectors


SELECTORS = {"title": "h1.titre", "description": ".resume p", "commune": ".commune", "postcode": ".cp",
             "themes": "ul.themes li", "holder.name": ".porteur",
             "updated_at": "xpath://p[@class='maj']/time/@datetime"}


def test_listing_links_and_next_page() -> None:
    body = page("html/liste.html").decode()
    url = f"{BASE}/html/liste.html"
    assert html.links(body, url, ".projets a") == [f"{BASE}/html/fiches/cafe-reparation.html",
                                                  f"{BASE}/html/fiches/potager-ecole.html",
                                                  f"{BASE}/html/brouillons/projet-secret.html"]
    assert html.next_page(body, url, "a[rel=next]") == f"{BASE}/html/liste-2.html"
    assert html.next_page(page("html/liste-2.html").decode(), url, "a[rel=next]") is None
    assert html.links('<a href="javascript:x()">x</a><a href="#">y</a>', url, "a") == [url]


def test_detail_page_with_css_and_xpath_selectors() -> None:
    url = f"{BASE}/html/fiches/cafe-reparation.html"
    r = html.detail_record(page("html/fiches/cafe-reparation.html").decode(), url, "p", SELECTORS).record
    assert r.title == "Café réparation de Tours" and r.commune == "Tours" and r.postcode == "37000"
    assert r.description == "Des bénévoles réparent avec vous vos objets du quotidien."
    assert r.themes == ["Économie circulaire", "Lien social"] and r.holder.name == "Association Répar'Acteurs"
    assert str(r.updated_at) == "2025-03-01" and r.source_record_id == "/html/fiches/cafe-reparation.html"


def test_detail_page_missing_title_is_an_error() -> None:
    m = html.detail_record("<html><body><p>rien</p></body></html>", f"{BASE}/x", "p", SELECTORS)
    assert m.record is None and m.error.startswith("title: ")


# --------------------------------------------------------------------------- any input: a clear error, never a crash

MARKUP = st.lists(st.sampled_from([
    "<", ">", "</", "<script type=\"application/ld+json\">", "</script>", "{", "}", "\"@type\":\"Project\"",
    "\"name\":", "itemscope", "itemprop=\"name\"", "typeof=\"Place\"", "property=\"name\"", "<url><loc>",
    "</loc></url>", "<urlset>", "<rss><channel><item><title>", ";", ",", "\n", "\"", "é", "\x00", "&amp;", "&#x0;",
]) | st.text(max_size=8), max_size=40).map("".join)


@given(MARKUP)
def test_page_parsers_never_crash(doc: str) -> None:
    body = doc.encode("utf-8", errors="replace")
    for m in schemaorg.page_records(body, f"{BASE}/x", "p"):
        assert (m.record is None) != (m.error is None)
    m = html.detail_record(doc, f"{BASE}/x", "p", SELECTORS)
    assert (m.record is None) != (m.error is None)
    assert isinstance(html.links(doc, f"{BASE}/x", "a"), list)


@given(MARKUP)
def test_document_parsers_read_or_refuse_with_a_reason(doc: str) -> None:
    body = doc.encode("utf-8", errors="replace")
    outcomes = {}
    for name, parse in (("sitemap", sitemap.parse_sitemap), ("feed", feeds.parse_feed),
                        ("csv", lambda b: tabular.csv_records(b, "p"))):
        try:
            outcomes[name] = parse(body)
        except ValueError as exc:
            assert str(exc).strip(), f"{name}: a refusal must say why"
            outcomes[name] = exc
    if not isinstance(outcomes["sitemap"], ValueError):
        assert outcomes["sitemap"].kind in ("urlset", "sitemapindex")
        assert all(isinstance(e.loc, str) for e in outcomes["sitemap"].entries)
    if not isinstance(outcomes["feed"], ValueError):
        assert isinstance(outcomes["feed"], list)
    if not isinstance(outcomes["csv"], ValueError):  # every row is a record or a reasoned rejection
        assert all((m.record is None) != (m.error is None) for m in outcomes["csv"])
        assert all(m.error for m in outcomes["csv"] if m.record is None)


def test_csv_field_over_the_size_limit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unreadable CSV"):
        tabular.csv_records(b'id;titre\n1;"' + b"x" * 200_000 + b'"\n', "p")
