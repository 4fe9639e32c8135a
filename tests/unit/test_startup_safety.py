"""Outside development, services refuse to start with placeholder or short secrets, the demo
partners file, private addresses or plaintext Kafka; in development they start as before."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.runtime import kafka, safety
from libs.runtime.messaging import make_broker
from libs.runtime.settings import RuntimeSettings
from services.crawler.config import DEFAULT_PARTNERS_FILE, REAL_PARTNERS_FILE, load_partners
from services.crawler.settings import CrawlerSettings
from services.gateway.settings import GatewaySettings

GOOD = "k" * 32
PROD = {"carrefour_env": "production"}
KAFKA_OK = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "carrefour-crawler", "kafka_sasl_password": "q7" * 16}


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(("length", "ok"), [(0, False), (1, False), (31, False), (32, True), (33, True),
                                            (4096, True)])
def test_secret_length_at_one_past_and_far_beyond_the_limit(length: int, ok: bool) -> None:
    problem = safety.secret_problem("SECRET_KEY", "k" * length, required=True)
    assert (problem is None) is ok, problem
    if 0 < length < 32:
        assert f"{length} characters, fewer than 32" in problem


@pytest.mark.parametrize("value", ["CHANGE_ME", "change-me-in-production-please", "CHANGE_ME" * 8,
                                   "change-me-in-production-please-change-me-in-production-please",
                                   "demo-key-not-secret-demo-key-not-secret", "x" + "ChangeMe" * 5])
def test_placeholders_are_refused_whatever_their_length(value: str) -> None:
    assert "placeholder" in safety.secret_problem("INBOUND_SECRET", value)


def test_an_optional_secret_may_be_unset_but_a_required_one_may_not() -> None:
    assert safety.secret_problem("INBOUND_SECRET", None) is None
    assert safety.secret_problem("SECRET_KEY", None, required=True) == "SECRET_KEY is not set"
    assert safety.secret_problem("SECRET_KEY", "", required=True) == "SECRET_KEY is not set"


# --------------------------------------------------------------------------- gateway settings


def test_gateway_refuses_placeholder_and_short_secrets_in_production() -> None:
    with pytest.raises(ValidationError) as info:
        GatewaySettings(**PROD, secret_key="change-me-in-production-please", inbound_secret="s" * 31)
    text = str(info.value)
    assert "SECRET_KEY is a placeholder" in text and "INBOUND_SECRET has 31 characters" in text
    with pytest.raises(ValidationError, match="SECRET_KEY is not set"):
        GatewaySettings(**PROD)
    with pytest.raises(ValidationError, match="MEILI_KEY is a placeholder"):
        GatewaySettings(**PROD, secret_key=GOOD, search_backend="meilisearch", meili_key="CHANGE_ME")
    cfg = GatewaySettings(**PROD, secret_key=GOOD, inbound_secret="i" * 32)
    assert cfg.carrefour_env == "production" and GatewaySettings(**PROD, secret_key="s" * 33).inbound_secret is None


def test_gateway_in_development_starts_with_anything() -> None:
    assert GatewaySettings().carrefour_env == "development"
    GatewaySettings(secret_key="CHANGE_ME", inbound_secret="short")


def test_the_environment_is_read_from_carrefour_env(monkeypatch) -> None:
    monkeypatch.setenv("CARREFOUR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "CHANGE_ME")
    with pytest.raises(ValidationError, match="SECRET_KEY is a placeholder"):
        GatewaySettings()
    monkeypatch.setenv("CARREFOUR_ENV", "staging")  # an unknown name is an error, not development
    with pytest.raises(ValidationError, match="carrefour_env"):
        GatewaySettings()


# --------------------------------------------------------------------------- crawler settings


def test_crawler_refuses_the_demo_partners_file_outside_development() -> None:
    with pytest.raises(ValidationError, match="CARREFOUR_PARTNERS_FILE is not set"):
        CrawlerSettings(**PROD)
    with pytest.raises(ValidationError, match="is the demo partners file"):
        CrawlerSettings(**PROD, carrefour_partners_file=str(DEFAULT_PARTNERS_FILE))
    cfg = CrawlerSettings(**PROD, carrefour_partners_file=str(REAL_PARTNERS_FILE))
    cfg.check_partners(load_partners(REAL_PARTNERS_FILE))  # the real partners fetch public sites only
    CrawlerSettings().check_partners(load_partners(None))  # development: the demo file on 127.0.0.1


def test_crawler_refuses_a_partner_allowed_private_addresses_outside_development(tmp_path) -> None:
    demo = DEFAULT_PARTNERS_FILE.read_text()
    copy = tmp_path / "partners.yaml"
    copy.write_text(demo)
    partners = load_partners(copy)
    private = sorted(p.slug for p in partners.partners if p.allow_private_addresses)
    assert private
    cfg = CrawlerSettings(**PROD, carrefour_partners_file=str(copy))  # not the demo path: accepted here
    with pytest.raises(safety.UnsafeConfiguration) as info:
        cfg.check_partners(partners)
    assert f"set on: {', '.join(private)}" in str(info.value)


# --------------------------------------------------------------------------- Kafka


def test_kafka_in_clear_is_refused_outside_development() -> None:
    for protocol in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT"):
        cfg = RuntimeSettings(**PROD, **{**KAFKA_OK, "kafka_security_protocol": protocol})
        with pytest.raises(safety.UnsafeConfiguration, match="only SASL_SSL"):
            kafka.client_options(cfg)
    assert kafka.client_options(RuntimeSettings()) == {} and kafka.broker_options(RuntimeSettings()) == {}


@pytest.mark.parametrize(("length", "ok"), [(31, False), (32, True), (33, True), (512, True)])
def test_kafka_password_length(length: int, ok: bool) -> None:
    cfg = RuntimeSettings(**PROD, **{**KAFKA_OK, "kafka_sasl_password": "q" * length})
    if ok:
        assert kafka.client_options(cfg)["sasl_plain_password"] == "q" * length
    else:
        with pytest.raises(safety.UnsafeConfiguration, match="KAFKA_SASL_PASSWORD has 31 characters"):
            kafka.client_options(cfg)


def test_kafka_options_authenticate_and_verify_the_brokers(tmp_path) -> None:
    cfg = RuntimeSettings(**PROD, **KAFKA_OK)
    options = kafka.client_options(cfg)
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "carrefour-crawler", "sasl_plain_password": "q7" * 16}
    context = options["ssl_context"]
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    with pytest.raises(FileNotFoundError):  # a CA file that is not there is an error, not "no TLS check"
        kafka.client_options(RuntimeSettings(**PROD, **KAFKA_OK, kafka_ca_file=str(tmp_path / "missing.crt")))
    with pytest.raises(ValueError, match="needs KAFKA_SASL_MECHANISM"):  # development, but incomplete
        kafka.client_options(RuntimeSettings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_brokers_are_created_with_the_security_settings(monkeypatch) -> None:
    from libs.runtime import settings as runtime_settings

    for name, value in {**PROD, **KAFKA_OK}.items():
        monkeypatch.setenv(name.upper(), value)
    runtime_settings.settings.cache_clear()
    try:
        kwargs = make_broker("crawler", "kafka:9093").config.broker_config.builder.keywords
        assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert kwargs["sasl_plain_username"] == "carrefour-crawler" and kwargs["ssl_context"].check_hostname
        monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
        runtime_settings.settings.cache_clear()
        with pytest.raises(safety.UnsafeConfiguration):
            make_broker("crawler", "kafka:9093")
    finally:
        runtime_settings.settings.cache_clear()
