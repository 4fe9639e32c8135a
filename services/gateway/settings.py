"""Gateway settings (environment variables): the runtime's plus the web site, accounts, mail and partner API."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator

from libs.runtime import safety
from libs.runtime.settings import RuntimeSettings


class GatewaySettings(RuntimeSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (JSON list)")
    gateway_workers: int = Field(1, ge=1, le=64, description="Gateway worker processes (uvicorn --workers)")
    search_cache_mb: float = Field(64.0, ge=0, description="Search caches per gateway process, MB (0: off): "
                                                          "candidate sets, hit documents, whole answers")
    search_candidates_settle_ms: float = Field(
        1000.0, ge=0, le=600_000,
        description="How long the index must stand unchanged before the gateway reads candidate sets into memory")
    search_cache_max_stale_ms: float = Field(
        0.0, ge=0, le=60_000,
        description="Longest a cached search result may be served after a write to the index committed (0: never)")
    matchmaking_expiry_interval_s: float = Field(300.0, gt=0, description="Seconds between two runs of the post expiry")
    event_subscribers: bool = Field(False, description="This gateway follows the topics its read models need (the "
                                                       "crawler's previews and partner status); on in the "
                                                       "deployments and `make up`, off for in-process test apps")
    alerts_subscriber: bool = Field(False, description="This gateway consumes canonical projects and posts to record "
                                                       "the matches of saved searches (on in the deployments and "
                                                       "`make up`)")
    alerts_digest_interval_s: float = Field(300.0, gt=0, description="Seconds between two runs of the alert "
                                                                     "digest job")
    ingest_requests_per_minute: int = Field(120, ge=1, description="Pushes one API key may make per minute")
    ingest_records_per_minute: int = Field(200_000, ge=1, description="Records (and bulk lines) one API key "
                                                                       "may push per minute")
    # map background (docs/web.md): a tile URL template; unset = the shipped offline outlines of the régions
    map_tiles_url: str | None = Field(
        None, description="Tile URL template of the map background, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
                          "or IGN Plan's WMTS template (unset: offline outlines of the régions)")
    map_tiles_attribution: str = Field("", description="Credit shown on the map for the tiles (HTML is escaped)")
    map_tiles_max_zoom: int = Field(18, ge=1, le=22, description="Deepest zoom the tile server offers")
    # contact: replies by e-mail to reponse+<token>@<mail_domain>
    inbound_mailbox_dir: str | None = Field(".run/inbound", description="Maildir polled for replies by e-mail "
                                                                         "(empty: not polled)")
    inbound_secret: str | None = Field(None, description="Shared secret of POST /api/v1/inbound-mail (unset: off)")
    inbound_poll_s: float = Field(5.0, gt=0, description="Seconds between two polls of the inbound Maildir")
    # accounts
    secret_key: str | None = Field(None, description="Signs CSRF tokens; set the same value on every gateway replica "
                                                     "(unset: a random one per process)")
    session_cookie_secure: bool | None = Field(None, description="Secure flag of the session cookie (unset: on, "
                                                                 "except for 127.0.0.1/localhost over http)")
    session_ttl_hours: float = Field(24 * 14, gt=0, description="Lifetime of a login session")
    public_base_url: str | None = Field(None, description="Base URL put in e-mailed links (unset: the request's)")
    mail_from: str = "Carrefour <ne-pas-repondre@carrefour.localhost>"
    mail_domain: str = Field("carrefour.localhost", description="Domain of the platform's e-mail addresses")
    mailbox_dir: str = Field(".run/mailbox", description="Maildir where mail goes when no SMTP host is set")
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    # security (docs/security-gateway.md)
    forwarded_allow_ips: str = Field("127.0.0.1,::1", description="Proxies whose X-Forwarded-For/-Proto are "
                                                                  "believed: addresses or CIDRs, comma-separated")
    password_hash_memory_kib: int = Field(19 * 1024, ge=1024, le=1024 * 1024,
                                          description="argon2id memory per hash, KiB (the pod's limit follows)")
    password_hash_time_cost: int = Field(2, ge=1, le=20, description="argon2id passes")
    password_hash_concurrency: int = Field(2, ge=1, le=64, description="Password hashes running at once per "
                                                                       "process; the next one gets 503")
    login_challenge_after: int = Field(5, ge=1, le=100, description="Failed logins of an account (15 min) after "
                                                                    "which its password alone no longer logs in: "
                                                                    "an e-mailed login link does")
    login_failures_per_ip: int = Field(30, ge=1, description="Failed logins per client address in 15 minutes")
    login_delay_base_s: float = Field(0.5, ge=0, le=10, description="A failed login is answered after this, "
                                                                    "doubled for each earlier failure (≤ 16×)")
    export_per_minute: int = Field(10, ge=1, description="Exports per client address per minute")
    posts_per_hour: int = Field(10, ge=1, description="Matchmaking posts one account may publish per hour")

    @model_validator(mode="after")
    def _safe_outside_development(self) -> GatewaySettings:
        """Outside development (CARREFOUR_ENV), placeholder or short secrets are refused."""
        safety.refuse(safety.gateway_problems(self.carrefour_env, secret_key=self.secret_key,
                                              inbound_secret=self.inbound_secret,
                                              search_backend=self.search_backend, meili_key=self.meili_key))
        return self


@lru_cache(maxsize=1)
def settings() -> GatewaySettings:
    return GatewaySettings()
