"""Partner names and licences for attribution (search pages, project pages, export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
import yaml

log = structlog.get_logger()
DEFAULT_PARTNERS_FILE = Path(__file__).parents[2] / "crawler" / "partners.demo.yaml"


def load_partners(path: str | None) -> dict[str, dict[str, Any]]:
    """Partner names and licences (for attribution), from the crawler's partner file."""
    file = Path(path) if path else DEFAULT_PARTNERS_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("partners file unreadable: attribution without names or licences", path=str(file), error=str(exc))
        return {}
    return {p["slug"]: {"name": p.get("name") or p["slug"], "licence": p.get("licence"), "url": p.get("base_url")}
            for p in data.get("partners") or [] if isinstance(p, dict) and p.get("slug")}
