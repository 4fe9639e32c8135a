"""Security options of every Kafka client (SASL/SCRAM over TLS in the deployments).

:func:`client_options` gives aiokafka's keyword arguments (consumers, producers, the admin
client); :func:`broker_options` the same as faststream's ``KafkaBroker(security=...)``. Both refuse
outside development a client that would not authenticate and encrypt (libs/runtime/safety.py), so
every service checks its Kafka configuration when it creates its broker, at start-up.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from libs.runtime import safety
from libs.runtime.settings import RuntimeSettings, settings

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def _checked(cfg: RuntimeSettings | None) -> RuntimeSettings:
    cfg = cfg or settings()
    safety.refuse(safety.kafka_problems(cfg.carrefour_env, security_protocol=cfg.kafka_security_protocol,
                                        sasl_mechanism=cfg.kafka_sasl_mechanism,
                                        username=cfg.kafka_sasl_username, password=cfg.kafka_sasl_password))
    protocol = cfg.kafka_security_protocol
    if protocol.startswith("SASL_") and not (cfg.kafka_sasl_mechanism and cfg.kafka_sasl_username
                                             and cfg.kafka_sasl_password):
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME "
                         "and KAFKA_SASL_PASSWORD")
    return cfg


def ssl_context(cfg: RuntimeSettings) -> ssl.SSLContext:
    """Verifies the brokers' certificates and host names against KAFKA_CA_FILE (or the system's CAs)."""
    return ssl.create_default_context(cafile=cfg.kafka_ca_file)


def client_options(cfg: RuntimeSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer``, ``AIOKafkaProducer``, ``AIOKafkaAdminClient``."""
    cfg = _checked(cfg)
    protocol = cfg.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(cfg)
    if protocol.startswith("SASL_"):
        options |= {"sasl_mechanism": cfg.kafka_sasl_mechanism, "sasl_plain_username": cfg.kafka_sasl_username,
                    "sasl_plain_password": cfg.kafka_sasl_password}
    return options


def broker_options(cfg: RuntimeSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for faststream's ``KafkaBroker`` (its ``security`` object)."""
    cfg = _checked(cfg)
    protocol = cfg.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    context = ssl_context(cfg) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return {"security": BaseSecurity(ssl_context=context, use_ssl=True)}
    sasl = _SASL[cfg.kafka_sasl_mechanism or ""]
    return {"security": sasl(cfg.kafka_sasl_username or "", cfg.kafka_sasl_password or "", ssl_context=context,
                             use_ssl=protocol == "SASL_SSL")}
