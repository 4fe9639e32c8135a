"""``crawler preview`` on every onboarding fixture site (both splits): every project record is
shown with its fields and their sources, every other item with its rule; the sample is bounded;
nothing needs a broker or a database (none is given)."""

from __future__ import annotations

import pytest

from services.crawler.cli import main
from services.crawler.config import load_partners
from tests.fixtures.onboarding.grade import SPLITS, serve_split, truth


@pytest.mark.parametrize("split", SPLITS)
def test_preview_shows_every_record_with_sources_and_every_item_set_aside(split, tmp_path, capsys) -> None:
    server, partners_path = serve_split(split, tmp_path)
    t = truth(split)
    try:
        for partner in load_partners(partners_path).partners:
            assert main(["--partners-file", str(partners_path), "preview", partner.slug]) == 0
            out = capsys.readouterr().out
            head = out.splitlines()[0]
            assert head.startswith(f"{partner.slug}: "), head
            for p in (p for p in t["projects"] if p["partner"] == partner.slug):
                assert p["title"] in out, (partner.slug, p["title"])
                if p["commune"]:
                    assert any(line.lstrip().startswith("commune") and p["commune"] in line and "←" in line
                               for line in out.splitlines()), (partner.slug, p["commune"])
            aside = out.split("\nSET ASIDE", 1)[1] if "\nSET ASIDE" in out else ""
            if partner.slug == "ts-export":  # the row with an unquoted ';' in a cell: emitted, its loss shown
                assert "emitted  warning" in aside and "'Essaimage'" in aside
            for o in (o for o in t["others"] if o["partner"] == partner.slug):
                lines = [ln for ln in aside.splitlines() if o["url"] in ln]
                assert lines, (partner.slug, o)
                assert all(ln.split()[0] == o["verdict"] for ln in lines), lines
                if o.get("rule") not in (None, "any"):
                    assert any(ln.split()[1] == o["rule"] for ln in lines), lines
    finally:
        server.close()


def test_preview_is_bounded(tmp_path, capsys) -> None:
    server, partners_path = serve_split("dev", tmp_path)
    try:
        server.reset_log()
        main(["--partners-file", str(partners_path), "preview", "dv-site", "--max-pages", "2"])
        out = capsys.readouterr().out
    finally:
        server.close()
    assert len(server.log) == 2  # robots.txt and one page
    assert "2 requests" in out.splitlines()[0] and "max_pages (2) reached" in out
