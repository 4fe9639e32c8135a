"""Deployment files: Kubernetes manifests validate against the 1.37 schemas (offline), KEDA
objects target real Deployments and real consumer groups, compose and the image run every service."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from libs.contracts.topics import ALL_TOPICS
from tools.devstack import ROOT, SERVICES

K8S = ROOT / "deploy" / "k8s"
GROUPS = {"normalizer", "geocoder", "indexer-dedup", "indexer-search"}


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _base_docs() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [d for f in kustomization["resources"] for d in _docs(K8S / "base" / f)]


def test_kustomizations_reference_existing_files():
    for k in K8S.rglob("kustomization.yaml"):
        for res in yaml.safe_load(k.read_text())["resources"]:
            assert (k.parent / res).exists(), f"{k}: missing {res}"


CRDS = ("keda.sh/", "monitoring.coreos.com/", "kafka.strimzi.io/")


@pytest.mark.parametrize("doc", [d for d in _base_docs() if not d["apiVersion"].startswith(CRDS)],
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid(doc):
    # KEDA's, Strimzi's and the Prometheus Operator's CRDs have no schema offline: checked by the tests
    # below and in test_deploy_security.py
    kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_every_service_is_deployed_with_probes_limits_and_non_root():
    deployments = {d["metadata"]["name"]: d for d in _base_docs() if d["kind"] == "Deployment"}
    assert set(deployments) == {f"carrefour-{s}" for s in SERVICES}
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        [container] = pod["containers"]
        assert container["args"] == [name.removeprefix("carrefour-")]
        assert container["resources"]["limits"]["memory"], name
    gateway = deployments["carrefour-gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/health"


def test_keda_scales_real_consumer_groups():
    docs = _base_docs()
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert {d["spec"]["scaleTargetRef"]["name"] for d in scaled} == {
        "carrefour-normalizer", "carrefour-geocoder", "carrefour-indexer"}
    seen_groups = set()
    for d in scaled:
        assert d["spec"]["scaleTargetRef"]["name"] in deployments
        assert d["spec"]["maxReplicaCount"] <= 4, "more consumers than partitions would idle"
        for trigger in d["spec"]["triggers"]:
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["topic"] in ALL_TOPICS
            seen_groups.add(trigger["metadata"]["consumerGroup"])
    assert seen_groups == GROUPS


def test_consumer_groups_in_manifests_match_the_code():
    code = "\n".join(p.read_text() for p in (ROOT / "services").rglob("handlers.py"))
    for group in GROUPS - {"normalizer", "geocoder"}:
        assert f'"{group}"' in code, group


def test_compose_runs_every_service_on_real_servers():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    for s in SERVICES:
        assert services[s]["command"] == [s]
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["meilisearch"]["image"].startswith("getmeili/meilisearch")
    assert services["gateway"]["ports"] == ["8000:8000"]


def test_image_entrypoint_knows_every_service():
    entry = (ROOT / "deploy" / "entrypoint.sh").read_text()
    for s in SERVICES:
        assert re.search(rf"\b{s}\b", entry.split("case")[1].split(")")[0]), s
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and dockerfile.count("FROM ") == 2


def _env_names(env) -> set[str]:
    return {k for k in (env or {}) if not k.startswith("<<")}


def test_every_configured_variable_is_a_setting():
    """A typo in a ConfigMap, Secret or compose variable would be silently ignored (extra="ignore"):
    every name must be a field of one service's settings (or read by the entrypoint/database tools)."""
    from services.crawler.settings import CrawlerSettings
    from services.gateway.settings import GatewaySettings

    known = {name.upper() for cls in (GatewaySettings, CrawlerSettings) for name in cls.model_fields}
    configured: set[str] = set()
    for doc in _base_docs():
        if doc["kind"] in ("ConfigMap", "Secret"):
            configured |= set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        if doc["kind"] in ("Deployment", "Job"):
            configured |= {e["name"] for c in doc["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    for name in SERVICES + ("init",):
        configured |= _env_names(compose["services"][name].get("environment"))
    unknown = sorted(configured - known)
    assert not unknown, f"variables no setting reads: {unknown}"
    # several gateway replicas must share the CSRF signing key, and mail must leave through SMTP
    assert {"SECRET_KEY", "SMTP_HOST", "PUBLIC_BASE_URL"} <= configured


def test_pipeline_pods_are_probed_on_the_health_port():
    for d in _base_docs():
        if d["kind"] != "Deployment" or d["metadata"]["name"] == "carrefour-gateway":
            continue
        [container] = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["METRICS_PORT"] == "9100"
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "metrics"}
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    for name in ("crawler", "normalizer", "geocoder", "indexer"):
        assert "/ready" in " ".join(compose[name]["healthcheck"]["test"])
        assert compose[name]["environment"]["METRICS_PORT"] == "9100"


def test_alert_rules_watch_metrics_the_services_export():
    from prometheus_client import REGISTRY

    import libs.runtime.metrics  # noqa: F401 — registers the metrics

    exported = {m.name + suffix for m in REGISTRY.collect() for suffix in ("", "_total")}
    [rule] = [d for d in _base_docs() if d["kind"] == "PrometheusRule"]
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"CarrefourConsumerStalled", "CarrefourDeadLetterLost"} <= set(alerts)
    for name, expr in alerts.items():
        used = set(re.findall(r"carrefour_[a-z_]+", expr))
        assert used and used <= exported, (name, used - exported)


def test_dead_letters_are_bounded_in_time_and_bytes_on_every_deployment():
    from libs.contracts.topics import DEADLETTER, TOPIC_CONFIGS

    config = TOPIC_CONFIGS[DEADLETTER]
    assert int(config["retention.ms"]) <= 90 * 24 * 3600 * 1000
    assert int(config["retention.bytes"]) <= 1024**3 and int(config["max.message.bytes"]) <= 1024**2
    assert "apply_configs=True" in (ROOT / "deploy" / "entrypoint.sh").read_text(), \
        "compose and Kubernetes create topics with /entrypoint.sh topics, which applies the settings"
