"""dedup blocks: the primary key carries each row's stamp (``INCLUDE (stamp)``), so the members of
a batch's candidate blocks and their stamps are read from the index alone (an index-only scan, no
visit of the table's pages: at a million records those pages are not in memory).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dedup_blocks DROP CONSTRAINT IF EXISTS dedup_blocks_pkey, "
               "ADD CONSTRAINT dedup_blocks_pkey PRIMARY KEY (block_key, record_key) INCLUDE (stamp)")


def downgrade() -> None:
    op.execute("ALTER TABLE dedup_blocks DROP CONSTRAINT IF EXISTS dedup_blocks_pkey, "
               "ADD CONSTRAINT dedup_blocks_pkey PRIMARY KEY (block_key, record_key)")
