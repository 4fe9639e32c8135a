"""reports: visitors' reports about a project (closed, wrong place, wrong information, duplicate of
another project), the moderators' decisions, and the gateway-side flag a confirmed "closed" sets
(applied when the pages render).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE IF NOT EXISTS reports (
            id bigserial PRIMARY KEY,
            project_id text NOT NULL,
            project_title text NOT NULL DEFAULT '',
            kind text NOT NULL CHECK (kind IN ('closed', 'wrong_place', 'wrong_info', 'duplicate')),
            duplicate_of text,
            detail text NOT NULL DEFAULT '',
            reporter_email text,
            reporter_user_id bigint,
            ip_hash text,
            status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'rejected')),
            decided_by text,
            decided_at timestamptz,
            note text,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX IF NOT EXISTS reports_open ON reports (created_at) WHERE status = 'open'")
    op.execute("CREATE INDEX IF NOT EXISTS reports_ip ON reports (ip_hash, created_at)")
    op.execute("CREATE INDEX IF NOT EXISTS reports_project ON reports (project_id)")
    op.execute("""
        CREATE TABLE IF NOT EXISTS project_flags (
            project_id text PRIMARY KEY,
            closed boolean NOT NULL DEFAULT false,
            report_id bigint REFERENCES reports (id) ON DELETE SET NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS project_flags")
    op.execute("DROP TABLE IF EXISTS reports")
