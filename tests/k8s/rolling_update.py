#!/usr/bin/env python3
"""A rolling update of the order service under load (issue 29), run by .ci/k8s.sh.

    python3 tests/k8s/rolling_update.py --orders URL --txlog URL --keycloak ISSUER --cacert FILE \
        -- helm upgrade ordersys ... --wait

A client creates orders one after another through the order service's Service while the command
after `--` runs (and for a few seconds after it returns), then every order it was told was
created must have its `order.create` record in the transaction log. Fails on any call that did
not answer 201 and on any record missing after 60 s: the SIGTERM drain (readiness 503 while the
listener keeps serving, in-flight requests finished, the outbox delivered) proven where it
matters.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "image"))
from smoke import Tokens, http  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", required=True)
    parser.add_argument("--txlog", required=True)
    parser.add_argument("--keycloak", required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--after", type=float, default=5, help="seconds of load after the command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    tokens = Tokens(args.keycloak, args.cacert)
    alice = tokens.user("alice", "order-service", "orders:read orders:write")
    auditor = tokens.user("auditor", "txlog-service", "txlog:read")

    created: list[str] = []
    failed: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            status, body = http("POST", f"{args.orders}/v1/orders", alice, {
                "currency": "EUR", "items": [{"sku": "SKU-R", "name": "Roll", "quantity": 1, "unit_price": 100}]})
            if status == 201 and isinstance(body, dict):
                created.append(body["id"])
            else:
                failed.append(f"{time.strftime('%H:%M:%S')} {status} {str(body)[:160]}")

    client = threading.Thread(target=load)
    client.start()
    started = time.monotonic()
    rc = subprocess.run(command).returncode
    took = time.monotonic() - started
    time.sleep(args.after)
    stop.set()
    client.join()
    shown = " ".join(" ".join(command).split())
    print(f"[rolling] {shown[:100]}{'…' if len(shown) > 100 else ''} exited {rc} after {took:.0f}s; "
          f"{len(created)} orders created, {len(failed)} calls failed")
    for f in failed[:10]:
        print(f"[rolling] failed: {f}")

    missing = set(created)
    deadline = time.monotonic() + 60
    while missing and time.monotonic() < deadline:
        for order_id in list(missing):
            status, page = http("GET", f"{args.txlog}/v1/transactions?order_id={order_id}", auditor)
            if status == 200 and any(r.get("operation") == "order.create" for r in page.get("items", [])):
                missing.discard(order_id)
        if missing:
            time.sleep(1)
    status, verdict = http("GET", f"{args.txlog}/v1/transactions/verify", auditor)
    valid = status == 200 and verdict.get("valid") is True
    print(f"[rolling] records in the log: {len(created) - len(missing)} of {len(created)}; "
          f"chain verified: {valid} ({verdict.get('checked') if isinstance(verdict, dict) else verdict})")
    ok = rc == 0 and not failed and not missing and created and valid
    print(f"[rolling] {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
