"""The configuration reference of docs/crawler.md, generated from the one schema (config.py's
pydantic models and the platform fields), so the docs cannot drift from the code:

    .venv/bin/python -m services.crawler.reference            # print
    .venv/bin/python -m services.crawler.reference --write    # rewrite the section of docs/crawler.md

tests/unit/test_crawler_reference.py fails when the docs differ from what this generates."""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from libs.contracts.events import PartnerRecord
from services.crawler import config
from services.crawler.domain import FRENCH_FIELDS
from services.crawler.parsing.labels import LABELS
from services.crawler.parsing.tabular import CSV_FIELDS
from services.crawler.parsing.wordpress import WP_FIELDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "crawler.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m services.crawler.reference --write) -->"
END = "<!-- END GENERATED REFERENCE -->"

PARTNER_CLASSES = {
    "json_export": config.JsonExportPartner, "csv_export": config.CsvExportPartner, "sitemap": config.SitemapPartner,
    "schema_org": config.SchemaOrgPartner, "feed": config.FeedPartner, "wordpress": config.WordPressPartner,
    "html": config.HtmlPartner, "links": config.LinksPartner,
}


def _type(annotation) -> str:
    text = str(annotation).replace("typing.", "")
    for noise in ("services.crawler.config.", "typing_extensions.", "<class '", "'>"):
        text = text.replace(noise, "")
    if "Annotated[str" in text or "WebUrl" in text:
        text = "str" if "list" not in text else "list[str]"
    return text.replace("NoneType", "None")


def _default(info) -> str:
    if info.default is not PydanticUndefined:
        return "`" + repr(info.default) + "`" if info.default is not None else "`None`"
    if info.default_factory is not None:
        value = info.default_factory()
        return "`" + (repr(value.model_dump()) if isinstance(value, BaseModel) else repr(value)) + "`"
    return "**required**"


def _table(model: type[BaseModel], skip: set[str] = frozenset()) -> list[str]:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        doc = " ".join((info.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(info.annotation).replace('|', 'or')} | {_default(info)} | {doc} |")
    return rows


def _nested(model: type[BaseModel]) -> list[type[BaseModel]]:
    out = []
    for info in model.model_fields.values():
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in out:
                out.append(arg)
    return out


def platform_fields() -> list[str]:
    """Every field a selector, a column, a JSON path or a label may fill (``holder.name``...)."""
    out = []
    for name, info in PartnerRecord.model_fields.items():
        if name == "source":
            continue
        subs = [a for a in typing.get_args(info.annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        out += [f"{name}.{s}" for s in subs[0].model_fields] if subs else [name]
    return out


def generate() -> str:
    lines = [BEGIN, "", "### Platform fields", "",
             "What a selector (`selectors`), a column or path (`fields`) or a label line may fill:", "",
             ", ".join(f"`{f}`" for f in platform_fields()), "",
             "### Label words", "",
             ("`Label : value` lines (and JSON-LD `additionalProperty` names) are read when the label, folded "
             "(no accents, lower case), is one of these — or starts with one:"), ""]
    by_field: dict[str, list[str]] = {}
    for label, target in LABELS.items():
        by_field.setdefault(target, []).append(label)
    lines += [f"- `{target}`: " + ", ".join(f"«{w}»" for w in words) for target, words in by_field.items()]
    lines += ["", "### Default names in exports", "",
              ("A partner's `fields` override these (CSV column names match in any case; JSON and WordPress "
              "paths are dotted). Without an id, a record's id is a hash of its content; without a URL, "
              "its URL is the export's with the id as fragment."), "",
              "| platform field | JSON export path | CSV column | WordPress path |", "|---|---|---|---|"]
    for f in platform_fields():
        lines.append(f"| `{f}` | {FRENCH_FIELDS.get(f, '')} | {CSV_FIELDS.get(f, '')} | {WP_FIELDS.get(f, '')} |")
    lines += ["", "### Every partner", ""] + _table(config.PartnersFile, {"partners"}) + [""]
    lines += _table(config.JsonExportPartner, {"connector", "options"}) + [""]
    shared = [config.RecordTestOptions]
    for model in shared:
        lines += [f"#### `{model.__name__}`", "", " ".join((model.__doc__ or "").split()), ""] + _table(model) + [""]
    lines += ["### Connectors and their options", ""]
    seen: set[type] = set(shared)
    for name, cls in PARTNER_CLASSES.items():
        opts = cls.model_fields["options"].annotation
        lines += [f"#### `connector: {name}`", "", " ".join((opts.__doc__ or "").split()), ""] + _table(opts) + [""]
        for sub in _nested(opts):
            if sub not in seen:
                seen.add(sub)
                lines += [f"`{sub.__name__}` ({' '.join((sub.__doc__ or '').split())})", ""] + _table(sub) + [""]
    return "\n".join(lines + [END])


def current() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(BEGIN):text.index(END) + len(END)]


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(text.replace(current(), generate()), encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(generate())
