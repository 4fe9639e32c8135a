"""Configuration a deployment must not start with (pure: values in, problems out).

``CARREFOUR_ENV`` says where the process runs: ``development`` (the default: ``make up``, the
tests, a laptop) or ``production`` (set by ``deploy/compose.yaml`` and ``deploy/k8s``). In
development nothing is refused; anywhere else a service refuses to start when:

- a secret (``SECRET_KEY``, ``INBOUND_SECRET``, the Kafka password, ``MEILI_KEY``) is a known
  placeholder or shorter than :data:`MIN_SECRET_CHARS` characters (``SECRET_KEY`` must be set:
  the replicas share it);
- the crawler would read the demo partners file (no ``CARREFOUR_PARTNERS_FILE``), in which every
  partner may fetch private addresses, or any partner says ``allow_private_addresses: true``;
- the Kafka client would talk in clear or without authentication (``KAFKA_SECURITY_PROTOCOL``
  other than ``SASL_SSL``).

Each ``*_problems`` function returns readable sentences; :func:`refuse` raises them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DEVELOPMENT = "development"
PRODUCTION = "production"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION)

MIN_SECRET_CHARS = 32
"""Shortest secret accepted outside development (32 random characters ≈ 190 bits)."""

PLACEHOLDER_MARKS = ("change_me", "change-me", "changeme", "not-secret", "not_secret", "placeholder",
                     "example", "secret", "password", "xxxxxxxx")
"""A secret containing one of these (any case) was copied from an example, not generated."""


class UnsafeConfiguration(ValueError):
    """The configuration is not safe outside development; the message lists every problem."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("refusing to start outside development (CARREFOUR_ENV): " + "; ".join(self.problems))


def is_development(env: str) -> bool:
    return env == DEVELOPMENT


def secret_problem(name: str, value: str | None, *, required: bool = False) -> str | None:
    """Why ``value`` is not an acceptable secret (None when it is, or when it is unset and optional)."""
    if not value:
        return f"{name} is not set" if required else None
    lowered = value.lower()
    mark = next((m for m in PLACEHOLDER_MARKS if m in lowered), None)
    if mark is not None:
        return f"{name} is a placeholder (contains {mark!r}): generate one, e.g. `openssl rand -base64 48`"
    if len(value) < MIN_SECRET_CHARS:
        return f"{name} has {len(value)} characters, fewer than {MIN_SECRET_CHARS}"
    return None


def gateway_problems(env: str, *, secret_key: str | None, inbound_secret: str | None,
                     search_backend: str, meili_key: str | None) -> list[str]:
    if is_development(env):
        return []
    found = [secret_problem("SECRET_KEY", secret_key, required=True),
             secret_problem("INBOUND_SECRET", inbound_secret)]
    if search_backend == "meilisearch":
        found.append(secret_problem("MEILI_KEY", meili_key, required=True))
    return [p for p in found if p]


def crawler_problems(env: str, *, partners_file: str | None, demo_file: Path,
                     private_partners: Iterable[str] = ()) -> list[str]:
    """``private_partners``: slugs of the partners whose entry allows private addresses."""
    if is_development(env):
        return []
    found = []
    if not partners_file:
        found.append("CARREFOUR_PARTNERS_FILE is not set: the crawler would read the demo partners file, "
                     "whose partners may fetch private addresses")
    elif Path(partners_file).resolve() == demo_file.resolve():
        found.append(f"CARREFOUR_PARTNERS_FILE is the demo partners file ({demo_file.name})")
    slugs = sorted(private_partners)
    if slugs:
        found.append(f"allow_private_addresses is only for development; set on: {', '.join(slugs)}")
    return found


def kafka_problems(env: str, *, security_protocol: str, sasl_mechanism: str | None,
                   username: str | None, password: str | None) -> list[str]:
    if is_development(env):
        return []
    if security_protocol != "SASL_SSL":
        return [f"KAFKA_SECURITY_PROTOCOL is {security_protocol}: only SASL_SSL (authenticated, encrypted) "
                "is accepted outside development"]
    found: list[str | None] = []
    if not sasl_mechanism or not sasl_mechanism.startswith("SCRAM-"):
        found.append(f"KAFKA_SASL_MECHANISM is {sasl_mechanism}: use SCRAM-SHA-512 (or SCRAM-SHA-256)")
    if not username:
        found.append("KAFKA_SASL_USERNAME is not set")
    found.append(secret_problem("KAFKA_SASL_PASSWORD", password, required=True))
    return [p for p in found if p]


def refuse(problems: Iterable[str]) -> None:
    problems = list(problems)
    if problems:
        raise UnsafeConfiguration(problems)
