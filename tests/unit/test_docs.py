"""The docs a newcomer reads: a short README with the two commands first, links that lead
somewhere, and code and docs that speak of the product (no tracker numbers)."""

from __future__ import annotations

import re

from tools.devstack import ROOT

CODE_DIRS = ("services", "libs", "tools", "tests", "benchmarks", "migrations", "scripts", "deploy", "docs")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".html", ".sh"}


def _files():
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in SUFFIXES and "vendor" not in path.parts and path.is_file():
                yield path


def test_readme_is_short_and_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 200
    block = "\n".join(readme[:8])
    assert block.index("make up") < block.index("make test")


def test_every_docs_page_named_anywhere_exists():
    named = set()
    for path in [ROOT / "README.md", *_files()]:
        named |= set(re.findall(r"docs/([a-z0-9_-]+\.md)", path.read_text(errors="replace")))
    for page in (ROOT / "docs").glob("*.md"):
        named |= set(re.findall(r"\]\(([a-z0-9_-]+\.md)\)", page.read_text()))
    missing = sorted(p for p in named if not (ROOT / "docs" / p).exists())
    assert not missing, missing
    assert len(named) >= 10


def test_no_tracker_numbers_in_code_or_docs():
    pattern = re.compile(r"\bissue[s]? ?#?\d+\b|\(issue\b", re.I)
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in [ROOT / "README.md", *_files()] if p.name != "test_docs.py"
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not hits, hits[:10]


def test_every_setting_is_documented():
    """A setting nobody can find is a setting nobody sets: each environment variable read by a service
    is named in docs/configuration.md."""
    from services.crawler.settings import CrawlerSettings
    from services.gateway.settings import GatewaySettings
    from services.geocoder.config import GeocoderSettings

    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = {n.upper() for cls in (GatewaySettings, CrawlerSettings) for n in cls.model_fields}
    names |= {f"GEOCODER_{n}".upper() for n in GeocoderSettings.model_fields}
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
