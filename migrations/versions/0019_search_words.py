"""search words: the index's own vocabulary, for "did you mean".

``search_words`` holds every folded word (3 to 40 characters, not only digits) of the searched
text of ``search_documents`` (title and body), with a trigram index: when a search finds nothing
because of a word no project uses, the gateway proposes the closest words (``pg_trgm``
similarity) that still match projects. Two statement-level triggers (one per event: transition
tables allow one event each) add the words of the rows each INSERT or UPDATE statement wrote, in
one ``INSERT … ON CONFLICT DO NOTHING`` per statement (a bulk load of 500 rows is one insert).
Words are never removed: a word left by a deleted project is only proposed when it still
matches something (the gateway checks). The zero-downtime rebuild carries the triggers over to
the table it swaps in, as it does the generation trigger; the rows it loads are those the live
table already had, so their words are already here.

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-07
"""

from alembic import op

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None

WORDS_OF = ("SELECT DISTINCT w FROM {rows}, regexp_split_to_table(r.title_folded || ' ' || r.body_folded, ' ') AS w "
            "WHERE length(w) BETWEEN 3 AND 40 AND w !~ '^[0-9]+$'")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE TABLE IF NOT EXISTS search_words (word text PRIMARY KEY)")
    op.execute("CREATE INDEX IF NOT EXISTS search_words_trgm ON search_words USING gin (word gin_trgm_ops)")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION search_words_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO search_words (word) {WORDS_OF.format(rows="new_rows r")} ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$""")
    for event in ("INSERT", "UPDATE"):
        name = f"search_documents_words_{event.lower()}"
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON search_documents")
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON search_documents REFERENCING NEW TABLE AS new_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION search_words_add()")
    existing = WORDS_OF.format(rows="search_documents r").replace("WHERE ", "WHERE NOT r.deleted AND ")
    op.execute(f"INSERT INTO search_words (word) {existing} ON CONFLICT DO NOTHING")

def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS search_documents_words_{event} ON search_documents")
    op.execute("DROP FUNCTION IF EXISTS search_words_add()")
    op.execute("DROP TABLE IF EXISTS search_words")
