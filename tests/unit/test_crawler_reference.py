"""docs/crawler.md's configuration reference is the one generated from the schema."""

from __future__ import annotations

from services.crawler import config, reference


def test_docs_reference_is_generated_from_the_schema() -> None:
    assert reference.current() == reference.generate(), \
        "docs/crawler.md is out of date: run .venv/bin/python -m services.crawler.reference --write"


def test_every_option_of_every_connector_is_documented() -> None:
    text = reference.generate()
    assert set(reference.PARTNER_CLASSES) == set(config.CONNECTORS)
    for cls in reference.PARTNER_CLASSES.values():
        options = cls.model_fields["options"].annotation
        for name, info in options.model_fields.items():
            assert f"| `{name}` |" in text
            assert info.description, f"{options.__name__}.{name} has no description"
    for name, info in config.JsonExportPartner.model_fields.items():
        if name not in ("connector", "options"):
            assert info.description, f"partner field {name} has no description"
    for field in ("holder.name", "contact.email", "stage", "themes", "commune"):
        assert f"`{field}`" in text
