"""Pure extraction and record-test rules: label lines, JSON-LD shapes, theme splitting, the stage
words partners use, listing/news/contact detection."""

from __future__ import annotations

import pytest

from libs.contracts.events import PartnerRecord
from services.crawler import triage
from services.crawler.parsing import schemaorg, wordpress
from services.crawler.parsing.common import html_to_text, split_labels
from services.crawler.parsing.labels import address_parts, label_fields, split_place
from services.crawler.parsing.page import generic_record, is_listing, page_facts
from services.normalizer.classifier import classify


def test_label_lines_from_paragraphs_tables_and_definition_lists() -> None:
    html = ("<p><b>Ville :</b> Figeac (46100)</p><table><tr><th>Stade</th><td>Émergence</td></tr></table>"
            "<dl><dt>Thématique</dt><dd>Habitat / Vieillissement</dd><dt>Porteur</dt><dd>Asso X</dd></dl>"
            "<p>Contact : a@b.fr<br>Téléphone : 05 61 00 00 00</p><p>Une phrase : pas un libellé connu</p>")
    found, used = label_fields(html_to_text(html, lines=True))
    assert found == {"commune": "Figeac", "postcode": "46100", "stage": "Émergence",
                     "themes": ["Habitat", "Vieillissement"], "holder.name": "Asso X",
                     "contact.email": "a@b.fr", "contact.phone": "05 61 00 00 00"}
    assert len(used) == 6  # the unknown label is left in the text


@pytest.mark.parametrize(("value", "expected"), [
    ("Saint-Claude (39)", {"commune": "Saint-Claude"}),
    ("46100 Figeac", {"commune": "Figeac", "postcode": "46100"}),
    ("Lannion", {"commune": "Lannion"}),
])
def test_place_values(value, expected) -> None:
    assert split_place(value) == expected


def test_one_line_addresses_french_and_foreign() -> None:
    assert address_parts("12 rue Carnot, 21000 Dijon") == {"postcode": "21000", "commune": "Dijon"}
    assert address_parts("Rue Haute 120, 1000 Bruxelles, Belgique") == \
        {"postcode": "1000", "commune": "Bruxelles", "country": "Belgique"}
    assert address_parts("Maison des jeunes") == {}


@pytest.mark.parametrize(("value", "labels"), [
    ("Habitat / Vieillissement", ["Habitat", "Vieillissement"]),
    ("Numérique|Solidarité", ["Numérique", "Solidarité"]),
    ("Emploi ; Insertion, Mobilité", ["Emploi", "Insertion", "Mobilité"]),
    ("Éco/Social", ["Éco", "Social"]),
])
def test_theme_labels_split_on_slash_comma_semicolon_pipe(value, labels) -> None:
    assert split_labels(value) == labels


@pytest.mark.parametrize(("word", "slug"), [
    ("Émergence", "idee"), ("En émergence", "idee"), ("Amorçage", "idee"), ("Expérimentation", "experimentation"),
    ("Lancement", "experimentation"), ("Consolidation", "developpement"), ("Pérennisation", "developpement"),
    ("Duplication", "essaimage"), ("Essaimage", "essaimage"), ("Changement d'échelle", "essaimage"),
    ("Terminé", "termine"),
])
def test_stage_words_partners_use(word, slug) -> None:
    assert classify("stage", [word], "", multi=False).slugs == [slug]


def test_json_ld_additional_property_area_served_and_location_shapes() -> None:
    page = """<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Project",
      "name": "P", "description": "d", "areaServed": {"@type": "City", "name": "Roubaix"},
      "keywords": ["Culture", "Jeunesse / Sport"],
      "additionalProperty": [{"@type": "PropertyValue", "name": "Stade de développement", "value": "Duplication"},
                             {"@type": "PropertyValue", "propertyID": "theme", "value": "Habitat"},
                             {"@type": "PropertyValue", "name": "Budget", "value": "12000"},
                             {"@type": "PropertyValue", "name": "Domaines", "value": ["Santé", "Mobilité"]}]}</script>"""
    [m] = schemaorg.page_records(page, "https://a.fr/p", "a")
    r = m.record
    assert (r.commune, r.stage) == ("Roubaix", "Duplication")
    assert r.themes == ["Culture", "Jeunesse", "Sport", "Habitat", "Santé", "Mobilité"]  # every value of a list
    for location, commune in (('"Maison, 2 rue X, 21000 Dijon"', "Dijon"),
                              ('{"@type": "PostalAddress", "addressLocality": "Metz"}', "Metz"),
                              ('[{"@type": "Place", "address": {"addressLocality": "Pau"}}]', "Pau"),
                              ('{"@type": "Place", "address": "3 place Y, 64000 Pau"}', "Pau")):
        page = (f'<script type="application/ld+json">{{"@type": "Project", "name": "P", "location": {location}}}</script>')
        [m] = schemaorg.page_records(page, "https://a.fr/p", "a")
        assert m.record.commune == commune, location


def test_wordpress_terms_from_embed_or_class_list_and_label_lines_in_content() -> None:
    post = {"id": 1, "link": "https://a.fr/p/", "title": {"rendered": "T"},
            "content": {"rendered": "<p>Commune : Lannion</p><p>Texte.</p>"},
            "class_list": ["post-1", "category-habitat-partage", "tag-seniors"]}
    m = wordpress.post_record(post, "a")
    assert m.record.commune == "Lannion" and m.record.themes == ["habitat partage", "seniors"]
    post["_embedded"] = {"wp:term": [[{"name": "Habitat partagé", "taxonomy": "category"}], []]}
    assert wordpress.post_record(post, "a").record.themes == ["Habitat partagé"]
    assert wordpress.term_matches(["Le Blog", "Habitat"], ["le-blog"]) == "Le Blog"  # a slug or a name, folded
    assert wordpress.term_matches(["Le Blog", "Habitat"], ["Actualités"]) is None


def _record(**kw) -> PartnerRecord:
    return PartnerRecord(**{"source": "a", "source_record_id": "1", "url": "https://a.fr/projets/x.html",
                            "title": "Un projet", "description": "x" * 80, **kw})


LISTING = "<main><h1>Projets</h1><ul>" + "".join(
    f'<li><a href="/projets/{i}.html">Projet {i}</a> — une initiative</li>' for i in range(5)) + "</ul></main>"
ARTICLE = ("<main><h1>Projet</h1><p>" + "Une longue description du projet et de ce qu'il fait. " * 3 + "</p>"
           "<ul><li><a href='/a'>Lien</a></li><li><a href='/b'>Lien</a></li><li><a href='/c'>Lien</a></li></ul></main>")


def test_listing_is_repeated_links_without_body_text() -> None:
    assert is_listing(page_facts(LISTING, "https://a.fr/projets/"))
    assert not is_listing(page_facts(ARTICLE, "https://a.fr/projets/x.html"))


@pytest.mark.parametrize(("url", "facts_kw", "rule"), [
    ("https://a.fr/projets/x.html", {"size": 2_000_000}, "oversize"),
    ("https://a.fr/contact/", {}, "contact"),
    ("https://a.fr/qui-sommes-nous.html", {}, "contact"),
    ("https://a.fr/actualites/x.html", {}, "news"),
    ("https://a.fr/projets/x.html", {"categories": ["Actualités"]}, "news"),
    ("https://a.fr/projets/x.html", {"types": {"BlogPosting"}}, "news"),
    ("https://a.fr/projets/x.html", {"link_items": 6}, "listing"),
])
def test_pages_that_are_not_projects(url, facts_kw, rule) -> None:
    facts = page_facts("<p>x</p>", url)
    for k, v in facts_kw.items():
        setattr(facts, k, v)
    assert triage.verdict(_record(url=url, commune="Metz"), facts, triage.RecordTest()).rule == rule


def test_record_test_length_and_signal() -> None:
    test = triage.RecordTest()
    assert triage.verdict(_record(description="À venir."), None, test).rule == "too_short"
    assert triage.verdict(_record(), None, test, lambda text: False).rule == "no_signal"
    assert triage.verdict(_record(), None, test, lambda text: True) is None  # theme words in the text
    assert triage.verdict(_record(title="Bonnac (15) : une mutuelle"), None, test, lambda t: False) is None
    assert triage.verdict(_record(themes=["Santé"]), None, test) is None
    # a site living under /blog/ is not news: only folders below the partner's base URL count
    blog = _record(url="https://a.fr/blog/projets/x/", commune="Metz")
    assert triage.verdict(blog, None, test, base_url="https://a.fr/blog/") is None
    assert triage.verdict(blog, None, test, base_url="https://a.fr/").rule == "news"


def test_generic_page_title_description_and_sources() -> None:
    page = ("<html><head><title>T | Site</title></head><body><nav><a href='/'>Accueil</a></nav><main><h1>Épicerie</h1>"
            "<p>Commune : Alès</p><p>Un long texte sur le projet.</p></main><footer>© Site</footer></body></html>")
    m = generic_record(page, "https://a.fr/p.html", "a")
    assert (m.record.title, m.record.commune, m.record.description) == ("Épicerie", "Alès", "Un long texte sur le projet.")
    assert m.sources["commune"] == "label line" and m.sources["title"] == "h1"


def test_a_csv_row_longer_than_its_header_is_emitted_with_its_loss_reported() -> None:
    from services.crawler.parsing.tabular import csv_records

    body = b"id;titre;etape\nA;Un projet;Essaimage\nB;Emploi ; Insertion;Essaimage\n"
    ok, shifted = csv_records(body, "a", file_url="https://a.fr/x.csv")
    assert ok.warning is None and ok.record.stage == "Essaimage"
    assert shifted.record is not None and "'Essaimage'" in shifted.warning and "1 cell(s)" in shifted.warning
