#!/usr/bin/env python3
"""The transaction log's setup Job and its hook order on the real cluster (issue 29), run by
.ci/k8s.sh test.

    python3 tests/k8s/setup_hooks.py --namespace shop --release ordersys-hooks \
        -- helm install ordersys-hooks deploy/helm/ordersys ... --set txlogService.setupJob.enabled=true

Watches the namespace's NetworkPolicies, Jobs and Deployments (API watches, from before the
command starts) while the command after `--` installs or upgrades a release with
`txlogService.setupJob.enabled`, then checks, for the objects of that release:
  1. the Job's own NetworkPolicy (hook weight -10) was created before the Job (weight 0), so
     the Job never runs unconfined in a namespace whose policies deny by default;
  2. the Job succeeded, and only then (pre-install) were the release's Deployments created, or
     (pre-upgrade) changed;
  3. both hooks were deleted after the Job succeeded (hook-delete-policy hook-succeeded), and
     none is left.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

WATCHED = {
    "networkpolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
}


class Watch:
    """Every event of the watched kinds, in arrival order: (seconds, kind, event, object)."""

    def __init__(self, namespace: str) -> None:
        self.events: list[tuple[float, str, str, dict]] = []
        self.lock = threading.Lock()
        self.procs = []
        self.t0 = time.monotonic()
        for kind, path in WATCHED.items():
            # Start from the current resourceVersion, so that only what happens from now is seen.
            listing = json.loads(subprocess.run(["kubectl", "get", "--raw", path.format(ns=namespace)],
                                                check=True, capture_output=True, text=True).stdout)
            rv = listing["metadata"]["resourceVersion"]
            url = f"{path.format(ns=namespace)}?watch=true&resourceVersion={rv}"
            proc = subprocess.Popen(["kubectl", "get", "--raw", url], stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(kind, proc), daemon=True).start()

    def _read(self, kind: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append((time.monotonic() - self.t0, kind, ev["type"], ev["object"]))

    def stop(self) -> list[tuple[float, str, str, dict]]:
        time.sleep(2)
        for p in self.procs:
            p.terminate()
        with self.lock:
            return list(self.events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--upgrade", action="store_true", help="the command upgrades (pre-upgrade hooks)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    watch = Watch(args.namespace)
    rc = subprocess.run(command).returncode
    events = watch.stop()

    def mine(obj: dict) -> bool:
        return obj["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == args.release

    def component(obj: dict) -> str:
        return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")

    def first(pred) -> float | None:
        return next((t for t, kind, ev, obj in events if mine(obj) and pred(kind, ev, obj)), None)

    hook_np = lambda k, e, o: k == "networkpolicy" and component(o) == "txlog-setup"  # noqa: E731
    job = lambda k, e, o: k == "job" and component(o) == "txlog-setup"  # noqa: E731
    np_added = first(lambda k, e, o: hook_np(k, e, o) and e == "ADDED")
    job_added = first(lambda k, e, o: job(k, e, o) and e == "ADDED")
    job_done = first(lambda k, e, o: job(k, e, o) and (o.get("status", {}).get("succeeded") or 0) >= 1)
    job_failed = first(lambda k, e, o: job(k, e, o) and (o.get("status", {}).get("failed") or 0) >= 1)
    deploy_event = "MODIFIED" if args.upgrade else "ADDED"
    deploy = first(lambda k, e, o: k == "deployment" and e == deploy_event)
    np_deleted = first(lambda k, e, o: hook_np(k, e, o) and e == "DELETED")
    job_deleted = first(lambda k, e, o: job(k, e, o) and e == "DELETED")

    def at(t: float | None) -> str:
        return "never" if t is None else f"{t:.1f}s"

    print(f"[hooks] {' '.join(command)[:110]}… exited {rc}")
    print(f"[hooks] hook NetworkPolicy created {at(np_added)}; Job created {at(job_added)}, "
          f"succeeded {at(job_done)} (a failed attempt: {at(job_failed)}); first Deployment "
          f"{deploy_event.lower()} {at(deploy)}; hook NetworkPolicy deleted {at(np_deleted)}, Job deleted {at(job_deleted)}")
    checks = {
        "the command succeeded": rc == 0,
        "hook NetworkPolicy before the Job": None not in (np_added, job_added) and np_added < job_added,
        "the Job succeeded": job_done is not None,
        "the Job before the Deployments": None not in (job_done, deploy) and job_done < deploy,
        "both hooks deleted after success": None not in (job_done, np_deleted, job_deleted)
        and np_deleted > job_done and job_deleted > job_done,
    }
    left = subprocess.run(["kubectl", "-n", args.namespace, "get", "job,networkpolicy", "-l",
                           f"app.kubernetes.io/instance={args.release},app.kubernetes.io/component=txlog-setup",
                           "-o", "name"], capture_output=True, text=True, check=True).stdout.split()
    checks["no hook left"] = not left
    for what, ok in checks.items():
        print(f"[hooks] {'ok' if ok else 'FAIL'}: {what}" + (f" ({' '.join(left)})" if what == "no hook left" and left else ""))
    ok = all(checks.values())
    print(f"[hooks] {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
