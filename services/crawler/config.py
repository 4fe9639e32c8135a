"""Partner configuration (YAML), validated at start-up with errors naming partner and field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.contracts.events import Slug, WebUrl

HERE = Path(__file__).parent
DEFAULT_PARTNERS_FILE = HERE / "partners.demo.yaml"  # the real partners arrive with the crawler issue


class JsonExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: WebUrl
    records_path: str = "projets"
    """Dotted path to the list of records in the document ('' when the document is the list)."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Platform field → dotted path in a record; merged over the French defaults."""


class PartnerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: Slug
    name: str
    base_url: WebUrl
    connector: Literal["json_export"]
    options: JsonExportOptions
    delay_s: float = Field(1.0, ge=0, le=600, description="Politeness delay between two requests to the host")
    licence: str | None = None
    enabled: bool = True
    guessed: bool = Field(False, description="True when the connector is a guess not yet checked on the live site")


class PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_agent: str = "CarrefourBot/0.1 (+https://carrefour.example.org/robot)"
    partners: list[PartnerConfig]


class ConfigError(Exception):
    pass


def load_partners(path: str | Path | None = None) -> PartnersFile:
    path = Path(path) if path else DEFAULT_PARTNERS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read partners file: {exc}") from None
    try:
        parsed = PartnersFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] == "partners" and isinstance(loc[1], int):
                raw = (data or {}).get("partners", [])
                slug = raw[loc[1]].get("slug", f"#{loc[1]}") if loc[1] < len(raw) and isinstance(raw[loc[1]], dict) else f"#{loc[1]}"
                where = f"partner {slug}: " + ".".join(str(p) for p in loc[2:])
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError(f"{path}: invalid partners file:\n  " + "\n  ".join(problems)) from None
    slugs = [p.slug for p in parsed.partners]
    dupes = {s for s in slugs if slugs.count(s) > 1}
    if dupes:
        raise ConfigError(f"{path}: duplicate partner slugs: {', '.join(sorted(dupes))}")
    return parsed
