"""The house rules, checked on the code itself: no service imports another, each table is read and
written by the service that owns it (the search engine's storage excepted, written by the indexer and
read through the gateway's search port), no import circle inside a package, modules stay small."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("crawler", "normalizer", "geocoder", "indexer", "gateway")
OWNERS: dict[str, set[str]] = {
    "crawler": {"crawl_partners", "crawl_records", "crawl_runs", "crawl_urls"},
    "normalizer": set(),
    "geocoder": {"geocoder_cache"},
    "indexer": {"canonical_projects", "dedup_block_sizes", "dedup_blocks", "dedup_matches", "dedup_overrides",
                "dedup_records", "claims_index_overlays"},
    "gateway": {"alert_matches", "alert_searches", "api_keys", "audit_log", "auth_throttle", "claims", "claims_holder_edits", "contact_attempts",
                "contact_conversations", "contact_messages", "contact_reports", "contact_tokens", "dedup_decisions",
                "dedup_pairs", "ingest_usage", "mm_posts", "mm_reports", "operator_previews", "outbox", "project_flags", "reports",
                "partner_directory", "partner_orgs", "partner_runs", "user_sessions", "user_tokens", "users"},
}
SEARCH_ENGINE = {"search_documents", "search_documents_next", "search_documents_old", "search_index_state"}
"""The PostgreSQL search backend's storage: written by the indexer's index writer, read by the gateway's
search port (``services/gateway/search/``) — as a Meilisearch index would be."""
SEARCH_READERS = ("services/indexer/", "services/gateway/search/")
MAX_LINES = 460
_SQL_NAME = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|EXISTS)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


def _py(under: str):
    return sorted(p for p in (ROOT / under).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _migration_tables() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in _py("migrations/versions"))
    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)", text))


def test_every_table_has_one_owner():
    owned = [t for tables in OWNERS.values() for t in tables] + sorted(SEARCH_ENGINE)
    assert len(owned) == len(set(owned)), "a table listed twice"
    unknown = _migration_tables() - set(owned) - {"source_records"}  # dropped by a later migration
    assert not unknown, f"tables without an owner in OWNERS: {sorted(unknown)}"


def test_no_service_imports_another():
    wrong = []
    for service in SERVICES:
        for path in _py(f"services/{service}"):
            for name in _imports(path):
                other = name.split(".")[1] if name.startswith("services.") and name.count(".") >= 1 else None
                if other and other != service:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_libs_import_no_service():
    wrong = [f"{p.relative_to(ROOT)} imports {n}" for p in _py("libs") for n in _imports(p) if n.startswith("services")]
    assert not wrong, "\n".join(wrong)


def test_each_service_touches_only_its_tables():
    known = {t for tables in OWNERS.values() for t in tables} | SEARCH_ENGINE
    wrong = []
    for service in SERVICES:
        for path in _py(f"services/{service}"):
            rel = str(path.relative_to(ROOT))
            for table in set(_SQL_NAME.findall(path.read_text(encoding="utf-8"))) & known:
                if table in OWNERS[service]:
                    continue
                if table in SEARCH_ENGINE and rel.startswith(SEARCH_READERS):
                    continue
                wrong.append(f"{rel} uses {table}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_a_foreign_table(tmp_path):
    """The scan above must see a read of another service's table (else it proves nothing)."""
    sample = 'await conn.execute(text("SELECT name FROM crawl_partners WHERE slug = :s"))'
    assert "crawl_partners" in _SQL_NAME.findall(sample)
    assert "crawl_partners" not in OWNERS["gateway"]


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def test_no_import_circle():
    """Module-level imports only (an import inside a function is a deliberate late binding)."""
    modules = {_module(p): p for top in ("services", "libs", "tools") for p in _py(top)}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for t in targets:
                if t in modules and t != name:
                    graph[name].add(t)
    # strongly connected components (Tarjan)
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(modules):
        if v not in index:
            visit(v)
    assert not cycles, f"import circles: {cycles}"


def test_modules_stay_small():
    big = [f"{p.relative_to(ROOT)}: {n}" for top in ("services", "libs", "tools", "benchmarks")
           for p in _py(top) if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_one_distance_function():
    """Distances are computed in one place (``libs/contracts/geo.py``), in Python and in SQL."""
    wrong = [str(p.relative_to(ROOT)) for top in ("services", "libs", "tools") for p in _py(top)
             if p.name != "geo.py" and re.search(r"\b(?:asin|arcsin|radians)\(", p.read_text(encoding="utf-8"))]
    assert not wrong, f"great-circle distance written again in: {wrong}"
