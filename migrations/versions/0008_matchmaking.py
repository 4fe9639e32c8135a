"""matchmaking posts: calls for expertise, job offers, job searches, offers of expertise; reports.

- ``mm_posts``: one row per post; the searched text is folded in Python (as the project search
  does: the embedded server has no ``unaccent``), with a generated French ``tsvector`` (title
  weighted above the body) and a trigram index on the title and skills for typos; facet columns
  (kind, skills, themes, contract type, remote, territory) and coordinates for radius/bbox search;
  ``expires_at`` drives the automatic closing.
- ``mm_reports``: reports by anyone (``reporter_key`` = account id or a hash of the IP address,
  for the rate limit; never the address itself).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE TABLE mm_posts (
            id              text PRIMARY KEY,
            kind            text NOT NULL CHECK (kind IN ('call_for_expertise', 'job_offer', 'job_search',
                                                          'expertise_offer')),
            author_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            project_id      text,
            project_title   text,
            title           text NOT NULL,
            description     text NOT NULL,
            skills          text[] NOT NULL DEFAULT '{}',
            themes          text[] NOT NULL DEFAULT '{}',
            remote          text NOT NULL DEFAULT 'on_site',
            contract_type   text,
            hours           text,
            pay_min         integer,
            pay_max         integer,
            pay_period      text,
            start_date      date,
            deadline        date,
            availability    text,
            commune         text,
            commune_name    text,
            postcode        text,
            departement     text,
            departement_name text,
            region          text,
            region_name     text,
            lat             double precision,
            lon             double precision,
            status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            closed_reason   text,
            closed_at       timestamptz,
            hidden          boolean NOT NULL DEFAULT false,
            hidden_reason   text,
            report_count    integer NOT NULL DEFAULT 0,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            expires_at      timestamptz NOT NULL,
            title_folded    text NOT NULL DEFAULT '',
            body_folded     text NOT NULL DEFAULT '',
            words_folded    text NOT NULL DEFAULT '',
            tsv             tsvector GENERATED ALWAYS AS (
                                setweight(to_tsvector('french', title_folded), 'A') ||
                                setweight(to_tsvector('french', body_folded), 'B')) STORED
        )
        """
    )
    op.execute("CREATE INDEX mm_posts_tsv ON mm_posts USING gin (tsv)")
    op.execute("CREATE INDEX mm_posts_words_trgm ON mm_posts USING gin (words_folded gin_trgm_ops)")
    op.execute("CREATE INDEX mm_posts_skills ON mm_posts USING gin (skills)")
    op.execute("CREATE INDEX mm_posts_themes ON mm_posts USING gin (themes)")
    op.execute("CREATE INDEX mm_posts_live ON mm_posts (created_at DESC, id) WHERE status = 'open' AND NOT hidden")
    op.execute("CREATE INDEX mm_posts_project ON mm_posts (project_id) WHERE project_id IS NOT NULL")
    op.execute("CREATE INDEX mm_posts_author ON mm_posts (author_id)")
    op.execute("CREATE INDEX mm_posts_expiry ON mm_posts (expires_at) WHERE status = 'open'")
    op.execute("CREATE INDEX mm_posts_lonlat ON mm_posts (lon, lat) WHERE lat IS NOT NULL")
    op.execute(
        """
        CREATE TABLE mm_reports (
            id            bigserial PRIMARY KEY,
            post_id       text NOT NULL REFERENCES mm_posts(id) ON DELETE CASCADE,
            reporter_id   bigint REFERENCES users (id) ON DELETE SET NULL,
            reporter_key  text NOT NULL,
            reason        text NOT NULL,
            details       text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            resolved_at   timestamptz
        )
        """
    )
    op.execute("CREATE INDEX mm_reports_post ON mm_reports (post_id)")
    op.execute("CREATE INDEX mm_reports_reporter ON mm_reports (reporter_key, created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS mm_reports")
    op.execute("DROP TABLE IF EXISTS mm_posts")
