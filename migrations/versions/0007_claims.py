"""claims and holder edits: who holds which project, and the fields they edited.

- ``claims``: a user's claim on a canonical project; at most one ``approved`` claim per project
  (its holder), at most one ``pending`` claim per project and user. The confirmation link
  e-mailed to the project's published contact is a random token of which only the SHA-256 is kept.
- ``claims_holder_edits``: what the holder set (gateway side, the truth), with a per-project
  version; ``contact_email`` is never published.
- ``claims_index_overlays``: the indexer's copy of the published holder fields, fed by
  ``projects.holder_edits.v1`` and laid over every canonical version it indexes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PROJECT_ID_CHECK = "CHECK (project_id ~ '^[a-z0-9][a-z0-9-]{0,100}$')"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE claims (
            id                bigserial PRIMARY KEY,
            project_id        text NOT NULL {PROJECT_ID_CHECK},
            user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            status            text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'revoked')),
            project_title     text NOT NULL DEFAULT '',
            sources           text[] NOT NULL DEFAULT '{{}}',  -- partners of the project when claimed
            message           text,                           -- the claimant's note to reviewers
            contact_email     text,                           -- where the confirmation link went
            token_hash        text UNIQUE,
            token_expires_at  timestamptz,
            created_at        timestamptz NOT NULL DEFAULT now(),
            decided_at        timestamptz,
            decided_by        bigint REFERENCES users (id) ON DELETE SET NULL,
            decided_via       text CHECK (decided_via IN ('email', 'partner', 'operator', 'claimant', 'system')),
            reason            text
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX claims_one_holder ON claims (project_id) WHERE status = 'approved'")
    op.execute("CREATE UNIQUE INDEX claims_one_pending ON claims (project_id, user_id) WHERE status = 'pending'")
    op.execute("CREATE INDEX claims_user ON claims (user_id, created_at)")
    op.execute("CREATE INDEX claims_pending_sources ON claims USING gin (sources) WHERE status = 'pending'")
    op.execute(
        f"""
        CREATE TABLE claims_holder_edits (
            project_id     text PRIMARY KEY {PROJECT_ID_CHECK},
            holder_id      bigint REFERENCES users (id) ON DELETE SET NULL,
            version        integer NOT NULL CHECK (version >= 1),
            fields         jsonb NOT NULL DEFAULT '{{}}',  -- published: summary, description, website, stage, themes
            contact_email  text,                          -- never published: where the contact form writes
            updated_at     timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE claims_index_overlays (
            project_id  text PRIMARY KEY {PROJECT_ID_CHECK},
            version     integer NOT NULL CHECK (version >= 1),
            fields      jsonb NOT NULL DEFAULT '{{}}',
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS claims_index_overlays")
    op.execute("DROP TABLE IF EXISTS claims_holder_edits")
    op.execute("DROP TABLE IF EXISTS claims")
