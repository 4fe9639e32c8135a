"""crawl runs: what became of every item (emitted, skipped with a rule, rejected with a reason).

``items`` read, ``projects`` that passed the record test, ``excluded`` (skipped as not projects),
``by_rule`` (``skipped:news`` → count...), ``first_reasons`` (the first 20, in the order met).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE crawl_runs
            ADD COLUMN items         integer NOT NULL DEFAULT 0,
            ADD COLUMN projects      integer NOT NULL DEFAULT 0,
            ADD COLUMN excluded      integer NOT NULL DEFAULT 0,
            ADD COLUMN by_rule       jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN first_reasons jsonb NOT NULL DEFAULT '[]'
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE crawl_runs DROP COLUMN items, DROP COLUMN projects, DROP COLUMN excluded, "
        "DROP COLUMN by_rule, DROP COLUMN first_reasons"
    )
