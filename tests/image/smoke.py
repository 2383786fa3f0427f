#!/usr/bin/env python3
"""Smoke test of the built container image, run the way the Helm chart runs it.

    python3 tests/image/smoke.py --image localhost/ordersys:ci

Every container runs with a read-only root filesystem, as uid/gid 65532, with every capability
dropped, no new privileges and a tmpfs on /tmp (the chart's emptyDir). Containers use the host's
network (`--network=host`), so PostgreSQL on the host (`.ci/postgres.sh`) is 127.0.0.1:5432 to
them; each service listens on a free loopback port. Tokens are HS256 (the services' local-key
mode), minted here.

Scenarios:
  image       the image runs as 65532 and has no shell;
  postgres    order service on PostgreSQL (a fresh database), transaction log on SQLite on a
              writable volume;
  sqlite      both services on SQLite, each on its own writable volume;
  read-only   the SQLite defaults with nowhere to write: each service stops with an error that
              names the directory it could not create.
In each running scenario: /healthz and /readyz of both, an order created and read back, its
`order.create` record in the log, `GET /v1/transactions/verify` valid, and SIGTERM
(`podman stop`) ends both with exit status 0.

With --urls it runs only the API checks, against services already running (compose); with
--keycloak as well, the user tokens come from that Keycloak realm (password grant of the demo
realm's ordersys-cli client for alice and auditor), and the order service delivers with its own
client-credentials token; with --witness, the log's served checkpoint must carry that witness's
cosignature.

Needs only Python's standard library, podman and (for the postgres scenario) psql.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

# >= 32 bytes; per run, or the one a compose stack was started with.
SECRET = os.environ.get("SMOKE_HS256_SECRET") or "image-smoke-test-hs256-secret-" + uuid.uuid4().hex
# As deploy/helm/ordersys runs the containers (values.yaml securityContext, /tmp emptyDir).
HARDENED = [
    "--read-only", "--user=65532:65532", "--cap-drop=ALL",
    "--security-opt=no-new-privileges", "--tmpfs=/tmp:rw,size=16m,mode=1777",
    "--network=host",
]
PREFIX = f"ordersys-smoke-{os.getpid()}"
failures: list[str] = []


def log(msg: str) -> None:
    print(f"[smoke] {msg}", flush=True)


def check(ok: bool, what: str) -> None:
    log(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def podman(*args: str, check_rc: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(sub: str, aud: str, scope: str) -> str:
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "aud": aud, "scope": scope, "iat": now,
                              "nbf": now - 5, "exp": now + 3600}).encode())
    sig = hmac.new(SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


def claims(tok: str) -> dict:
    """A JWT's payload, unverified (the services verify; this only reads `sub`)."""
    payload = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Tokens:
    """The user tokens of the API checks: HS256 minted here, or a Keycloak realm's."""

    def __init__(self, keycloak: str | None = None, cacert: str | None = None):
        self.keycloak = keycloak
        self.tls = ssl.create_default_context(cafile=cacert) if cacert else None

    def wait(self, seconds: float) -> bool:
        """Until the realm answers (Keycloak starts after the services are ready)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.keycloak}/.well-known/openid-configuration",
                                            timeout=5, context=self.tls) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(1)
        return False

    def user(self, name: str, aud: str, scope: str) -> str:
        if not self.keycloak:
            return token(name, aud, scope)
        form = urllib.parse.urlencode({"grant_type": "password", "client_id": "ordersys-cli",
                                       "username": name, "password": name, "scope": scope}).encode()
        url = f"{self.keycloak}/protocol/openid-connect/token"
        with urllib.request.urlopen(url, data=form, timeout=30, context=self.tls) as r:
            tok = json.loads(r.read())["access_token"]
        c = claims(tok)
        log(f"Keycloak token for {name}: iss {c.get('iss')}, aud {c.get('aud')}, scope {c.get('scope')!r}")
        return tok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, tok: str | None = None, body: dict | None = None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if tok:
        req.add_header("Authorization", f"Bearer {tok}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return None, str(e)


def wait_for(url: str, name: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, _ = http("GET", url)
        if status == 200:
            return True
        if podman("inspect", "--format", "{{.State.Running}}", name, check_rc=False).stdout.strip() != "true":
            return False
        time.sleep(0.3)
    return False


def run(image: str, name: str, env: dict[str, str], *extra: str, command: list[str]) -> None:
    args = ["run", "-d", "--name", name, *HARDENED, *extra]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    podman(*args, image, *command)


def logs(name: str) -> str:
    r = podman("logs", name, check_rc=False)
    return r.stdout + r.stderr


def stop(name: str) -> None:
    podman("stop", "--time", "45", name, check_rc=False, timeout=90)
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    check(code == "0", f"{name}: SIGTERM (podman stop) -> exit status {code}")
    if code != "0":
        print(logs(name)[-3000:])


def volume_dir(root: str, name: str) -> str:
    """A host directory for uid 65532, as a Kubernetes volume with fsGroup 65532 would be."""
    path = os.path.join(root, name)
    os.makedirs(path)
    os.chown(path, 65532, 65532)
    return path


def api_checks(orders: str, txlog: str, tokens: Tokens | None = None) -> None:
    """/healthz and /readyz of both, an order created and read back, its record in the log,
    the chain verified, a token for the wrong audience refused."""
    tokens = tokens or Tokens()
    for base in (txlog, orders):
        check(http("GET", f"{base}/readyz")[0] == 200, f"{base}/readyz 200")
        check(http("GET", f"{base}/healthz")[0] == 200, f"{base}/healthz 200")
    alice = tokens.user("alice", "order-service", "orders:read orders:write")
    alice_sub = claims(alice)["sub"]
    if tokens.keycloak:
        # The services fetch the realm's keys on their own schedule (retrying with backoff while
        # Keycloak starts): wait until the order service accepts the token.
        started, deadline = time.monotonic(), time.monotonic() + 120
        while http("GET", f"{orders}/v1/orders?limit=1", alice)[0] == 401 and time.monotonic() < deadline:
            time.sleep(1)
        log(f"the order service accepts Keycloak's tokens after {time.monotonic() - started:.0f}s")
    status, order = http("POST", f"{orders}/v1/orders", alice, {
        "currency": "EUR", "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250}]})
    check(status == 201 and isinstance(order, dict) and order.get("total") == 2500,
          f"create an order -> {status}")
    if status != 201:
        print(order)
        return
    status, read = http("GET", f"{orders}/v1/orders/{order['id']}", alice)
    check(status == 200 and read.get("id") == order["id"] and read.get("customer_id") == alice_sub,
          f"read it back -> {status}")
    auditor = tokens.user("auditor", "txlog-service", "txlog:read")
    deadline, records = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        status, page = http("GET", f"{txlog}/v1/transactions?order_id={order['id']}", auditor)
        records = [r for r in (page.get("items", []) if isinstance(page, dict) else [])
                   if r.get("operation") == "order.create"]
        if records:
            break
        time.sleep(0.3)
    check(len(records) == 1 and (records[0].get("actor") or {}).get("sub") == alice_sub,
          f"its order.create record is in the log (seq {records[0].get('seq') if records else None})")
    status, verdict = http("GET", f"{txlog}/v1/transactions/verify", auditor)
    check(status == 200 and verdict.get("valid") is True and verdict.get("checked", 0) >= 1,
          f"GET /v1/transactions/verify -> {status} {verdict}")
    if tokens.keycloak:
        # The realm gives the ordersys-cli client's tokens both audiences; alice's lacks the
        # txlog:read scope (her roles do not allow it).
        check(http("GET", f"{txlog}/v1/transactions/verify", alice)[0] == 403,
              "a user token without txlog:read is refused by the log (403)")
    else:
        check(http("GET", f"{txlog}/v1/transactions/verify", alice)[0] == 401,
              "a token for the other audience is refused (401)")


def scenario(image: str, label: str, orders_db: str, work: str, signing_key: str,
             order_mounts: list[str]) -> None:
    log(f"--- {label}")
    oport, tport = free_port(), free_port()
    tname, oname = f"{PREFIX}-{label}-txlog", f"{PREFIX}-{label}-orders"
    common = {"RUST_LOG": "info", "LOG_FORMAT": "json"}
    txlog_data = volume_dir(work, f"{label}-txlog")
    run(image, tname, {
        **common,
        "TXLOG_LISTEN": f"127.0.0.1:{tport}",
        "TXLOG_DATABASE_URL": "sqlite:///var/lib/txlog/txlog.db",
        "TXLOG_AUTH_HS256_SECRET": SECRET,
        "TXLOG_AUTH_AUDIENCE": "txlog-service",
        "TXLOG_SIGNING_KEY": signing_key,
        "TXLOG_LOG_ORIGIN": "ordersys/image-smoke",
        "TXLOG_SHUTDOWN_DELAY": "1s",
    }, f"--volume={txlog_data}:/var/lib/txlog", command=["/usr/local/bin/txlog-service"])
    run(image, oname, {
        **common,
        "ORDERS_LISTEN": f"127.0.0.1:{oport}",
        "ORDERS_DATABASE_URL": orders_db,
        "ORDERS_AUTH_HS256_SECRET": SECRET,
        "ORDERS_AUTH_AUDIENCE": "order-service",
        "ORDERS_TXLOG_URL": f"http://127.0.0.1:{tport}",
        "ORDERS_TXLOG_TOKEN": token("order-service", "txlog-service", "txlog:write"),
        "ORDERS_SHUTDOWN_DELAY": "1s",
    }, *order_mounts, command=[])  # the image's default command: the order service
    try:
        orders, txlog = f"http://127.0.0.1:{oport}", f"http://127.0.0.1:{tport}"
        for name, base in ((tname, txlog), (oname, orders)):
            up = wait_for(f"{base}/readyz", name)
            check(up, f"{name}: /readyz 200")
            if not up:
                print(logs(name)[-3000:])
                return
        api_checks(orders, txlog)
    finally:
        stop(oname)
        stop(tname)
        podman("rm", "-f", oname, tname, check_rc=False)


def read_only_defaults(image: str, signing_key: str) -> None:
    """The SQLite defaults (./data under /home/nonroot) with a read-only root: each service
    must stop, naming the directory it could not create."""
    log("--- read-only root with the SQLite defaults")
    orders_env = {"ORDERS_AUTH_HS256_SECRET": SECRET, "ORDERS_AUTH_AUDIENCE": "order-service",
                  "ORDERS_TXLOG_TOKEN": token("order-service", "txlog-service", "txlog:write")}
    # A file directly in an existing, read-only directory: the open names the file.
    name = f"{PREFIX}-ro-file"
    run(image, name, {**orders_env, "ORDERS_LISTEN": f"127.0.0.1:{free_port()}",
                      "ORDERS_DATABASE_URL": "sqlite://orders.db"}, command=[])
    try:
        code = podman("wait", name, timeout=60).stdout.strip()
        out = logs(name)
        check(code not in ("0", "") and "cannot open the SQLite database /home/nonroot/orders.db" in out,
              f"order-service with sqlite://orders.db: stops (exit {code}) naming /home/nonroot/orders.db")
    finally:
        podman("rm", "-f", name, check_rc=False)
    for binary, env in (
        ("order-service", {"ORDERS_AUTH_HS256_SECRET": SECRET, "ORDERS_AUTH_AUDIENCE": "order-service",
                           "ORDERS_TXLOG_TOKEN": token("order-service", "txlog-service", "txlog:write"),
                           "ORDERS_LISTEN": f"127.0.0.1:{free_port()}"}),
        ("txlog-service", {"TXLOG_AUTH_HS256_SECRET": SECRET, "TXLOG_AUTH_AUDIENCE": "txlog-service",
                           "TXLOG_SIGNING_KEY": signing_key, "TXLOG_LISTEN": f"127.0.0.1:{free_port()}"}),
    ):
        name = f"{PREFIX}-ro-{binary}"
        run(image, name, env, command=[f"/usr/local/bin/{binary}"])
        try:
            code = podman("wait", name, timeout=60).stdout.strip()
            out = logs(name)
            named = "/home/nonroot/data" in out and "Read-only file system" in out
            line = next((ln for ln in out.splitlines() if "/home/nonroot/data" in ln), "")
            check(code not in ("0", "") and named,
                  f"{binary}: stops (exit {code}) naming /home/nonroot/data: {line[-160:]}")
            if not named:
                print(out[-2000:])
        finally:
            podman("rm", "-f", name, check_rc=False)


def witnessed(txlog: str, vkey: str, tok: str, seconds: float = 60) -> None:
    """Waits until GET /v1/checkpoint carries a cosignature line of the witness `vkey`
    (`<name>+<8 hex key hash>+<base64 key>`) over a tree that holds a record. The signature
    itself is checked by the Rust witness tests and tests/tlogcheck; here the wiring: the log
    reached the witness over HTTPS and serves what it cosigned."""
    name, key_hash, _ = vkey.rsplit("+", 2)
    started, deadline, note = time.monotonic(), time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        status, note = http("GET", f"{txlog}/v1/checkpoint", tok)
        if status == 200 and isinstance(note, str):
            size = int(note.split("\n")[1])
            lines = [line.split(" ") for line in note.split("\n\n", 1)[1].splitlines()]
            if size >= 1 and any(len(parts) == 3 and parts[1] == name
                                 and base64.b64decode(parts[2])[:4].hex() == key_hash
                                 for parts in lines):
                log(f"checkpoint of size {size} cosigned by {name} after "
                    f"{time.monotonic() - started:.0f}s")
                return
        time.sleep(1)
    check(False, f"GET /v1/checkpoint cosigned by {name} within {seconds:.0f}s (last: {note!r})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="localhost/ordersys:ci")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (a database is created and dropped)")
    parser.add_argument("--urls", nargs=2, metavar=("ORDERS", "TXLOG"),
                        help="only the API checks, against services already running (compose)")
    parser.add_argument("--keycloak", metavar="ISSUER",
                        help="with --urls: user tokens from this realm (its issuer URL as reached from here)")
    parser.add_argument("--cacert", help="CA file for --keycloak's HTTPS")
    parser.add_argument("--witness", metavar="VKEY",
                        help="with --urls: GET /v1/checkpoint must carry this witness's cosignature")
    parser.add_argument("--delivery-token", action="store_true",
                        help="print the order service's delivery token (txlog:write) and exit")
    args = parser.parse_args()
    started = time.monotonic()
    if args.delivery_token:
        print(token("order-service", "txlog-service", "txlog:write"))
        return 0
    if args.urls:
        orders, txlog = args.urls
        for base in (txlog, orders):
            deadline = time.monotonic() + 300
            while (status := http("GET", f"{base}/readyz")[0]) != 200 and time.monotonic() < deadline:
                time.sleep(1)
            log(f"{base}/readyz {status} after {time.monotonic() - started:.0f}s")
        tokens = Tokens(args.keycloak, args.cacert)
        if args.keycloak:
            ready = tokens.wait(300)
            log(f"{args.keycloak} {'answers' if ready else 'does not answer'} after "
                f"{time.monotonic() - started:.0f}s")
        api_checks(orders, txlog, tokens)
        if args.witness:
            witnessed(txlog, args.witness, tokens.user("auditor", "txlog-service", "txlog:read"))
        log(f"{'FAILED: ' + '; '.join(failures) if failures else 'all checks passed'} "
            f"({time.monotonic() - started:.0f}s)")
        return 1 if failures else 0

    log("--- image")
    user = podman("image", "inspect", "--format", "{{.Config.User}}", args.image).stdout.strip()
    check(user == "65532:65532", f"runs as {user}")
    r = podman("run", "--rm", *HARDENED, "--entrypoint=/bin/sh", args.image, "-c", "true", check_rc=False)
    check(r.returncode != 0, "no shell in the image")
    r = podman("run", "--rm", *HARDENED, args.image, "/usr/local/bin/txlog-service", "keygen", "--name",
               "ordersys/image-smoke")
    signing_key = r.stdout.strip()
    check(signing_key.startswith("PRIVATE+KEY+"), "txlog-service keygen")

    database = f"ordersys_image_smoke_{os.getpid()}"
    psql = ["psql", "-X", "-q", args.pg + "/postgres", "-c"]
    subprocess.run([*psql, f'CREATE DATABASE "{database}"'], check=True)
    work = tempfile.mkdtemp(prefix="ordersys-image-smoke-")
    try:
        scenario(args.image, "postgres", f"{args.pg}/{database}", work, signing_key, [])
        orders_data = volume_dir(work, "orders")
        scenario(args.image, "sqlite", "sqlite:///var/lib/orders/orders.db", work, signing_key,
                 [f"--volume={orders_data}:/var/lib/orders"])
        read_only_defaults(args.image, signing_key)
    finally:
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], check=False)
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(Exception):
            names = podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
            leftover = [n for n in names if n.startswith(PREFIX)]
            if leftover:
                podman("rm", "-f", *leftover, check_rc=False)
    log(f"{'FAILED: ' + '; '.join(failures) if failures else 'all checks passed'} "
        f"({time.monotonic() - started:.0f}s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
