"""The API documentation pages, offline: ``/schema`` is a light, accessible page rendered on the
server from the OpenAPI schema (every endpoint, its parameters and its answers, readable on a
phone); ``/schema/redoc`` is the interactive Redoc viewer served from the vendored bundle
(``static/vendor/redoc/``, nothing fetched from other sites); ``/schema/openapi.json`` the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin

TEMPLATES = Path(__file__).parents[1] / "templates"
METHODS = ("get", "post", "put", "patch", "delete")
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _type(schema: dict[str, Any] | None) -> str:
    """A parameter's type in a few words: ``string``, ``integer (1–100)``, ``list of string``."""
    schema = schema or {}
    options = [s for s in schema.get("oneOf") or schema.get("anyOf") or [] if s.get("type") != "null"]
    if options:
        schema = {**options[0], **{k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}}
    kind = schema.get("type") or "valeur"
    if kind == "array":
        kind = f"liste de {_type(schema.get('items'))}"
    bounds = [f"≥ {schema['minimum']}" if "minimum" in schema else "",
              f"≤ {schema['maximum']}" if "maximum" in schema else "",
              f"{schema['maxLength']} caractères au plus" if "maxLength" in schema else ""]
    if schema.get("enum"):
        bounds.append("parmi " + ", ".join(map(str, schema["enum"])))
    extra = ", ".join(b for b in bounds if b)
    return f"{kind} ({extra})" if extra else kind


def endpoints(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of the schema, grouped by their path's area (``/api/v1/<area>``)."""
    out = []
    for path, item in sorted((schema.get("paths") or {}).items()):
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            out.append({
                "anchor": op.get("operationId") or f"{method}-{path}", "method": method.upper(), "path": path,
                "summary": op.get("summary") or "", "description": op.get("description") or "",
                "parameters": [{"name": p.get("name"), "in": p.get("in"), "required": bool(p.get("required")),
                                "type": _type(p.get("schema")), "description": p.get("description") or ""}
                               for p in op.get("parameters") or []],
                "responses": sorted((op.get("responses") or {}).keys()),
                "body": bool(op.get("requestBody")),
                "area": (path.split("/")[3] if path.startswith("/api/v1/") and path.count("/") >= 3 else "autres"),
            })
    return out


class ApiPagePlugin(OpenAPIRenderPlugin):
    """``/schema``: the server-rendered page (no script at all)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path="/", favicon='<link rel="icon" href="data:,">', **kwargs)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        ops = endpoints(openapi_schema)
        areas: dict[str, list[dict[str, Any]]] = {}
        for op in ops:
            areas.setdefault(op["area"], []).append(op)
        return _env.get_template("api.html").render(info=openapi_schema.get("info") or {}, areas=areas,
                                                    total=len(ops)).encode()


def plugins() -> list[OpenAPIRenderPlugin]:
    return [ApiPagePlugin(),
            RedocRenderPlugin(path="/redoc", js_url="/static/vendor/redoc/redoc.standalone.js", google_fonts=False,
                              favicon='<link rel="icon" href="data:,">')]
