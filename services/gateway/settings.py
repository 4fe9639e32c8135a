"""Gateway settings (environment variables): the runtime's plus the web site, accounts, mail and partner API."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from libs.runtime.settings import RuntimeSettings


class GatewaySettings(RuntimeSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    carrefour_partners_file: str | None = Field(None, description="Partner names and licences for attribution")
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
    preview_subscriber: bool = Field(False, description="This gateway consumes the crawler's preview answers "
                                                        "(on in the deployments and `make up`)")
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


@lru_cache(maxsize=1)
def settings() -> GatewaySettings:
    return GatewaySettings()
