"""dedup block stamps: each block row carries its record's ``last_seen`` (set by the same upsert),
so the candidates of a batch and their stamps (which say whether the dedup's in-memory features
are current) come from ``dedup_blocks`` alone, without a join on ``dedup_records``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dedup_blocks ADD COLUMN IF NOT EXISTS stamp timestamptz")
    op.execute("UPDATE dedup_blocks b SET stamp = r.last_seen FROM dedup_records r "
               "WHERE r.record_key = b.record_key AND b.stamp IS NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE dedup_blocks DROP COLUMN IF EXISTS stamp")
