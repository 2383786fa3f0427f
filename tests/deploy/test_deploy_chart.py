"""The Helm chart, linted and rendered by the real Helm engine (helm-python-sdk).

No cluster is involved: `lint` and `render` run Helm's Go SDK offline. The
tests walk the rendered manifests and check the invariants the chart promises
(docs/OPERATIONS.md, SPEC section 9).
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from deploy_support import (
    CHART,
    CI_VALUES,
    PRODUCTION_VALUES,
    REALM,
    ROOT,
    SECRET_ENV,
    SIGNED_NOTE_PRIVATE_KEY,
    URL_WITH_PASSWORD,
    is_spec_env,
    load_yaml,
    metrics_in_code,
)

helm = pytest.importorskip("helm_python", reason="pip install -r tests/deploy/requirements.txt")

NAMESPACE = "shop"
RELEASE = "ordersys"
COMPONENTS = {
    # component: (container port, binary, LISTEN variable)
    "order-service": (8080, "/usr/local/bin/order-service", "ORDERS_LISTEN"),
    "txlog-service": (8081, "/usr/local/bin/txlog-service", "TXLOG_LISTEN"),
}
# "default", plus one scenario per example values file: ci/values-<name>.yaml.
CI_SCENARIOS = {p.stem.removeprefix("values-"): p for p in CI_VALUES}
SCENARIOS = ["default", *CI_SCENARIOS]
METRICS_PORT = 9090

# The one value without a default: the transaction log does not start without
# its checkpoint signing key, so the chart refuses to render without the Secret.
SIGNING_KEY_SECRET = "ordersys-txlog-signing-key"
REQUIRED = {"txlogService": {"signingKey": {"existingSecret": SIGNING_KEY_SECRET}}}
SIGNING_KEY_REQUIRED = r"txlogService\.signingKey\.existingSecret is required"


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def with_required(values: dict | None) -> dict:
    """`values` plus the values the chart cannot default (values win)."""
    return merged(REQUIRED, values or {})


def scenario_values(scenario: str) -> dict:
    """"default": the chart's defaults plus only what has no default."""
    return with_required(None if scenario == "default" else load_yaml(CI_SCENARIOS[scenario]))


def render(values: dict | None, name: str = RELEASE, bare: bool = False) -> list[dict]:
    """Renders with `values` (plus REQUIRED unless `bare`)."""
    if not bare:
        values = with_required(values)
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name=name, namespace=NAMESPACE, is_install=True)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["__template__"] = path
                docs.append(doc)
    return docs


@pytest.fixture(scope="module", params=SCENARIOS)
def scenario(request):
    values = scenario_values(request.param)
    merged = None
    with helm.Chart.load(str(CHART)) as chart:
        merged = chart.merge_values(values)
    return {"name": request.param, "values": merged, "docs": render(values)}


def of_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, component):
    found = [d for d in of_kind(docs, kind) if labels_of(d).get("app.kubernetes.io/component") == component]
    assert len(found) == 1, f"expected one {kind} for {component}, found {len(found)}"
    return found[0]


def labels_of(doc):
    return doc["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    """matchLabels semantics (the chart only uses matchLabels)."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def pod_specs(docs):
    """(owner, pod template) for every workload: Deployments, Jobs and the test Pod."""
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]
        elif d["kind"] == "Pod":
            yield d, d


def hooks(doc) -> set[str]:
    return set(filter(None, doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")))


def hook_weight(doc) -> int:
    return int(doc["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


def without_tests(docs):
    """The objects of an install or upgrade: not those of `helm test`."""
    return [d for d in docs if "test" not in hooks(d)]


# --- lint -------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_chart_lints_strictly(name):
    report = helm.lint(str(CHART), scenario_values(name), strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # strict: warnings count as failures; only informational messages pass.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_chart_metadata_and_required_files():
    with helm.Chart.load(str(CHART)) as chart:
        meta = chart.metadata
        assert meta["apiVersion"] == "v2"
        assert meta["name"] == "ordersys"
        assert chart.schema is not None, "values.schema.json is missing"
        names = {t["name"] for t in chart.templates}
    assert "templates/NOTES.txt" in names
    for required in ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "networkpolicy.yaml",
                     "serviceaccount.yaml", "ingress.yaml", "servicemonitor.yaml"):
        assert f"templates/{required}" in names


def test_production_values_pass_the_schema(production_values):
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(chart.merge_values(production_values))


# --- what is rendered -------------------------------------------------------


def test_expected_objects(scenario):
    docs, values = scenario["docs"], scenario["values"]
    for component in COMPONENTS:
        for kind in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget",
                     "HorizontalPodAutoscaler", "NetworkPolicy"):
            one(docs, kind, component)
    assert len(of_kind(docs, "ServiceAccount")) == 1
    # The chart references existing Secrets; it never carries secret material.
    assert of_kind(docs, "Secret") == []
    assert len(of_kind(docs, "Ingress")) == int(values["orderService"]["ingress"]["enabled"])
    assert len(of_kind(docs, "ServiceMonitor")) == 2 * int(values["serviceMonitor"]["enabled"])
    assert len(of_kind(docs, "PrometheusRule")) == int(values["prometheusRule"]["enabled"])
    assert len(of_kind(docs, "Job")) == int(values["txlogService"]["setupJob"]["enabled"])
    assert len(of_kind(docs, "Pod")) == int(values["tests"]["enabled"])
    if scenario["name"] == "default":
        assert of_kind(docs, "Ingress") == [] and of_kind(docs, "Job") == []


def test_names_are_valid_dns_labels(scenario):
    for d in scenario["docs"]:
        name = d["metadata"]["name"]
        assert len(name) <= 63 and name == name.lower(), name


# --- pods ------------------------------------------------------------------


def test_every_pod_is_hardened(scenario):
    for owner, template in pod_specs(scenario["docs"]):
        spec = template["spec"]
        where = owner["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, where
        psc = spec["securityContext"]
        # runAsUser may be left to the platform (OpenShift), never 0.
        assert psc["runAsNonRoot"] is True and psc.get("runAsUser") != 0, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc.get("runAsUser") != 0, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where


def test_every_container_has_requests_and_limits(scenario):
    for owner, template in pod_specs(scenario["docs"]):
        for c in template["spec"]["containers"]:
            res = c["resources"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res[section]), (owner["metadata"]["name"], section)


def test_images_are_pinned(scenario):
    for owner, template in pod_specs(scenario["docs"]):
        for c in template["spec"]["containers"]:
            image = c["image"]
            assert "@sha256:" in image or ":" in image.rsplit("/", 1)[-1], image
            assert not image.endswith(":latest"), image


def test_deployments(scenario):
    docs, values = scenario["docs"], scenario["values"]
    sa = of_kind(docs, "ServiceAccount")[0]
    assert sa["automountServiceAccountToken"] is False
    for component, (port, binary, _listen) in COMPONENTS.items():
        dep = one(docs, "Deployment", component)
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        assert selects(spec["selector"], spec["template"]["metadata"]["labels"])
        assert pod["serviceAccountName"] == sa["metadata"]["name"]
        # Graceful shutdown: the drain delay, then up to 30 s.
        assert pod["terminationGracePeriodSeconds"] > values["shutdownDelaySeconds"] + 30
        # Rolling updates never drop below the desired capacity.
        assert spec["strategy"]["type"] == "RollingUpdate"
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
        assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys
        for t in pod["topologySpreadConstraints"]:
            assert selects(t["labelSelector"], spec["template"]["metadata"]["labels"])

        (container,) = pod["containers"]
        assert container["command"] == [binary]
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"},
                                      {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
        key = "orderService" if component == "order-service" else "txlogService"
        scheme = "HTTPS" if values[key]["tls"]["existingSecret"] else "HTTP"
        probes = {k: container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
        assert probes["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": scheme}
        assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": scheme}
        assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": scheme}
        # The startup probe leaves room for migrations on a cold start.
        startup = probes["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60

        if values[key]["autoscaling"]["enabled"]:
            assert "replicas" not in spec, "the HPA owns the replica count"
        else:
            assert spec["replicas"] == values[key]["replicaCount"]


def test_config_change_rolls_the_pods():
    base = render(None)
    changed = render({"logging": {"level": "debug", "format": "json"}})
    for component in COMPONENTS:
        a = one(base, "Deployment", component)["spec"]["template"]["metadata"]["annotations"]
        b = one(changed, "Deployment", component)["spec"]["template"]["metadata"]["annotations"]
        assert a["checksum/config"] != b["checksum/config"]


# --- configuration and secrets ---------------------------------------------


def container_env(docs, component) -> dict[str, dict]:
    """Every variable a service container sees from the chart: its own ConfigMap
    (envFrom) + env. Sources from `extraEnvFrom` (existing Secrets and
    ConfigMaps the chart does not render) are listed under "__extra__"."""
    dep = one(docs, "Deployment", component)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env: dict[str, dict] = {"__extra__": []}
    configmaps = {d["metadata"]["name"]: d for d in of_kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        if "configMapRef" in source and source["configMapRef"]["name"] in configmaps:
            data = configmaps[source["configMapRef"]["name"]]["data"]
            for k, v in data.items():
                env[k] = {"configMap": v}
        else:
            env["__extra__"].append(source)
    for e in container.get("env", []):
        env[e["name"]] = e
    return env


def test_only_spec_variables_are_set(scenario):
    for _owner, template in pod_specs(scenario["docs"]):
        for c in template["spec"]["containers"]:
            for e in c.get("env", []):
                assert is_spec_env(e["name"]), e["name"]
    for cm in of_kind(scenario["docs"], "ConfigMap"):
        for k in cm["data"]:
            assert is_spec_env(k), k


def test_secrets_only_by_reference(scenario):
    docs = scenario["docs"]
    # ConfigMaps: no credential variables, no credential-looking values.
    for cm in of_kind(docs, "ConfigMap"):
        for k, v in cm["data"].items():
            assert k not in SECRET_ENV, f"{k} must come from a Secret"
            assert not URL_WITH_PASSWORD.search(str(v)), k
            assert "password" not in str(v).lower() and "secret" not in k.lower(), k
    # Plain env: credential variables only via secretKeyRef, literals are clean.
    for owner, template in pod_specs(docs):
        for c in template["spec"]["containers"]:
            for e in c.get("env", []):
                if e["name"] in SECRET_ENV:
                    assert "value" not in e, e["name"]
                    assert set(e["valueFrom"]) == {"secretKeyRef"}, e["name"]
                elif "value" in e:
                    assert not URL_WITH_PASSWORD.search(str(e["value"])), e["name"]


def test_service_configuration(scenario):
    docs, values = scenario["docs"], scenario["values"]
    order = container_env(docs, "order-service")
    txlog = container_env(docs, "txlog-service")
    txlog_svc = one(docs, "Service", "txlog-service")["metadata"]["name"]

    assert order["ORDERS_LISTEN"]["configMap"] == "0.0.0.0:8080"
    assert txlog["TXLOG_LISTEN"]["configMap"] == "0.0.0.0:8081"
    scheme = "https" if values["txlogService"]["tls"]["existingSecret"] else "http"
    assert order["ORDERS_TXLOG_URL"]["configMap"] == f"{scheme}://{txlog_svc}.{NAMESPACE}.svc:8081"
    assert order["ORDERS_AUTH_AUDIENCE"]["configMap"] == "order-service"
    assert txlog["TXLOG_AUTH_AUDIENCE"]["configMap"] == "txlog-service"
    assert order["ORDERS_AUTH_ISSUER"]["configMap"] == values["auth"]["issuer"]
    assert txlog["TXLOG_AUTH_ISSUER"]["configMap"] == values["auth"]["issuer"]

    db = values["orderService"]["database"]
    assert order["ORDERS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": db["existingSecret"], "key": db["urlKey"]}
    cc = values["orderService"]["txlog"]
    assert order["ORDERS_TXLOG_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": cc["existingSecret"], "key": cc["clientSecretKey"]}
    assert order["ORDERS_TXLOG_CLIENT_ID"]["valueFrom"]["secretKeyRef"] == {"name": cc["existingSecret"], "key": cc["clientIdKey"]}
    assert "ORDERS_TXLOG_TOKEN_URL" in order
    db = values["txlogService"]["database"]
    assert txlog["TXLOG_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": db["existingSecret"], "key": db["urlKey"]}
    # Each service sees only its own variables.
    assert not any(k.startswith("TXLOG_") for k in order)
    assert not any(k.startswith("ORDERS_") for k in txlog)

    if values["otel"]["endpoint"]:
        for env in (order, txlog):
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["configMap"] == values["otel"]["endpoint"]
            assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["configMap"] in ("http/protobuf", "grpc")


# --- the transaction log's signing key (SPEC section 10) ---------------------


def signing_key_mount(docs) -> tuple[str, dict, dict]:
    """(TXLOG_SIGNING_KEY_FILE, its volumeMount, its volume) of the txlog pods."""
    env = container_env(docs, "txlog-service")
    path = env["TXLOG_SIGNING_KEY_FILE"]["configMap"]
    pod = one(docs, "Deployment", "txlog-service")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return path, mount, volume


def test_signing_key_is_a_file_in_a_read_only_secret_volume(scenario):
    docs, values = scenario["docs"], scenario["values"]
    sk = values["txlogService"]["signingKey"]
    path, mount, volume = signing_key_mount(docs)
    assert mount["readOnly"] is True
    assert "subPath" not in mount
    secret = volume["secret"]
    assert secret["secretName"] == sk["existingSecret"]
    # Only the key itself is projected, at exactly the path the service reads.
    (item,) = secret["items"]
    assert item["key"] == sk["key"]
    assert f"{mount['mountPath'].rstrip('/')}/{item['path']}" == path
    # Owner root, group = the pod's fsGroup (the service's group): no one else reads it.
    # (Both unset on OpenShift, which assigns the pod's fsGroup and makes it a
    # supplementary group of the process.)
    pod = one(docs, "Deployment", "txlog-service")["spec"]["template"]["spec"]
    assert pod["securityContext"].get("fsGroup") == pod["containers"][0]["securityContext"].get("runAsGroup")
    assert secret["defaultMode"] in (0o400, 0o440), oct(secret["defaultMode"])
    # Never inline, and only the transaction log's pods see it.
    env = container_env(docs, "txlog-service")
    assert "TXLOG_SIGNING_KEY" not in env
    for owner, template in pod_specs(docs):
        if labels_of(owner).get("app.kubernetes.io/component") == "txlog-service" and owner["kind"] == "Deployment":
            continue
        secrets = {v["secret"]["secretName"] for v in template["spec"].get("volumes", []) if "secret" in v}
        assert sk["existingSecret"] not in secrets, owner["metadata"]["name"]


def test_signing_key_never_appears_in_the_manifests(scenario):
    # The chart references the key; it never carries it.
    for d in scenario["docs"]:
        assert not SIGNED_NOTE_PRIVATE_KEY.search(yaml.safe_dump(d)), d["metadata"]["name"]


def test_signing_key_secret_and_key_are_configurable():
    docs = render({"txlogService": {"signingKey": {"existingSecret": "txlog-key-2025", "key": "private"}}})
    path, mount, volume = signing_key_mount(docs)
    assert volume["secret"]["secretName"] == "txlog-key-2025"
    assert volume["secret"]["items"][0]["key"] == "private"
    # The file name inside the pod does not depend on the key within the Secret.
    assert path == signing_key_mount(render(None))[0]


@pytest.mark.parametrize("values", [None, {"txlogService": {"signingKey": {"existingSecret": ""}}}],
                         ids=["defaults", "empty"])
def test_rendering_without_the_signing_key_secret_fails_clearly(values):
    with pytest.raises(helm.HelmRenderError, match=SIGNING_KEY_REQUIRED) as failure:
        render(values, bare=True)
    message = str(failure.value)
    assert "txlog-service keygen" in message
    assert "docs/OPERATIONS.md" in message


def test_bare_defaults_still_lint():
    # Helm's lint mode turns a missing `required` value into a logged warning,
    # so generic chart linting (chart-testing, Artifact Hub) keeps working;
    # install and template fail as above.
    report = helm.lint(str(CHART), None, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_log_origin_and_checkpoint_interval_reach_the_environment(scenario):
    env = container_env(scenario["docs"], "txlog-service")
    tx = scenario["values"]["txlogService"]
    assert env["TXLOG_LOG_ORIGIN"]["configMap"] == tx["logOrigin"]
    assert env["TXLOG_CHECKPOINT_INTERVAL_MS"]["configMap"] == str(tx["checkpointIntervalMs"])
    if scenario["name"] == "default":
        # The chart's defaults are the service's own (SPEC section 10).
        assert env["TXLOG_LOG_ORIGIN"]["configMap"] == "ordersys/txlog"
        assert env["TXLOG_CHECKPOINT_INTERVAL_MS"]["configMap"] == "1000"

    docs = render({"txlogService": {"logOrigin": "audit.shop.example/orders-log", "checkpointIntervalMs": 250}})
    env = container_env(docs, "txlog-service")
    assert env["TXLOG_LOG_ORIGIN"] == {"configMap": "audit.shop.example/orders-log"}
    assert env["TXLOG_CHECKPOINT_INTERVAL_MS"] == {"configMap": "250"}
    # The largest interval (1 h) stays a plain integer (Helm reads numbers as floats).
    docs = render({"txlogService": {"checkpointIntervalMs": 3600000}})
    assert container_env(docs, "txlog-service")["TXLOG_CHECKPOINT_INTERVAL_MS"] == {"configMap": "3600000"}
    # A new origin rolls the pods.
    before = one(render(None), "Deployment", "txlog-service")["spec"]["template"]["metadata"]["annotations"]
    after = one(docs, "Deployment", "txlog-service")["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]


def test_setup_job_runs_txlog_setup():
    docs = render(scenario_values("in-cluster"))
    (job,) = of_kind(docs, "Job")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"][:2] == ["/usr/local/bin/txlog-service", "setup"]
    pw_file = c["command"][c["command"].index("--app-password-file") + 1]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in mounts.values() if pw_file.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    assert "secret" in volumes[mount["name"]]
    env = {e["name"]: e for e in c["env"]}
    assert set(env["TXLOG_DATABASE_URL"]["valueFrom"]) == {"secretKeyRef"}


# --- services, PDB, HPA, ingress, monitoring ---------------------------------


def test_services_match_pods(scenario):
    docs = scenario["docs"]
    for component, (port, _binary, _listen) in COMPONENTS.items():
        svc = one(docs, "Service", component)
        dep = one(docs, "Deployment", component)
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        # The selector must not also pick the other component's pods.
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == component
        ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert set(ports) == {"http", "metrics"}
        assert ports["http"]["port"] == port and ports["http"]["targetPort"] == "http"
        assert ports["metrics"]["port"] == METRICS_PORT and ports["metrics"]["targetPort"] == "metrics"


def test_disruption_budgets_and_autoscalers(scenario):
    docs = scenario["docs"]
    for component in COMPONENTS:
        dep = one(docs, "Deployment", component)
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        pdb = one(docs, "PodDisruptionBudget", component)
        assert selects(pdb["spec"]["selector"], pod_labels)
        # A budget that always allows at least one eviction: drains never stall.
        assert pdb["spec"].get("maxUnavailable", 0) >= 1 or "minAvailable" in pdb["spec"]
        hpa = one(docs, "HorizontalPodAutoscaler", component)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": dep["metadata"]["name"]}
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["metrics"], "an HPA needs a metric"


def test_ingress_and_service_monitor(production_values):
    docs = render(production_values)
    (ing,) = of_kind(docs, "Ingress")
    order_svc = one(docs, "Service", "order-service")["metadata"]["name"]
    backends = [p["backend"]["service"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends and all(b == {"name": order_svc, "port": {"name": "http"}} for b in backends)
    assert ing["spec"]["tls"]
    for sm in of_kind(docs, "ServiceMonitor"):
        component = labels_of(sm)["app.kubernetes.io/component"]
        svc = one(docs, "Service", component)
        assert selects(sm["spec"]["selector"], labels_of(svc))
        assert sm["spec"]["endpoints"] == [{**sm["spec"]["endpoints"][0], "port": "metrics", "path": "/metrics"}]
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# --- network policy -----------------------------------------------------------


def policies_for(docs, pod_labels):
    """The NetworkPolicies of an install that select these pods (those of `helm test` excluded)."""
    return [np for np in of_kind(without_tests(docs), "NetworkPolicy")
            if selects(np["spec"]["podSelector"], pod_labels)]


def rule_ports(rule):
    return {p["port"] for p in rule["ports"]}


def test_every_pod_is_isolated_both_ways(scenario):
    if not scenario["values"]["networkPolicy"]["enabled"]:
        pytest.skip("network policies disabled")
    for owner, template in pod_specs(scenario["docs"]):
        nps = [np for np in of_kind(scenario["docs"], "NetworkPolicy")
               if selects(np["spec"]["podSelector"], template["metadata"]["labels"])
               and hooks(np) == hooks(owner)]
        assert nps, f"no NetworkPolicy selects {owner['metadata']['name']}"
        types = {t for np in nps for t in np["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}


def test_egress_is_an_allow_list(scenario):
    docs = scenario["docs"]
    egress = scenario["values"]["networkPolicy"]["egress"]
    idp_ports = set(egress["identityProvider"]["ports"])
    expected = {
        "order-service": {53, 8081} | set(egress["postgres"]["ports"]) | idp_ports,
        "txlog-service": {53} | set(egress["mongodb"]["ports"]) | idp_ports,
    }
    collector_ports = set(egress["collector"]["ports"])
    for component, ports in expected.items():
        pod_labels = one(docs, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
        (np,) = policies_for(docs, pod_labels)
        rules = np["spec"]["egress"]
        for rule in rules:
            # No rule without destinations or ports: that would allow everything.
            assert rule.get("to") and rule.get("ports"), rule
        allowed = set().union(*(rule_ports(r) for r in rules))
        assert allowed == ports | collector_ports, (component, allowed)
        dns = [r for r in rules if 53 in rule_ports(r)]
        assert {p["protocol"] for r in dns for p in r["ports"]} == {"UDP", "TCP"}
    # The order service reaches the transaction log pods, and only on 8081.
    order_np = policies_for(docs, one(docs, "Deployment", "order-service")["spec"]["template"]["metadata"]["labels"])[0]
    txlog_labels = one(docs, "Deployment", "txlog-service")["spec"]["template"]["metadata"]["labels"]
    (to_txlog,) = [r for r in order_np["spec"]["egress"] if 8081 in rule_ports(r)]
    assert rule_ports(to_txlog) == {8081}
    assert all(selects(peer["podSelector"], txlog_labels) for peer in to_txlog["to"])


def test_transaction_log_ingress_only_from_order_service_and_auditors(scenario):
    docs, np_values = scenario["docs"], scenario["values"]["networkPolicy"]
    order_labels = one(docs, "Deployment", "order-service")["spec"]["template"]["metadata"]["labels"]
    txlog_labels = one(docs, "Deployment", "txlog-service")["spec"]["template"]["metadata"]["labels"]
    (np,) = policies_for(docs, txlog_labels)
    peers = []
    for rule in np["spec"]["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` would admit everyone"
        if rule_ports(rule) == {METRICS_PORT}:
            # Scrapers reach the metrics port, and only it.
            assert rule["from"] == np_values["metricsFrom"]
            continue
        assert rule_ports(rule) == {8081}
        peers += rule["from"]
    allowed_extra = []
    order_peers = [p for p in peers if set(p) == {"podSelector"} and selects(p["podSelector"], order_labels)]
    assert order_peers, "the order service must be able to deliver"
    for p in peers:
        if p in order_peers or p in allowed_extra:
            continue
        # The only other peer: the auditors' namespace, by name.
        assert set(p) == {"namespaceSelector"}, p
        assert p["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": np_values["auditorsNamespace"]}}
    auditors = [p for p in peers if "namespaceSelector" in p and p not in allowed_extra]
    assert len(auditors) == (1 if np_values["auditorsNamespace"] else 0)
    # No pod selector that would also match other pods of the release.
    for p in peers:
        if set(p) == {"podSelector"}:
            assert p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "order-service"


def test_order_service_ingress_only_on_its_port(scenario):
    docs = scenario["docs"]
    labels = one(docs, "Deployment", "order-service")["spec"]["template"]["metadata"]["labels"]
    (np,) = policies_for(docs, labels)
    np_values = scenario["values"]["networkPolicy"]
    for rule in np["spec"]["ingress"]:
        if rule_ports(rule) == {METRICS_PORT}:
            assert rule["from"] == np_values["metricsFrom"]
        else:
            assert rule_ports(rule) == {8080}
    if np_values["orderIngressFrom"]:
        assert all(rule.get("from") for rule in np["spec"]["ingress"])


def test_network_policy_can_be_disabled():
    docs = render({"networkPolicy": {"enabled": False}})
    assert of_kind(docs, "NetworkPolicy") == []


# --- the schema refuses unsafe values ---------------------------------------


BAD_VALUES = {
    "latest tag": {"image": {"tag": "latest"}},
    "secret in plain env": {"orderService": {"extraEnv": {"ORDERS_TXLOG_CLIENT_SECRET": "s3cret"}}},
    "database url in plain env": {"txlogService": {"extraEnv": {"TXLOG_DATABASE_URL": "mongodb://u:p@h/db"}}},
    "unknown variable": {"orderService": {"extraEnv": {"FOO": "bar"}}},
    "no limits": {"orderService": {"resources": {"limits": None}}},
    "short grace period": {"terminationGracePeriodSeconds": 10},
    "typo in a key": {"orderSevice": {"replicaCount": 3}},
    "no issuer and no jwks": {"auth": {"issuer": "", "jwksUrl": ""}},
    "no database secret": {"txlogService": {"database": {"existingSecret": ""}}},
    "signing key in plain env": {"txlogService": {"extraEnv": {"TXLOG_SIGNING_KEY": "PRIVATE+KEY+x+00000000+AA=="}}},
    "signing key file in plain env": {"txlogService": {"extraEnv": {"TXLOG_SIGNING_KEY_FILE": "/tmp/key"}}},
    "signing key secret not a name": {"txlogService": {"signingKey": {"existingSecret": "Not_A_Name"}}},
    "signing key without a key": {"txlogService": {"signingKey": {"key": ""}}},
    "origin with a space": {"txlogService": {"logOrigin": "my log"}},
    "origin with a newline": {"txlogService": {"logOrigin": "ordersys/txlog\n42"}},
    "empty origin": {"txlogService": {"logOrigin": ""}},
    "origin too long": {"txlogService": {"logOrigin": "o" * 257}},
    "zero checkpoint interval": {"txlogService": {"checkpointIntervalMs": 0}},
    "checkpoint interval under 10 ms": {"txlogService": {"checkpointIntervalMs": 9}},
    "checkpoint interval over 1 h": {"txlogService": {"checkpointIntervalMs": 3600001}},
    "fractional checkpoint interval": {"txlogService": {"checkpointIntervalMs": 0.5}},
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects(case):
    with pytest.raises(helm.HelmValuesError):
        render(copy.deepcopy(BAD_VALUES[case]))


def test_extra_env_accepts_otel_settings():
    docs = render({"txlogService": {"extraEnv": {"OTEL_TRACES_SAMPLER": "always_on"}}})
    assert container_env(docs, "txlog-service")["OTEL_TRACES_SAMPLER"]["configMap"] == "always_on"


def test_image_digest_wins_over_tag():
    digest = "sha256:" + "a" * 64
    docs = render({"image": {"digest": digest}})
    for _owner, template in pod_specs(without_tests(docs)):
        assert template["spec"]["containers"][0]["image"].endswith("@" + digest)
