"""Deployment security, checked offline on the manifests: Kafka ACLs derived from the code, TLS and
SCRAM everywhere, network policies, restricted pods, secrets only from Secret objects, labels,
metrics kept off the Ingress, production mode. Strimzi and KEDA objects have no schema offline:
their fields are checked here structurally."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from libs.contracts.topics import ALL_TOPICS, DEADLETTER, DEFAULT_PARTITIONS, TOPIC_CONFIGS
from libs.runtime import safety
from tests.unit.kafka_access import all_access
from tools.devstack import ROOT, SERVICES

K8S = ROOT / "deploy" / "k8s"
LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of",
          "app.kubernetes.io/managed-by")
DB_CLIENTS = {"crawler", "indexer", "gateway", "migrate"}
MEILI_CLIENTS = {"indexer", "gateway"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|DATABASE_URL")


def _kustomized(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return [d for f in kustomization["resources"] for d in yaml.safe_load_all((directory / f).read_text()) if d]


BASE = _kustomized(K8S / "base")
DATA_ACCESS = _kustomized(K8S / "data-access")
OVERLAY = yaml.safe_load((K8S / "overlays" / "production" / "kustomization.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())


def _kind(kind: str, docs: list[dict] = BASE) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _workloads() -> dict[str, dict]:
    """component → pod spec, for every Deployment and Job."""
    return {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
            for d in BASE if d["kind"] in ("Deployment", "Job")}


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


def _pod_labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "carrefour", "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "carrefour"}


# --------------------------------------------------------------------------- Kafka


def _acls(user: dict) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        r = acl["resource"]
        assert r.get("patternType", "literal") == "literal" and "*" not in r["name"], acl
        assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*", acl
        out.setdefault((r["type"], r["name"]), set()).update(acl["operations"])
    return out


def _expected_acls(service: str) -> dict[tuple[str, str], set[str]]:
    a = all_access()[service]
    out = {("topic", t): {"Describe"} | ({"Read"} if t in a.reads else set()) | ({"Write"} if t in a.writes else set())
           for t in a.reads | a.writes}
    return out | {("group", g): {"Read"} for g in a.groups}


def test_each_service_has_a_kafka_user_with_exactly_the_acls_its_code_needs():
    users = {u["metadata"]["name"]: u for u in _kind("KafkaUser")}
    assert set(users) == {f"carrefour-{s}" for s in SERVICES} | {"carrefour-keda"}
    for s in SERVICES:
        user = users[f"carrefour-{s}"]
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "carrefour-kafka"
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert user["spec"]["authorization"]["type"] == "simple"
        assert _acls(user) == _expected_acls(s), s
    # KEDA only reads the lag: Describe on the scaled topics and groups, nothing else
    keda = _acls(users["carrefour-keda"])
    assert keda and all(ops == {"Describe"} for ops in keda.values())
    scaled = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for d in _kind("ScaledObject")
              for t in d["spec"]["triggers"]}
    assert {("group", g) for g, _ in scaled} | {("topic", t) for _, t in scaled} == set(keda)


def test_a_topic_is_written_by_one_service_only_except_the_dead_letters():
    writers: dict[str, set[str]] = {}
    for s, a in all_access().items():
        for t in a.writes:
            writers.setdefault(t, set()).add(s)
        assert a.reads <= set(ALL_TOPICS) and a.writes <= set(ALL_TOPICS), s
    shared = {t for t, w in writers.items() if len(w) > 1}
    assert shared == {DEADLETTER}, {t: writers[t] for t in shared}
    assert all_access()["normalizer"].writes == {"projects.normalized.v1", DEADLETTER}  # the derivation reads code


def test_compose_sets_the_same_acls():
    found: dict[str, dict[tuple[str, str], set[str]]] = {}
    for line in (ROOT / "deploy" / "kafka" / "acls.sh").read_text().splitlines():
        if not line.startswith("acl "):
            continue
        words = line.split()
        kind = "topic" if "--topic" in words else "group"
        name = words[words.index(f"--{kind}") + 1]
        ops = {words[i + 1] for i, w in enumerate(words) if w == "--operation"}
        found.setdefault(words[1], {}).setdefault((kind, name), set()).update(ops)
    assert found == {f"carrefour-{s}": _expected_acls(s) for s in SERVICES}


def test_kafka_listens_only_on_tls_with_scram_and_authorizes():
    [kafka] = _kind("Kafka")
    spec = kafka["spec"]["kafka"]
    assert spec["authorization"]["type"] == "simple"
    assert spec["config"]["allow.everyone.if.no.acl.found"] is False
    assert spec["config"]["auto.create.topics.enable"] is False
    for listener in spec["listeners"]:
        assert listener["tls"] is True and listener["authentication"]["type"] == "scram-sha-512", listener
        peers = listener["networkPolicyPeers"]
        clients = {c for c in SERVICES if any(_selects(p["podSelector"], _pod_labels(c)) for p in peers
                                              if "namespaceSelector" not in p)}
        assert clients == set(SERVICES)
        assert not any(_selects(p["podSelector"], _pod_labels("migrate")) for p in peers)
    config = {d["metadata"]["name"]: d for d in _kind("ConfigMap")}["carrefour-config"]["data"]
    assert config["KAFKA_BOOTSTRAP"].endswith(":9093") and config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    for d in _kind("ScaledObject"):
        for t in d["spec"]["triggers"]:
            assert t["metadata"]["bootstrapServers"].endswith(":9093") and t["authenticationRef"]
            assert t["metadata"]["sasl"] == "scram_sha512" and t["metadata"]["tls"] == "enable"


def test_topics_are_kafka_topics_with_the_settings_of_the_code():
    topics = {d["spec"]["topicName"]: d["spec"] for d in _kind("KafkaTopic")}
    assert set(topics) == set(ALL_TOPICS)
    for name, spec in topics.items():
        assert spec["partitions"] == DEFAULT_PARTITIONS and spec["replicas"] >= 3
        assert spec.get("config", {}) == TOPIC_CONFIGS.get(name, {}), name


def test_compose_kafka_is_sasl_ssl_only_with_a_user_per_service():
    services = COMPOSE["services"]
    env = services["kafka"]["environment"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://kafka:9093"
    assert "PLAINTEXT://:" not in env["KAFKA_LISTENERS"] and "CONTROLLER://localhost:" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false" and "StandardAuthorizer" in env["KAFKA_AUTHORIZER_CLASS_NAME"]
    for s in SERVICES:
        e = services[s]["environment"]
        assert e["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and e["KAFKA_SASL_USERNAME"] == f"carrefour-{s}"
        assert re.fullmatch(r"\$\{KAFKA_[A-Z]+_PASSWORD:\?[^}]+\}", e["KAFKA_SASL_PASSWORD"]), s
        assert e["CARREFOUR_ENV"] == "production"
    setup = (ROOT / "deploy" / "kafka" / "setup.sh").read_text()
    assert {f"scram carrefour-{s} " for s in SERVICES} <= set(re.findall(r"scram carrefour-[a-z]+ ", setup))


# --------------------------------------------------------------------------- pods


def test_every_pod_is_non_root_read_only_without_privileges():
    workloads = _workloads()
    assert set(workloads) == set(SERVICES) | {"migrate"}
    for name, pod in workloads.items():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]} and not sc.get("privileged"), name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], name
    strimzi = [d for d in BASE if d["apiVersion"].startswith("kafka.strimzi.io/") and "template" in d["spec"]]
    strimzi += [{"spec": d["spec"]["kafka"]} for d in _kind("Kafka")] + [{"spec": d["spec"]["entityOperator"]}
                                                                         for d in _kind("Kafka")]
    for d in strimzi:
        template = d["spec"]["template"]
        assert template["pod"]["securityContext"]["runAsNonRoot"] is True
        for key, c in template.items():
            if key.endswith("Container"):
                assert c["securityContext"]["readOnlyRootFilesystem"] is True
                assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    [namespace] = _kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_compose_services_run_non_root_read_only_without_capabilities():
    for s in [*SERVICES, "init"]:
        svc = COMPOSE["services"][s]
        assert svc["user"].split(":")[0] not in ("0", "root") and svc["read_only"] is True, s
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"], s
        assert "/tmp" in svc["tmpfs"], s


# --------------------------------------------------------------------------- secrets and configuration


def test_secrets_come_only_from_secret_objects_and_nothing_secret_is_committed():
    assert not _kind("Secret"), "secrets are generated by the overlay from files that are not committed"
    kafka_users = {u["metadata"]["name"] for u in _kind("KafkaUser")}
    for name, pod in _workloads().items():
        [c] = pod["containers"]
        for e in c["env"]:
            if SECRET_NAME.search(e["name"]):
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], (name, e["name"])
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "carrefour-secrets" or (ref["name"] in kafka_users and ref["key"] == "password")
        assert all("secretRef" not in f for f in c.get("envFrom", [])), "each pod gets only the keys it needs"
        config = {k for f in c.get("envFrom", []) for k in [f["configMapRef"]["name"]]}
        assert config <= {"carrefour-config"}
    generated = {g["name"]: g for g in OVERLAY["secretGenerator"]}
    assert set(generated) == {"carrefour-secrets", "carrefour-keda-kafka"}
    tracked = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    ignored = (K8S / "overlays" / "production" / ".gitignore").read_text().split()
    for g in generated.values():
        for f in g["envs"]:
            assert f in ignored and f"deploy/k8s/overlays/production/{f}" not in tracked
    # every key a pod reads from carrefour-secrets is documented next to the generator
    comments = (K8S / "overlays" / "production" / "kustomization.yaml").read_text()
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for pod in _workloads().values() for e in pod["containers"][0]["env"]
            if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "carrefour-secrets"}
    assert keys == {"DATABASE_URL", "MEILI_KEY", "SECRET_KEY", "INBOUND_SECRET", "SMTP_USER", "SMTP_PASSWORD"}
    assert all(f"{k}=" in comments for k in keys)
    for path in [*(ROOT / "deploy").rglob("*.yaml"), ROOT / "deploy" / "compose.yaml"]:
        text = path.read_text()
        assert not re.search(r"change[-_]?me", text, re.I), f"placeholder secret in {path}"
    for name, value in _compose_env_values():
        if SECRET_NAME.search(name) and name != "KAFKA_CA_FILE":
            assert re.search(r"\$\{[A-Z_]+:\?", value), f"compose {name} must be required from deploy/.env"


def _compose_env_values():
    for svc in COMPOSE["services"].values():
        env = svc.get("environment") or {}
        if isinstance(env, dict):
            yield from ((k, str(v)) for k, v in env.items())


def test_deployments_are_configured_for_production_and_pass_the_start_up_checks():
    config = {d["metadata"]["name"]: d for d in _kind("ConfigMap")}["carrefour-config"]["data"]
    assert config["CARREFOUR_ENV"] == "production"
    assert safety.kafka_problems(config["CARREFOUR_ENV"], security_protocol=config["KAFKA_SECURITY_PROTOCOL"],
                                 sasl_mechanism=config["KAFKA_SASL_MECHANISM"], username="carrefour-crawler",
                                 password="p" * 32) == []
    crawler_env = {e["name"]: e.get("value") for e in _workloads()["crawler"]["containers"][0]["env"]}
    assert crawler_env["CARREFOUR_PARTNERS_FILE"].startswith("/etc/carrefour/")
    assert COMPOSE["services"]["crawler"]["environment"]["CARREFOUR_PARTNERS_FILE"].startswith("/etc/carrefour/")
    assert "partners.yaml" in {f for g in OVERLAY["configMapGenerator"] for f in g["files"]}


# --------------------------------------------------------------------------- labels


def test_every_object_and_pod_carries_the_app_kubernetes_io_labels():
    for d in BASE + DATA_ACCESS:
        labels = d["metadata"].get("labels") or {}
        missing = [k for k in LABELS if k not in labels]
        assert not missing, (d["kind"], d["metadata"]["name"], missing)
        template = (d.get("spec") or {}).get("template", {})
        if d["kind"] in ("Deployment", "Job"):
            assert all(k in template["metadata"]["labels"] for k in LABELS), d["metadata"]["name"]
            if d["kind"] == "Deployment":
                assert _selects(d["spec"]["selector"], template["metadata"]["labels"])
    for g in OVERLAY["secretGenerator"] + OVERLAY["configMapGenerator"]:
        assert all(k in g["options"]["labels"] for k in LABELS), g["name"]


# --------------------------------------------------------------------------- network


def _policies(docs: list[dict] = BASE) -> list[dict]:
    return _kind("NetworkPolicy", docs)


def _egress_components(name: str) -> set[str]:
    [p] = [p for p in _policies() if p["metadata"]["name"] == name]
    return {c for c in _workloads() if _selects(p["spec"]["podSelector"], _pod_labels(c))}


def test_everything_is_denied_by_default_and_dns_allowed():
    deny = [p for p in _policies() if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no default-deny NetworkPolicy"
    [dns] = [p for p in _policies() if p["metadata"]["name"] == "carrefour-dns"]
    assert dns["spec"]["podSelector"] == {} and {p["port"] for p in dns["spec"]["egress"][0]["ports"]} == {53}


def test_only_the_gateway_is_reachable_from_outside_and_only_on_its_http_port():
    for p in _policies():
        for rule in p["spec"].get("ingress", []):
            namespaces = {peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                          for peer in rule["from"]}
            ports = {port["port"] for port in rule["ports"]}
            targets = {c for c in _workloads() if _selects(p["spec"]["podSelector"], _pod_labels(c))}
            if namespaces == {"monitoring"}:
                assert ports == {9100}, p["metadata"]["name"]
            else:
                assert namespaces == {"ingress-nginx"} and targets == {"gateway"} and ports == {8000}, p["metadata"]["name"]
    [ingress] = _kind("Ingress")
    services = {s["metadata"]["name"]: s for s in _kind("Service")}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            ports = services[backend["name"]]["spec"]["ports"]
            assert [p["targetPort"] for p in ports] == ["http"] and backend["port"] == {"name": "http"}


def test_databases_and_search_are_reached_only_by_the_services_that_use_them():
    workloads = _workloads()
    reads = {c: {e["name"] for e in pod["containers"][0]["env"]} for c, pod in workloads.items()}
    assert {c for c, names in reads.items() if "DATABASE_URL" in names} == DB_CLIENTS
    assert {c for c, names in reads.items() if "MEILI_KEY" in names} == MEILI_CLIENTS
    assert _egress_components("carrefour-postgres-clients") == DB_CLIENTS
    assert _egress_components("carrefour-meilisearch-clients") == MEILI_CLIENTS
    assert _egress_components("carrefour-kafka-clients") == set(SERVICES)
    code = {s: " ".join(p.read_text() for p in (ROOT / "services" / s).rglob("*.py")) for s in SERVICES}
    assert {s for s in SERVICES if "meili_url" in code[s]} == MEILI_CLIENTS
    # the other side, in the namespaces of PostgreSQL and Meilisearch
    sides = {p["metadata"]["namespace"]: p for p in _policies(DATA_ACCESS)}
    for namespace, clients in (("db", DB_CLIENTS), ("search", MEILI_CLIENTS)):
        [peer] = sides[namespace]["spec"]["ingress"][0]["from"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "carrefour"}
        assert {c for c in workloads if _selects(peer["podSelector"], _pod_labels(c))} == clients


BLOCKED_FOR_THE_CRAWLER = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                           "127.0.0.0/8", "fc00::/7", "fe80::/10", "::ffff:0:0/96"]


def test_the_crawler_alone_reaches_the_internet_and_never_the_private_ranges():
    open_egress = []
    for p in _policies():
        for rule in p["spec"].get("egress", []):
            blocks = [peer["ipBlock"] for peer in rule.get("to", []) if "ipBlock" in peer]
            if blocks or not rule.get("to"):
                open_egress.append((p, rule, blocks))
    for p, rule, blocks in open_egress:
        if not blocks:  # the entity operator to the Kubernetes API, by port only
            assert p["spec"]["podSelector"] == {"matchLabels": {"strimzi.io/name": "carrefour-kafka-entity-operator"}}
            assert {port["port"] for port in rule["ports"]} <= {443, 6443}
            continue
        assert {c for c in _workloads() if _selects(p["spec"]["podSelector"], _pod_labels(c))} == {"crawler"}
        excluded = [ipaddress.ip_network(n) for b in blocks for n in b.get("except", [])]
        for cidr in BLOCKED_FOR_THE_CRAWLER:
            net = ipaddress.ip_network(cidr)
            assert any(net.version == e.version and net.subnet_of(e) for e in excluded), cidr


# --------------------------------------------------------------------------- metrics


def test_metrics_are_on_their_own_port_that_no_service_or_ingress_exposes():
    for name, pod in _workloads().items():
        if name == "migrate":
            continue
        [c] = pod["containers"]
        assert {"containerPort": 9100, "name": "metrics"} in c["ports"], name
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["METRICS_PORT"] == "9100", name
    for d in _kind("Deployment"):
        assert d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    for s in _kind("Service"):
        assert all(p["targetPort"] != "metrics" and p["port"] != 9100 for p in s["spec"]["ports"])


# --------------------------------------------------------------------------- the built overlay


def test_the_production_overlay_builds_with_every_reference_resolved(tmp_path):
    """``kubectl kustomize`` of the overlay, with generated secret files: every object valid and
    labelled, every Secret and ConfigMap a pod reads generated by the overlay or written by Strimzi."""
    import secrets as random_secrets
    import shutil

    import kubernetes_validate

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the raw manifests are checked by the tests above)")
    shutil.copytree(K8S, tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "overlays" / "production"
    token = random_secrets.token_urlsafe(36)
    (overlay / "secrets.env").write_text("".join(f"{k}={token}\n" for k in (
        "DATABASE_URL", "MEILI_KEY", "SECRET_KEY", "INBOUND_SECRET", "SMTP_USER", "SMTP_PASSWORD")))
    (overlay / "keda.env").write_text(f"username=carrefour-keda\npassword={token}\n")
    shutil.copy(ROOT / "services" / "crawler" / "partners.yaml", overlay / "partners.yaml")
    built = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    strimzi_secrets = {u["metadata"]["name"] for u in docs if u["kind"] == "KafkaUser"} | {
        "carrefour-kafka-cluster-ca-cert"}
    for d in docs:
        assert all(k in (d["metadata"].get("labels") or {}) for k in LABELS), (d["kind"], d["metadata"]["name"])
        if not d["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/", "kafka.strimzi.io/")):
            kubernetes_validate.validate(d, "1.37.0", strict=True)
        if d["kind"] not in ("Deployment", "Job"):
            continue
        pod = d["spec"]["template"]["spec"]
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] for e in c["env"]
                if "secretKeyRef" in e.get("valueFrom", {})]
        refs += [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
        for ref in refs:
            assert ("Secret", ref) in names or ref in strimzi_secrets, (d["metadata"]["name"], ref)
        for v in pod["volumes"]:
            if "configMap" in v:
                assert ("ConfigMap", v["configMap"]["name"]) in names
    assert ("Secret", "carrefour-keda-kafka") in names  # read by name by the KafkaUser and KEDA
