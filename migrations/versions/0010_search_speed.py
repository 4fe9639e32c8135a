"""search speed: indexes and precomputed data the search backend reads.

An index generation number for the gateway's search result cache: ``search_index_state`` holds
one row whose ``generation`` a statement-level trigger on ``search_documents`` bumps in the same
transaction as every INSERT, UPDATE, DELETE or TRUNCATE (whoever the writer is). A reader that
sees generation ``g`` therefore sees every write counted in ``g``; a cached result computed after
reading ``g`` is served only while the generation is still ``g``. The index writer's zero-downtime
rebuild copies the trigger onto the table it swaps in (``LIKE ... INCLUDING ALL`` copies no
triggers) and bumps the generation in the swap transaction.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS search_index_state ("
               "id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1), generation bigint NOT NULL DEFAULT 0)")
    op.execute("INSERT INTO search_index_state (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
    op.execute("""
        CREATE OR REPLACE FUNCTION search_index_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE search_index_state SET generation = generation + 1 WHERE id = 1;
            RETURN NULL;
        END $$""")
    op.execute("DROP TRIGGER IF EXISTS search_documents_generation ON search_documents")
    op.execute("CREATE TRIGGER search_documents_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
               "ON search_documents FOR EACH STATEMENT EXECUTE FUNCTION search_index_bump()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS search_documents_generation ON search_documents")
    op.execute("DROP FUNCTION IF EXISTS search_index_bump()")
    op.execute("DROP TABLE IF EXISTS search_index_state")
