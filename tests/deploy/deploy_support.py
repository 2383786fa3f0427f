"""Shared constants and helpers for the deployment tests (Dockerfile, compose.yaml, Helm chart).

A plain module (not conftest.py) so that `from deploy_support import ...` is
unambiguous when other test directories have their own conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "ordersys"
PRODUCTION_VALUES = CHART / "ci" / "values-production.yaml"
# Every example values file; each is linted, rendered and checked like the defaults.
CI_VALUES = sorted((CHART / "ci").glob("values-*.yaml"))
REALM = ROOT / "deploy" / "keycloak" / "ordersys-realm.json"

# Every environment variable SPEC sections 3, 10 and 11 name (plus the standard
# OTEL_* family and SSL_CERT_FILE). Deployment files may set nothing else for
# our services.
SPEC_ENV = frozenset(
    {
        "ORDERS_LISTEN",
        "ORDERS_DATABASE_URL",
        "ORDERS_TXLOG_URL",
        "ORDERS_TXLOG_TOKEN",
        "ORDERS_TXLOG_TOKEN_URL",
        "ORDERS_TXLOG_CLIENT_ID",
        "ORDERS_TXLOG_CLIENT_SECRET",
        "ORDERS_TXLOG_SCOPE",
        "TXLOG_LISTEN",
        "TXLOG_DATABASE_URL",
        # SPEC section 10: the verifiable log.
        "TXLOG_SIGNING_KEY",
        "TXLOG_SIGNING_KEY_FILE",
        "TXLOG_LOG_ORIGIN",
        "TXLOG_CHECKPOINT_INTERVAL_MS",
        # SPEC section 12: witnesses.
        "TXLOG_WITNESSES",
        "TXLOG_WITNESS_QUORUM",
        "LOG_FORMAT",
        "RUST_LOG",
        # SPEC section 11: rate limits (order service).
        "ORDERS_RATE_LIMIT",
        "ORDERS_RATE_LIMIT_ANONYMOUS",
        # Extra CA certificates for outgoing HTTPS (identity provider, token URL).
        "SSL_CERT_FILE",
    }
    | {
        # SPEC section 11: metrics listener, drain delay, TLS (both services); issue 28:
        # connections per address, trusted proxies.
        f"{p}_{v}"
        for p in ("ORDERS", "TXLOG")
        for v in (
            "METRICS_LISTEN",
            "SHUTDOWN_DELAY",
            "TLS_CERT_FILE",
            "TLS_KEY_FILE",
            "MAX_CONNECTIONS_PER_ADDRESS",
            "TRUSTED_PROXIES",
        )
    }
    | {
        f"{p}_AUTH_{v}"
        for p in ("ORDERS", "TXLOG")
        for v in ("ISSUER", "JWKS_URL", "AUDIENCE", "HS256_SECRET", "PUBLIC_KEY_FILE")
    }
)
OTEL_ENV = re.compile(r"^OTEL_[A-Z0-9_]+$")

# Variables whose values are credentials: in Kubernetes they must come from a
# Secret (secretKeyRef), never from a literal value or a ConfigMap.
SECRET_ENV = frozenset(
    {
        "ORDERS_DATABASE_URL",
        "TXLOG_DATABASE_URL",
        "ORDERS_TXLOG_TOKEN",
        "ORDERS_TXLOG_CLIENT_ID",
        "ORDERS_TXLOG_CLIENT_SECRET",
        "ORDERS_AUTH_HS256_SECRET",
        "TXLOG_AUTH_HS256_SECRET",
        # The transaction log's checkpoint signing key, inline. Deployments
        # mount it as a file instead (TXLOG_SIGNING_KEY_FILE).
        "TXLOG_SIGNING_KEY",
    }
)

# A C2SP signed-note private key (`txlog-service keygen` output).
SIGNED_NOTE_PRIVATE_KEY = re.compile(r"PRIVATE\+KEY\+")

# user:password@ inside a URL
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def is_spec_env(name: str) -> bool:
    return name in SPEC_ENV or bool(OTEL_ENV.match(name))


# Metric names the services export, as written in crates/: the name given to a
# `metrics` macro (`counter!("…")`, `gauge!`, `histogram!`, `describe_*!`),
# literally or through a `const NAME: &str = "…"`.
METRIC_MACRO = re.compile(r'\b(?:counter|gauge|histogram|describe_counter|describe_gauge|describe_histogram)!\(\s*(?:"([a-z][a-z0-9_]*)"|([A-Z][A-Z0-9_]*)\b)')
STR_CONST = re.compile(r'\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&str\s*=\s*"([^"]*)"')


def metrics_in_code() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "crates").rglob("*.rs"):
        if "tests" in path.parts or "benches" in path.parts:
            continue
        text = path.read_text()
        consts = dict(STR_CONST.findall(text))
        for literal, const in METRIC_MACRO.findall(text):
            if literal:
                names.add(literal)
            elif const in consts:
                names.add(consts[const])
    return names


def load_yaml(path: Path):
    with path.open() as f:
        return yaml.safe_load(f)
