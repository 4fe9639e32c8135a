"""accounts: users, sessions, roles, login throttling, outbox, audit log, partner organisations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE partner_orgs (
            slug        text PRIMARY KEY CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
            name        text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE users (
            id              bigserial PRIMARY KEY,
            email           text NOT NULL,
            display_name    text NOT NULL,
            password_hash   text NOT NULL,
            roles           text[] NOT NULL DEFAULT '{}',
            partner         text REFERENCES partner_orgs (slug) ON DELETE SET NULL,
            email_verified  boolean NOT NULL DEFAULT false,
            created_at      timestamptz NOT NULL DEFAULT now(),
            last_login_at   timestamptz,
            disabled_at     timestamptz
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX users_email ON users (lower(email))")
    op.execute("CREATE INDEX users_partner ON users (partner) WHERE partner IS NOT NULL")
    # a session cookie carries a random token; only its SHA-256 is stored
    op.execute(
        """
        CREATE TABLE user_sessions (
            id            bigserial PRIMARY KEY,
            token_hash    text NOT NULL UNIQUE,
            user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at    timestamptz NOT NULL DEFAULT now(),
            expires_at    timestamptz NOT NULL,
            last_seen_at  timestamptz NOT NULL DEFAULT now(),
            ip            text,
            user_agent    text
        )
        """
    )
    op.execute("CREATE INDEX user_sessions_user ON user_sessions (user_id)")
    # single-use, expiring tokens sent by e-mail: address verification and password reset
    op.execute(
        """
        CREATE TABLE user_tokens (
            token_hash  text PRIMARY KEY,
            user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            purpose     text NOT NULL CHECK (purpose IN ('verify', 'reset')),
            created_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz NOT NULL,
            used_at     timestamptz
        )
        """
    )
    op.execute("CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose)")
    # failed logins and other throttled actions, per key ("login:email:...", "login:ip:..."), across replicas
    op.execute(
        """
        CREATE TABLE auth_throttle (
            id    bigserial PRIMARY KEY,
            key   text NOT NULL,
            at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX auth_throttle_key_at ON auth_throttle (key, at)")
    op.execute(
        """
        CREATE TABLE outbox (
            id               bigserial PRIMARY KEY,
            to_addr          text NOT NULL,
            subject          text NOT NULL,
            body             text NOT NULL,
            reply_to         text,
            headers          jsonb NOT NULL DEFAULT '{}',
            created_at       timestamptz NOT NULL DEFAULT now(),
            attempts         integer NOT NULL DEFAULT 0,
            next_attempt_at  timestamptz NOT NULL DEFAULT now(),
            sent_at          timestamptz,
            failed_at        timestamptz,
            last_error       text
        )
        """
    )
    op.execute("CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL")
    op.execute(
        """
        CREATE TABLE audit_log (
            id        bigserial PRIMARY KEY,
            at        timestamptz NOT NULL DEFAULT now(),
            actor_id  bigint,
            action    text NOT NULL,
            target    text NOT NULL,
            details   jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute("CREATE INDEX audit_log_target ON audit_log (target, at)")
    op.execute("CREATE INDEX audit_log_actor ON audit_log (actor_id, at)")
    op.execute("ALTER TABLE api_keys ADD COLUMN created_by bigint")


def downgrade() -> None:
    op.execute("ALTER TABLE api_keys DROP COLUMN IF EXISTS created_by")
    for table in ("audit_log", "outbox", "auth_throttle", "user_tokens", "user_sessions", "users", "partner_orgs"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
