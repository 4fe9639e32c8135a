"""Partner configuration (YAML), validated at start-up with errors naming partner and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from libs.contracts.events import Slug, WebUrl

HERE = Path(__file__).parent
DEFAULT_PARTNERS_FILE = HERE / "partners.demo.yaml"
"""Used when CARREFOUR_PARTNERS_FILE is unset (``make up``); the real partners are in partners.yaml."""
REAL_PARTNERS_FILE = HERE / "partners.yaml"

CONNECTORS = ("json_export", "csv_export", "sitemap", "schema_org", "feed", "wordpress", "html", "links")


class _Opts(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _check_selector(value: str) -> str:
    from parsel import Selector

    try:
        sel = Selector(text="<html></html>")
        sel.xpath(value[6:]) if value.startswith("xpath:") else sel.css(value.removeprefix("css:"))
    except Exception as exc:  # noqa: BLE001 — cssselect/lxml raise various types
        raise ValueError(f"invalid selector {value!r}: {exc}") from None
    return value


Selector_ = Annotated[str, Field(min_length=1, max_length=500)]


def _check_regexes(value: list[str]) -> list[str]:
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return value


class _UrlPatterns(_Opts):
    """URL patterns, on every connector: an item (page, post, row) whose URL does not pass is
    skipped with the rule ``url_pattern``; pages are not fetched when their URL is known before."""

    include: list[str] = Field(default_factory=list)
    """Regular expressions (searched in the URL): only URLs matching one are projects (all when empty)."""
    exclude: list[str] = Field(default_factory=list)
    """Regular expressions: URLs matching one are never projects."""

    @field_validator("include", "exclude")
    @classmethod
    def _regex(cls, value: list[str]) -> list[str]:
        return _check_regexes(value)

    def wanted(self, url: str) -> bool:
        if self.include and not any(re.search(p, url) for p in self.include):
            return False
        return not any(re.search(p, url) for p in self.exclude)


class PageExtraction(_Opts):
    """How records are read from a project page."""

    mode: Literal["schema_org", "selectors", "auto"] = "schema_org"
    """``schema_org``: the page's structured data; ``selectors``: the ``selectors`` below;
    ``auto``: structured data when the page has some, else the page itself (title, main text,
    ``Label : value`` lines)."""
    types: list[str] = Field(default_factory=lambda: ["Project", "Organization", "Event", "Place"])
    """schema.org types kept (with their usual subtypes)."""
    selectors: dict[str, Selector_] = Field(default_factory=dict)
    """Platform field (``title``, ``commune``, ``holder.name``...) → CSS or ``xpath:`` selector."""

    @field_validator("selectors")
    @classmethod
    def _valid(cls, value: dict[str, str]) -> dict[str, str]:
        for sel in value.values():
            _check_selector(sel)
        return value


class JsonExportOptions(_UrlPatterns):
    """A JSON export: one document listing every record (the complete listing, so records missing
    from it are deleted after ``delete_after_missing`` crawls)."""

    url: WebUrl
    """The export's URL."""
    records_path: str = "projets"
    """Dotted path to the list of records in the document ('' when the document is the list)."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Platform field → dotted path in a record; merged over the French defaults. A record without a
    ``url`` gets the export's URL with its id as fragment; without an id, a hash of its content."""


class CsvExportOptions(_UrlPatterns):
    """A CSV export (``;`` ``,`` tab or ``|``; UTF-8 with or without BOM, else Windows-1252): one row a record."""

    url: WebUrl
    """The file's URL."""
    delimiter: Literal[";", ",", "\t", "|"] | None = None
    """None: guessed from the header line."""
    encoding: str | None = None
    """None: UTF-8 (with or without BOM), else Latin-1."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Platform field → column name, any case (French defaults in parsing/tabular.py). A row without
    a URL gets the file's URL with its id as fragment; without an id column, a hash of its content."""


class SitemapOptions(_UrlPatterns):
    """A sitemap (or sitemap index): every page it lists within the URL patterns is read as a project
    page; a page whose ``lastmod`` is older than its last fetch is not fetched again."""

    url: WebUrl
    """The sitemap's (or sitemap index's) URL."""
    page: PageExtraction = Field(default_factory=PageExtraction)
    """How each page is read."""


class SchemaOrgOptions(_UrlPatterns):
    """Listing pages linking to pages with schema.org items (JSON-LD, microdata, RDFa)."""

    start_urls: list[WebUrl] = Field(min_length=1)
    """The first listing pages."""
    link_selector: Selector_ | None = None
    """Links from the start pages to project pages; None: the start pages carry the items."""
    next_selector: Selector_ | None = None
    """The next listing page's link (followed up to 200 pages)."""
    types: list[str] = Field(default_factory=lambda: ["Project", "Organization", "Event", "Place"])
    """schema.org types kept (with their usual subtypes)."""


class FeedOptions(_UrlPatterns):
    """An RSS or Atom feed; its categories become theme labels (also when the item pages are followed)."""

    url: WebUrl
    """The feed's URL."""
    follow_links: bool = False
    """Fetch each item's page and read the record there (``page``); else the item is the record."""
    page: PageExtraction = Field(default_factory=PageExtraction)
    """How each item page is read when followed."""


class WordPressOptions(_UrlPatterns):
    """The WordPress REST API: posts (or custom post types) page by page, with their terms (``_embed``)."""

    api_base: WebUrl
    """``https://site/wp-json/wp/v2/``"""
    types: list[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,50}$")]] = Field(default_factory=lambda: ["posts"])
    """Post types (``posts``, ``pages``, a custom type such as ``projets``)."""
    per_page: int = Field(100, ge=1, le=100)
    """Posts per API page."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Platform field → dotted path in a post (``acf.commune``); merged over title/content/link/date.
    ``Label : value`` lines of the content fill the fields no path gives."""
    categories_include: list[str] = Field(default_factory=list)
    """Category or tag names or slugs (any case, accents ignored): only posts with one are projects."""
    categories_exclude: list[str] = Field(default_factory=list)
    """Category or tag names or slugs: posts with one are skipped (rule ``category``)."""
    terms_as_themes: bool = True
    """The post's categories and tags (``_embed`` names, else ``class_list`` slugs) become theme labels."""


class HtmlOptions(_UrlPatterns):
    """Plain HTML listing pages (paginated) linking to project pages."""

    start_urls: list[WebUrl] = Field(min_length=1)
    """The first listing pages."""
    link_selector: Selector_
    """CSS (or ``xpath:``) selector of the links to project pages."""
    next_selector: Selector_ | None = None
    """The next listing page's link (followed up to 200 pages)."""
    selectors: dict[str, Selector_] = Field(default_factory=dict)
    """Detail page: platform field → CSS or ``xpath:`` selector (``title`` required when any is
    given); none: the page is read like ``page.mode: auto``."""

    @field_validator("link_selector", "next_selector")
    @classmethod
    def _valid_one(cls, value: str | None) -> str | None:
        return _check_selector(value) if value else value

    @field_validator("selectors")
    @classmethod
    def _valid(cls, value: dict[str, str]) -> dict[str, str]:
        if value and "title" not in value:
            raise ValueError("a 'title' selector is required")
        for sel in value.values():
            _check_selector(sel)
        return value


class LinksOptions(_UrlPatterns):
    """A site crawled by following its links (no sitemap, feed or listing to rely on)."""

    start_urls: list[WebUrl] = Field(min_length=1)
    """Where to start (their order does not matter)."""
    max_depth: int = Field(2, ge=0, le=10)
    """Links followed from a start URL at most (0: the start pages only)."""
    page: PageExtraction = Field(default_factory=lambda: PageExtraction(mode="auto"))
    """How each page is read."""


class RecordTestOptions(_Opts):
    """What is a project (services/crawler/triage.py)."""

    min_description_chars: int = Field(40, ge=0, le=5000)
    """A shorter description: skipped (rule ``too_short``)."""
    max_document_bytes: int = Field(1_000_000, ge=1000, le=50_000_000)
    """A larger document (report, catalogue): skipped (rule ``oversize``)."""


class _Partner(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    slug: Slug
    """The partner's id (lower case, digits, dashes): the ``source`` of its records."""
    name: str
    """Shown to visitors and operators."""
    base_url: WebUrl
    """The partner's site; its host may be fetched, and URL folders below it are the site's own."""
    delay_s: float = Field(1.0, ge=0, le=600, description="Politeness delay between two requests to the host")
    schedule_s: float | None = Field(None, ge=60, le=30 * 86400,
                                     description="Seconds between two crawls (None: CRAWL_INTERVAL_S)")
    max_pages: int = Field(5000, ge=1, le=100_000, description="Requests per crawl at most")
    delete_after_missing: int = Field(2, ge=1, le=100,
                                      description="Complete crawls a record must be missing from before it is deleted")
    allow_private_addresses: bool = Field(False, description="Allow loopback/private addresses (tests, demo; "
                                                             "refused outside development)")
    extra_hosts: list[str] = Field(default_factory=list, description="Hosts besides base_url's that may be fetched")
    licence: str | None = None
    """Licence of the partner's data, shown with its records."""
    attribution: str | None = None
    """Attribution text shown with its records."""
    enabled: bool = True
    """False: not crawled (still listed)."""
    record_test: RecordTestOptions = Field(default_factory=RecordTestOptions)
    """What is a project for this partner."""
    max_reject_share: float = Field(0.1, ge=0, le=1,
                                    description="A complete run rejecting more than this share of its items is 'degraded'")
    guessed: bool = Field(False, description="True when the connector is a guess not yet checked on the live site")
    notes: str | None = None
    """Free notes for operators."""


class JsonExportPartner(_Partner):
    connector: Literal["json_export"]
    options: JsonExportOptions


class CsvExportPartner(_Partner):
    connector: Literal["csv_export"]
    options: CsvExportOptions


class SitemapPartner(_Partner):
    connector: Literal["sitemap"]
    options: SitemapOptions


class SchemaOrgPartner(_Partner):
    connector: Literal["schema_org"]
    options: SchemaOrgOptions


class FeedPartner(_Partner):
    connector: Literal["feed"]
    options: FeedOptions


class WordPressPartner(_Partner):
    connector: Literal["wordpress"]
    options: WordPressOptions


class HtmlPartner(_Partner):
    connector: Literal["html"]
    options: HtmlOptions


class LinksPartner(_Partner):
    connector: Literal["links"]
    options: LinksOptions


PartnerConfig = Annotated[
    JsonExportPartner | CsvExportPartner | SitemapPartner | SchemaOrgPartner | FeedPartner | WordPressPartner
    | HtmlPartner | LinksPartner,
    Field(discriminator="connector"),
]


class PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    user_agent: str = "CarrefourBot/0.1 (+https://carrefour.example.org/robot)"
    """Sent with every request; robots.txt rules for this agent apply."""
    partners: list[PartnerConfig]


class ConfigError(Exception):
    pass


def _where(loc: list, data) -> str:
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "partners" and isinstance(loc[1], int):
        raw = (data or {}).get("partners", []) if isinstance(data, dict) else []
        entry = raw[loc[1]] if isinstance(raw, list) and loc[1] < len(raw) else None
        slug = entry.get("slug", f"#{loc[1]}") if isinstance(entry, dict) else f"#{loc[1]}"
        rest = loc[2:]
        if rest and rest[0] in CONNECTORS:  # the discriminated union's tag
            rest = rest[1:]
        where = f"partner {slug}: " + ".".join(str(p) for p in rest)
    return where


def load_partners(path: str | Path | None = None) -> PartnersFile:
    path = Path(path) if path else DEFAULT_PARTNERS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read partners file: {exc}") from None
    return parse_partners(data, str(path))


def parse_partners(data, origin: str) -> PartnersFile:
    """A partners file's parsed YAML → validated partners; errors name the partner and field."""
    try:
        parsed = PartnersFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc.append("connector")
                msg = ("Field required" if err["type"] == "union_tag_not_found"
                       else f"unknown connector {err.get('ctx', {}).get('tag')!r}; expected one of {', '.join(CONNECTORS)}")
            else:
                msg = err["msg"]
            problems.append(f"{_where(loc, data)}: {msg}")
        raise ConfigError(f"{origin}: invalid partners file:\n  " + "\n  ".join(problems)) from None
    slugs = [p.slug for p in parsed.partners]
    dupes = {s for s in slugs if slugs.count(s) > 1}
    if dupes:
        raise ConfigError(f"{origin}: duplicate partner slugs: {', '.join(sorted(dupes))}")
    return parsed
