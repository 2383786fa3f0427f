#!/usr/bin/env python3
"""The chart's NetworkPolicies enforced on the real cluster (issue 29), run by .ci/k8s.sh test.

    python3 tests/k8s/network_policies.py --namespace shop --release ordersys \
        --image localhost/ordersys-curl:ci

The cluster enforces NetworkPolicy (kube-router's firewall, .ci/k8s.sh). Two vantage points:

  outsider  a pod of the namespace that no policy names (label app=np-outsider);
  order     the order service's own network namespace: an ephemeral container (`kubectl
            debug`) in the order service's pod, so it has that pod's address and policies.

Checked from each (the same targets, by Service name and by pod address):
  - the transaction log's write endpoint, POST /v1/transactions on 8081: the outsider gets no
    connection at all; the order service gets an HTTP answer (401 without a token);
  - PostgreSQL on 5432 (the database; its policy, made by .ci/k8s.sh, admits the order
    service only): the outsider cannot connect, the order service can;
  - controls: the outsider reaches the order API on 8080 (open to any source), so what it
    cannot reach is refused by policy, not by a broken network; the order service cannot
    reach Keycloak's management port 9000 (its egress allows the IdP on 8443 only).
Then that the allowed paths carry real traffic is shown by the order recorded in the log
(tests/image/smoke.py, run by .ci/k8s.sh before this).

A freshly started pod may send a packet or two before the enforcer has put its rules in place,
so a check that must be refused is retried for up to 30 s until refused, and then checked once
more; a check that must pass gets the same 30 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

OUTSIDER = "np-outsider"
SETTLE = 30


def kubectl(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], check=check, capture_output=True, text=True, input=input)


def probe_script(kind: str, host: str, port: int) -> str:
    """A shell command printing `open <detail>` or `closed <detail>` for one target."""
    if kind == "http":
        # Any HTTP status is a connection; curl's 000 is none (timeout, refused, reset).
        return (f"code=$(curl -s -o /dev/null -m 4 -w '%{{http_code}}' -X POST "
                f"-H 'content-type: application/json' -d '{{}}' http://{host}:{port}/v1/transactions); "
                f"if [ \"$code\" != 000 ]; then echo open HTTP $code; else echo closed no answer; fi")
    if kind == "get":
        return (f"code=$(curl -s -o /dev/null -m 4 -w '%{{http_code}}' http://{host}:{port}/readyz); "
                f"if [ \"$code\" != 000 ]; then echo open HTTP $code; else echo closed no answer; fi")
    return (f"if timeout 4 bash -c '</dev/tcp/{host}/{port}' 2>/dev/null; then echo open TCP connected; "
            f"else echo closed TCP connect failed; fi")


def pod_of(namespace: str, selector: str) -> dict:
    pods = json.loads(kubectl("-n", namespace, "get", "pod", "-l", selector, "-o", "json").stdout)["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    if not running:
        raise SystemExit(f"no running pod for {selector}")
    return running[0]


class Outsider:
    """A pod no policy names, probing with `kubectl exec`."""

    def __init__(self, namespace: str, image: str) -> None:
        self.namespace = namespace
        manifest = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": OUTSIDER, "labels": {"app": OUTSIDER}},
            "spec": {
                "restartPolicy": "Never", "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "probe", "image": image, "imagePullPolicy": "Never",
                    "command": ["sleep", "900"],
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                }],
            },
        }
        kubectl("-n", namespace, "delete", "pod", OUTSIDER, "--ignore-not-found", "--wait")
        kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))
        kubectl("-n", namespace, "wait", "--for=condition=Ready", f"pod/{OUTSIDER}", "--timeout=120s")

    def probe(self, kind: str, host: str, port: int) -> str:
        r = kubectl("-n", self.namespace, "exec", OUTSIDER, "--", "bash", "-c", probe_script(kind, host, port), check=False)
        return (r.stdout.strip() or f"closed exec failed: {r.stderr.strip()[:120]}")

    def close(self) -> None:
        kubectl("-n", self.namespace, "delete", "pod", OUTSIDER, "--ignore-not-found", "--wait=false", check=False)


class OrderNetns:
    """Probes from the order service pod's network namespace: one ephemeral container per
    batch of probes (`kubectl debug`), its output read from its log."""

    def __init__(self, namespace: str, pod: str, image: str) -> None:
        self.namespace, self.pod, self.image, self.n = namespace, pod, image, 0

    def probe_all(self, checks: list[tuple[str, str, int]]) -> list[str]:
        self.n += 1
        name = f"np-check-{int(time.time())}-{self.n}"
        script = "; ".join(probe_script(*c) for c in checks)
        kubectl("-n", self.namespace, "debug", f"pod/{self.pod}", f"--container={name}", f"--image={self.image}",
                "--image-pull-policy=Never", "--profile=restricted", "--", "bash", "-c", script)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pod = json.loads(kubectl("-n", self.namespace, "get", "pod", self.pod, "-o", "json").stdout)
            for s in pod["status"].get("ephemeralContainerStatuses", []):
                if s["name"] == name and "terminated" in s.get("state", {}):
                    out = kubectl("-n", self.namespace, "logs", self.pod, "-c", name).stdout.strip().splitlines()
                    if len(out) != len(checks):
                        raise SystemExit(f"{name}: expected {len(checks)} lines, got {out}")
                    return out
            time.sleep(1)
        raise SystemExit(f"ephemeral container {name} in {self.pod} did not finish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", default="shop")
    parser.add_argument("--release", default="ordersys")
    parser.add_argument("--image", required=True, help="an image with bash and curl, loaded into the node")
    args = parser.parse_args()
    ns, rel = args.namespace, args.release

    def svc(component: str) -> str:
        return f"{rel}-{component}"

    sel = f"app.kubernetes.io/instance={rel},app.kubernetes.io/component="
    txlog_ip = pod_of(ns, sel + "txlog-service")["status"]["podIP"]
    postgres_ip = pod_of(ns, "app=postgres")["status"]["podIP"]
    keycloak_ip = pod_of(ns, "app=keycloak")["status"]["podIP"]
    order_pod = pod_of(ns, sel + "order-service")["metadata"]["name"]

    # (what, kind, host, port, expected from the outsider, expected from the order service)
    checks = [
        ("log write endpoint via its Service", "http", svc("txlog-service"), 8081, "closed", "open"),
        ("log write endpoint at the pod's address", "http", txlog_ip, 8081, "closed", "open"),
        ("PostgreSQL via its Service", "tcp", "postgres", 5432, "closed", "open"),
        ("PostgreSQL at the pod's address", "tcp", postgres_ip, 5432, "closed", "open"),
        ("order API (open to any source)", "get", svc("order-service"), 8080, "open", None),
        ("Keycloak's management port 9000", "tcp", keycloak_ip, 9000, None, "closed"),
    ]
    failures: list[str] = []
    outsider = Outsider(ns, args.image)
    try:
        for what, kind, host, port, want, _ in checks:
            if want is None:
                continue
            deadline = time.monotonic() + SETTLE
            got = outsider.probe(kind, host, port)
            while not got.startswith(want) and time.monotonic() < deadline:
                time.sleep(2)
                got = outsider.probe(kind, host, port)
            if got.startswith(want):  # and it stays so
                got = outsider.probe(kind, host, port)
            ok = got.startswith(want)
            print(f"[netpol] outsider -> {what} ({host}:{port}): {got} "
                  f"[{'ok' if ok else 'FAIL'}: must be {want}]", flush=True)
            if not ok:
                failures.append(f"outsider -> {what}: {got}")
    finally:
        outsider.close()

    order = OrderNetns(ns, order_pod, args.image)
    mine = [(what, (kind, host, port), want) for what, kind, host, port, _, want in checks if want is not None]
    deadline = time.monotonic() + SETTLE
    while True:
        results = order.probe_all([c for _, c, _ in mine])
        bad = [i for i, (_, _, want) in enumerate(mine) if not results[i].startswith(want)]
        if not bad or time.monotonic() >= deadline:
            break
        time.sleep(3)
    for i, (what, (_, host, port), want) in enumerate(mine):
        ok = i not in bad
        print(f"[netpol] order service ({order_pod}) -> {what} ({host}:{port}): {results[i]} "
              f"[{'ok' if ok else 'FAIL'}: must be {want}]", flush=True)
        if not ok:
            failures.append(f"order service -> {what}: {results[i]}")

    print(f"[netpol] {'passed' if not failures else 'FAILED: ' + '; '.join(failures)}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
