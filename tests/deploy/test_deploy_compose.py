"""Static checks of compose.yaml and the files it mounts (Keycloak realm,
OpenTelemetry Collector config). No Docker engine is needed or used."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from deploy_support import ROOT, is_spec_env, load_yaml

COMPOSE = ROOT / "compose.yaml"
REALM = ROOT / "deploy" / "keycloak" / "ordersys-realm.json"
COLLECTOR = ROOT / "deploy" / "otel-collector" / "config.yaml"
VERIFIER_KEY = ROOT / "deploy" / "compose" / "txlog-verifier-key.txt"

# Our long-running services and the one-shot MongoDB setup, all from our image.
OURS = {
    "order-service": ("/usr/local/bin/order-service", "ORDERS_LISTEN"),
    "txlog-service": ("/usr/local/bin/txlog-service", "TXLOG_LISTEN"),
}
SCOPES = {"orders:read", "orders:write", "orders:admin", "txlog:write", "txlog:read"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def realm() -> dict:
    return json.loads(REALM.read_text())


def env(service: dict) -> dict[str, str]:
    e = service.get("environment", {})
    if isinstance(e, list):
        e = dict(item.split("=", 1) for item in e)
    return {k: str(v) for k, v in e.items()}


def our_services(services) -> dict:
    return {n: s for n, s in services.items() if str(s.get("image", "")).startswith("ordersys:")}


def published(service) -> dict[int, int]:
    """container port -> host port"""
    out = {}
    for p in service.get("ports", []):
        host, container = str(p).split(":")[-2:]  # "[ip:]host:container"
        out[int(container)] = int(host)
    return out


def test_the_stack_is_complete(services):
    assert {"postgres", "mongo", "txlog-setup", "keycloak", "otel-collector",
            "order-service", "txlog-service"} <= set(services)


def test_images_are_pinned(services):
    for name, s in services.items():
        if "build" in s:
            assert (ROOT / s["build"]["context"] / s["build"].get("dockerfile", "Dockerfile")).is_file()
            continue
        image = s["image"]
        repo_tag = image.rsplit("/", 1)[-1]
        assert ":" in repo_tag or "@sha256:" in image, f"{name}: untagged image {image}"
        tag = repo_tag.split(":", 1)[1]
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"


def test_our_services_use_only_spec_variables(services):
    ours = our_services(services)
    assert set(ours) == {"order-service", "txlog-service", "txlog-setup"}
    for name, s in ours.items():
        for var in env(s):
            assert is_spec_env(var), f"{name}: {var} is not a variable SPEC names"


def test_our_services_are_locked_down(services):
    for name, s in our_services(services).items():
        assert s["read_only"] is True, name
        assert s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
        assert "user" not in s or s["user"] not in ("root", "0"), name


def test_commands_ports_and_healthchecks(services):
    for name, (binary, listen_var) in OURS.items():
        s = services[name]
        assert s["command"] == [binary]
        listen = env(s)[listen_var]
        host, port = listen.rsplit(":", 1)
        assert host == "0.0.0.0", f"{name} must listen on all interfaces in a container"
        assert published(s) == {int(port): int(port)}
        # The runtime image has no shell or curl: the binary checks itself.
        assert s["healthcheck"]["test"] == ["CMD", binary, "healthcheck"]
        assert int(str(s["stop_grace_period"]).rstrip("s")) >= 35


def test_start_order(services):
    """Start order without `condition:` (podman-compose leaves services "Created" behind
    `service_completed_successfully` and ignores health conditions): plain lists, and restart
    policies that start a service again until what it needs is there."""
    def deps(name):
        d = services[name].get("depends_on", [])
        assert isinstance(d, list), f"{name}: depends_on is a plain list, no conditions"
        return set(d)

    assert deps("txlog-setup") == {"mongo"}
    assert {"mongo", "txlog-setup", "keycloak"} <= deps("txlog-service")
    assert {"postgres", "keycloak"} <= deps("order-service")
    # The one-shot setup is retried until it succeeds, and not after.
    assert services["txlog-setup"]["restart"] == "on-failure"
    for name in ("txlog-service", "order-service"):
        assert services[name]["restart"] in ("always", "unless-stopped"), name
    for name, s in services.items():
        for dep in s.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"


def test_postgres_url_matches_the_database(services):
    pg = env(services["postgres"])
    url = urlsplit(env(services["order-service"])["ORDERS_DATABASE_URL"])
    assert url.scheme == "postgres" and url.hostname == "postgres" and url.port == 5432
    assert (url.username, url.password, url.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])


def test_mongodb_setup_and_app_user(services):
    mongo = env(services["mongo"])
    setup = services["txlog-setup"]
    cmd = setup["command"]
    assert cmd[:2] == ["/usr/local/bin/txlog-service", "setup"]
    app_user = cmd[cmd.index("--app-user") + 1]
    password_file = cmd[cmd.index("--app-password-file") + 1]

    admin = urlsplit(env(setup)["TXLOG_DATABASE_URL"])
    assert admin.scheme == "mongodb" and admin.hostname == "mongo"
    assert (admin.username, admin.password) == (
        mongo["MONGO_INITDB_ROOT_USERNAME"], mongo["MONGO_INITDB_ROOT_PASSWORD"])

    # The password file is a compose secret; the service logs in as that user.
    (secret_name,) = setup["secrets"]
    assert password_file == f"/run/secrets/{secret_name}"
    secret_file = ROOT / load_yaml(COMPOSE)["secrets"][secret_name]["file"]
    password = secret_file.read_text()
    assert password and password == password.strip(), "no trailing newline in the password file"

    app = urlsplit(env(services["txlog-service"])["TXLOG_DATABASE_URL"])
    assert app.scheme == "mongodb" and app.hostname == "mongo"
    assert (app.username, app.password) == (app_user, password)
    assert app.username != admin.username, "the service must not run with admin credentials"
    assert app.path == admin.path, "setup and service use the same database"
    assert parse_qs(app.query)["authSource"] == [app.path.lstrip("/")]


# --- the transaction log's checkpoint signing key (SPEC section 10) -----------


def ed25519_public_key(seed: bytes) -> bytes:
    """RFC 8032 section 5.1.5, so that the test needs no crypto library."""
    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p

    def add(P, Q):
        x1, y1, z1, t1 = P
        x2, y2, z2, t2 = Q
        a, b = (y1 - x1) * (y2 - x2) % p, (y1 + x1) * (y2 + x2) % p
        c, dd = 2 * t1 * t2 * d % p, 2 * z1 * z2 % p
        e, f, g, h = b - a, dd - c, dd + c, b + a
        return e * f % p, g * h % p, f * g % p, e * h % p

    gy = 4 * pow(5, p - 2, p) % p
    x2 = (gy * gy - 1) * pow(d * gy * gy + 1, p - 2, p) % p
    gx = pow(x2, (p + 3) // 8, p)
    if (gx * gx - x2) % p:
        gx = gx * pow(2, (p - 1) // 4, p) % p
    if gx & 1:
        gx = p - gx
    h = hashlib.sha512(seed).digest()
    s = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    point, acc = (gx, gy, 1, gx * gy % p), (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = add(acc, point)
        point, s = add(point, point), s >> 1
    x, y, z, _ = acc
    zi = pow(z, p - 2, p)
    x, y = x * zi % p, y * zi % p
    return (y | (x & 1) << 255).to_bytes(32, "little")


def test_ed25519_helper_matches_rfc8032():
    # RFC 8032 section 7.1, TEST 1.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert ed25519_public_key(seed).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def signed_note_key(text: str, private: bool) -> tuple[str, str, bytes]:
    """(name, key id, key bytes after the 0x01 algorithm byte) of a C2SP signed-note key."""
    parts = text.strip().split("+")
    if private:
        assert parts[:2] == ["PRIVATE", "KEY"], "not a PRIVATE+KEY+… signed-note key"
        parts = parts[2:]
    name, key_id, key = parts
    assert name and not re.search(r"\s", name), name
    assert re.fullmatch(r"[0-9a-f]{8}", key_id), key_id
    raw = base64.b64decode(key, validate=True)
    assert len(raw) == 33 and raw[0] == 0x01, "an Ed25519 key is 0x01 followed by 32 bytes"
    return name, key_id, raw[1:]


def test_txlog_service_has_a_signing_key_file(compose, services):
    txlog = services["txlog-service"]
    e = env(txlog)
    assert "TXLOG_SIGNING_KEY" not in e, "the key is a compose secret (a file), not an environment value"
    path = e["TXLOG_SIGNING_KEY_FILE"]
    assert path.startswith("/run/secrets/")
    secret_name = path.removeprefix("/run/secrets/")
    assert secret_name in txlog["secrets"]
    key_file = ROOT / compose["secrets"][secret_name]["file"]
    assert key_file.is_file() and key_file.parent == ROOT / "deploy" / "compose"
    # Only the transaction log gets it.
    for name, s in our_services(services).items():
        if name != "txlog-service":
            assert secret_name not in s.get("secrets", []), name
            assert not any(k.startswith("TXLOG_SIGNING_KEY") for k in env(s)), name


def test_compose_signing_key_is_valid_and_labelled_dev_only(compose, services):
    e = env(services["txlog-service"])
    secret_name = e["TXLOG_SIGNING_KEY_FILE"].removeprefix("/run/secrets/")
    key_file = ROOT / compose["secrets"][secret_name]["file"]
    name, key_id, seed = signed_note_key(key_file.read_text(), private=True)
    v_name, v_key_id, public = signed_note_key(VERIFIER_KEY.read_text(), private=False)
    # The verifier key auditors are given belongs to this private key.
    assert public == ed25519_public_key(seed)
    assert (v_name, v_key_id) == (name, key_id)
    # key id = first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)
    assert hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex() == key_id
    # A committed key is public: the origin and the key name say "dev", and
    # the key is named after the origin (C2SP tlog-checkpoint).
    origin = e["TXLOG_LOG_ORIGIN"]
    assert name == origin and "dev" in origin and origin != "ordersys/txlog"
    assert "DEV ONLY" in COMPOSE.read_text()
    readme = (key_file.parent / "README.md").read_text()
    assert key_file.name in readme and VERIFIER_KEY.name in readme and "development-only" in readme


def test_delivery_and_telemetry_targets(services):
    order = env(services["order-service"])
    txlog_port = env(services["txlog-service"])["TXLOG_LISTEN"].rsplit(":", 1)[1]
    assert order["ORDERS_TXLOG_URL"] == f"http://txlog-service:{txlog_port}"
    collector = load_yaml(COLLECTOR)
    http_port = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    grpc_port = collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1]
    for name, s in our_services(services).items():
        e = env(s)
        endpoint = urlsplit(e["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname == "otel-collector"
        expected = {"http/protobuf": http_port, "grpc": grpc_port}[e["OTEL_EXPORTER_OTLP_PROTOCOL"]]
        assert str(endpoint.port) == expected, name
        assert e["LOG_FORMAT"] == "json"
    assert services["otel-collector"]["volumes"][0].split(":")[0] == "./deploy/otel-collector/config.yaml"


def test_keycloak_imports_the_realm_and_issuer_matches(services, realm):
    kc = services["keycloak"]
    assert "--import-realm" in kc["command"]
    mount = [v for v in kc["volumes"] if v.startswith("./deploy/keycloak:")]
    assert mount and mount[0].split(":")[1] == "/opt/keycloak/data/import"
    issuer = f"{env(kc)['KC_HOSTNAME']}/realms/{realm['realm']}"
    # The issuer is reachable from the containers under the same name tokens
    # carry, over HTTPS (the services refuse http:// issuers but on loopback).
    assert urlsplit(issuer).scheme == "https" and urlsplit(issuer).hostname == "keycloak"
    assert urlsplit(issuer).port == 8443 and 8443 in published(kc)
    order, txlog = env(services["order-service"]), env(services["txlog-service"])
    assert order["ORDERS_AUTH_ISSUER"] == issuer
    assert txlog["TXLOG_AUTH_ISSUER"] == issuer
    assert order["ORDERS_TXLOG_TOKEN_URL"] == f"{issuer}/protocol/openid-connect/token"
    assert order["ORDERS_AUTH_AUDIENCE"] == "order-service"
    assert txlog["TXLOG_AUTH_AUDIENCE"] == "txlog-service"


def audiences(client) -> set[str]:
    return {m["config"]["included.custom.audience"] for m in client.get("protocolMappers", [])
            if m["protocolMapper"] == "oidc-audience-mapper"}


def test_realm_clients_users_and_scopes(services, realm):
    assert {r["name"] for r in realm["roles"]["realm"]} >= SCOPES
    clients = {c["clientId"]: c for c in realm["clients"]}
    users = {u["username"]: u for u in realm["users"]}

    # The order service's delivery identity: confidential, client credentials,
    # txlog:write, audience txlog-service, same secret compose hands the service.
    order = env(services["order-service"])
    delivery = clients[order["ORDERS_TXLOG_CLIENT_ID"]]
    assert delivery["publicClient"] is False and delivery["serviceAccountsEnabled"] is True
    assert delivery["secret"] == order["ORDERS_TXLOG_CLIENT_SECRET"]
    assert audiences(delivery) == {"txlog-service"}
    (sa,) = [u for u in realm["users"] if u.get("serviceAccountClientId") == delivery["clientId"]]
    assert "txlog:write" in sa["realmRoles"]

    # A client for people, with tokens accepted by both services.
    people = [c for c in realm["clients"] if c.get("publicClient") and c.get("directAccessGrantsEnabled")]
    assert len(people) == 1
    assert audiences(people[0]) == {"order-service", "txlog-service"}

    expected = {
        "alice": {"orders:read", "orders:write"},
        "admin": {"orders:admin"},
        "auditor": {"txlog:read"},
    }
    for name, roles in expected.items():
        u = users[name]
        assert u["enabled"] and roles <= set(u["realmRoles"]), name
        assert set(u["realmRoles"]) & SCOPES <= roles | {"orders:read", "orders:write"}, name
        assert [c["type"] for c in u["credentials"]] == ["password"]
        # Keycloak 24+ refuses password grants for incomplete profiles.
        assert u["email"] and u["firstName"] and u["lastName"] and u["emailVerified"]
    assert "txlog:read" not in users["alice"]["realmRoles"]
    assert "orders:admin" not in users["alice"]["realmRoles"]

    # Scopes reach the token as realm_access.roles, which the services read.
    for c in (delivery, people[0]):
        mappers = {m["protocolMapper"]: m for m in c["protocolMappers"]}
        assert mappers["oidc-usermodel-realm-role-mapper"]["config"]["claim.name"] == "realm_access.roles"


def test_collector_pipelines_are_consistent():
    cfg = load_yaml(COLLECTOR)
    for kind in ("traces", "logs"):
        assert kind in cfg["service"]["pipelines"]
    for name, p in cfg["service"]["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for component in p.get(section, []):
                assert component in cfg[section], f"pipeline {name}: {component} is not defined"
    assert "debug" in cfg["exporters"]
    text = COLLECTOR.read_text()
    # Ready-to-uncomment exporters for the three big clouds.
    for exporter in ("googlecloud:", "awsxray:", "awscloudwatchlogs:", "azuremonitor:"):
        assert re.search(rf"^\s*#\s*{exporter}", text, re.M), exporter


# --- issue 14: nothing of the demo reachable from other machines -------------


def test_published_ports_are_bound_to_loopback(services):
    published_any = False
    for name, s in services.items():
        for p in s.get("ports", []):
            published_any = True
            # Short syntax only, "127.0.0.1:host:container": a bare "host:container"
            # publishes on every interface of the machine.
            assert isinstance(p, str) and p.startswith("127.0.0.1:") and p.count(":") == 2, (name, p)
    assert published_any


def test_mongo_health_check_has_a_start_period(services):
    hc = services["mongo"]["healthcheck"]
    # The first start initialises the data directory and restarts mongod.
    assert int(str(hc["start_period"]).rstrip("s")) >= 20


def test_keycloak_admin_is_not_admin_admin_and_is_a_labelled_dev_file(services):
    kc = services["keycloak"]
    assert not {"KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"} & set(env(kc))
    env_file = kc["env_file"]
    env_file = env_file if isinstance(env_file, str) else env_file[0]
    path = ROOT / env_file
    assert path.parent == ROOT / "deploy" / "compose"
    text = path.read_text()
    assert "DEV ONLY" in text
    values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    user, password = values["KC_BOOTSTRAP_ADMIN_USERNAME"], values["KC_BOOTSTRAP_ADMIN_PASSWORD"]
    assert password not in ("admin", user) and len(password) >= 16 and "dev" in password
    readme = (ROOT / "deploy" / "compose" / "README.md").read_text()
    assert path.name in readme
    assert all(p.startswith("127.0.0.1:") for p in kc["ports"])


def test_services_are_given_their_audience(services):
    # <P>_AUTH_AUDIENCE is required in every auth mode.
    assert env(services["order-service"])["ORDERS_AUTH_AUDIENCE"] == "order-service"
    assert env(services["txlog-service"])["TXLOG_AUTH_AUDIENCE"] == "txlog-service"


def test_identity_provider_urls_are_https_with_a_trusted_dev_ca(compose, services):
    kc = services["keycloak"]
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in kc["volumes"]}
    cert = mounts[env(kc)["KC_HTTPS_CERTIFICATE_FILE"]]
    assert mounts[env(kc)["KC_HTTPS_CERTIFICATE_KEY_FILE"]].is_file()
    assert env(kc)["KC_HTTP_ENABLED"] == "false"
    for name, prefix in (("order-service", "ORDERS"), ("txlog-service", "TXLOG")):
        e = env(services[name])
        urls = [e[f"{prefix}_AUTH_ISSUER"]] + ([e["ORDERS_TXLOG_TOKEN_URL"]] if prefix == "ORDERS" else [])
        for url in urls:
            assert urlsplit(url).scheme == "https", url
        ca_secret = e["SSL_CERT_FILE"].removeprefix("/run/secrets/")
        assert ca_secret in services[name]["secrets"]
        ca = ROOT / compose["secrets"][ca_secret]["file"]
        assert "PRIVATE KEY" not in ca.read_text()
        openssl = shutil.which("openssl")
        if openssl:
            # Keycloak's certificate chains to that CA and names the issuer's host.
            host = urlsplit(e[f"{prefix}_AUTH_ISSUER"]).hostname
            run = subprocess.run([openssl, "verify", "-CAfile", str(ca), "-verify_hostname", host, str(cert)],
                                 capture_output=True, text=True)
            assert run.returncode == 0, run.stdout + run.stderr


def test_scopes_the_services_request_are_client_scopes_of_their_client(services, realm):
    order = env(services["order-service"])
    clients = {c["clientId"]: c for c in realm["clients"]}
    client = clients[order["ORDERS_TXLOG_CLIENT_ID"]]
    scopes = {s["name"]: s for s in realm["clientScopes"]}
    for scope in order.get("ORDERS_TXLOG_SCOPE", "").split():
        assert scope in scopes and scope in client["defaultClientScopes"] + client["optionalClientScopes"]
    # A realm file with clientScopes gets none of Keycloak's built-in ones: every
    # client must still put `sub` into its access tokens (the services need it).
    for c in realm["clients"]:
        mappers = [m for name in c["defaultClientScopes"] for m in scopes[name].get("protocolMappers", [])]
        mappers += c.get("protocolMappers", [])
        assert any(m["protocolMapper"] == "oidc-sub-mapper" and m["config"]["access.token.claim"] == "true"
                   for m in mappers), c["clientId"]


def ssh_ed25519_public_key(line: str) -> bytes:
    """The 32-byte key of an OpenSSH `ssh-ed25519 AAAA... comment` line."""
    blob = base64.b64decode(line.split()[1])
    fields, i = [], 0
    while i < len(blob):
        n = int.from_bytes(blob[i:i + 4], "big")
        fields.append(blob[i + 4:i + 4 + n])
        i += 4 + n
    assert fields[0] == b"ssh-ed25519" and len(fields[1]) == 32
    return fields[1]


def test_the_witness_cosigns_this_log_over_https(compose, services):
    """The dev witness's key, name and TLS certificate match what the log is told, and it knows
    the log by its origin and verifier key."""
    witness, txlog = services["witness"], env(services["txlog-service"])
    w = env(witness)
    assert w["WITNESS_LOG_ORIGIN"] == txlog["TXLOG_LOG_ORIGIN"]
    secret = lambda name: ROOT / compose["secrets"][name]["file"]  # noqa: E731
    assert set(witness["secrets"]) == {"witness_ssh_key", "witness_tls_crt", "witness_tls_key",
                                       "txlog_verifier_key"}
    assert secret("txlog_verifier_key") == VERIFIER_KEY
    [(url, vkey)] = [entry.split() for entry in txlog["TXLOG_WITNESSES"].split(",")]
    assert txlog["TXLOG_WITNESS_QUORUM"] == "1"
    assert vkey == (ROOT / "deploy" / "compose" / "witness-verifier-key.txt").read_text().strip()
    # C2SP tlog-cosignature key: <name>+<hex SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4]>+<base64(0x04 ‖ key)>
    name, key_hash, key = vkey.rsplit("+", 2)
    public = ssh_ed25519_public_key(secret("witness_ssh_key").with_suffix(".pub").read_text())
    assert name == w["WITNESS_NAME"] and base64.b64decode(key) == b"\x04" + public
    assert hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4].hex() == key_hash
    assert "PRIVATE KEY" in secret("witness_ssh_key").read_text()
    # HTTPS (SPEC 11) with a certificate of the CA the log trusts, for the URL's host.
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.hostname == "witness" and "witness" in txlog_depends(services)
    ca = ROOT / compose["secrets"][txlog["SSL_CERT_FILE"].removeprefix("/run/secrets/")]["file"]
    openssl = shutil.which("openssl")
    if openssl:
        run = subprocess.run([openssl, "verify", "-CAfile", str(ca), "-verify_hostname", parts.hostname,
                              str(secret("witness_tls_crt"))], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    # Locked down like ours, its state on a volume.
    assert witness["read_only"] is True and witness["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in witness["security_opt"]
    assert any(v.endswith(":/var/lib/witness") for v in witness["volumes"])
    readme = (ROOT / "deploy" / "compose" / "README.md").read_text()
    for f in ("witness-ssh-key", "witness-tls.crt", "witness-tls.key", "witness-verifier-key.txt"):
        assert f in readme, f


def txlog_depends(services) -> set[str]:
    return set(services["txlog-service"].get("depends_on", []))
