"""Migrations form one line: a single head, each revision named after its file's number, so a branch
merged with its own migration cannot leave the database with two heads (alembic refuses to upgrade)."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from tools.devstack import ROOT


def test_one_head_and_numbers_follow_the_files():
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    revisions = list(script.walk_revisions())
    for rev in revisions:
        assert rev.path.split("/")[-1].startswith(rev.revision + "_"), (rev.revision, rev.path)
    assert len(revisions) == len(list((ROOT / "migrations" / "versions").glob("0*.py")))
