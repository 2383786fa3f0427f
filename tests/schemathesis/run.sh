#!/usr/bin/env bash
# Property-based API fuzzing of both services from their own /openapi.json (Schemathesis),
# authenticated with real dev tokens. Starts the two debug binaries on SQLite stores in a
# temporary directory, and a second transaction log on its MongoDB store (a FerretDB server),
# runs a bounded number of examples per operation against each, stops them.
# Usage: bash tests/schemathesis/run.sh [max-examples]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/../.."
MAX_EXAMPLES="${1:-${SCHEMATHESIS_MAX_EXAMPLES:-30}}"
command -v st >/dev/null || pip install -q -r tests/schemathesis/requirements.txt
# Up to date binaries (a no-op when the test run already built them).
cargo build --locked --workspace --bins -q
BIN="${CARGO_TARGET_DIR:-target}/debug"

DIR="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SECRET="schemathesis-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s' "$SECRET" > "$DIR/dev-signing-key"
# The log's checkpoint signing key (stdout is the private key).
export TXLOG_SIGNING_KEY="$("$BIN/txlog-service" keygen --name schemathesis 2>/dev/null)"
token() { "$BIN/ordersys" token --data-dir "$DIR" --sub "$1" --scopes "$2" --ttl 3600 --audience ordersys-schemathesis; }
TXLOG_PORT="$(free_port)"
ORDERS_PORT="$(free_port)"
MONGO_PORT="$(free_port)"
TXLOG_MONGO_PORT="$(free_port)"
FERRETDB="${FERRETDB_BIN:-$HOME/.cache/ordersys/bin/ferretdb}"
[ -x "$FERRETDB" ] || { echo "FerretDB is missing: bash .ci/ferretdb.sh builds it"; exit 1; }

TXLOG_LISTEN="127.0.0.1:$TXLOG_PORT" TXLOG_DATABASE_URL="sqlite://$DIR/txlog.db" \
  TXLOG_AUTH_HS256_SECRET="$SECRET" TXLOG_AUTH_AUDIENCE=ordersys-schemathesis LOG_FORMAT=json RUST_LOG=warn \
  "$BIN/txlog-service" >"$DIR/txlog.log" 2>&1 &
PIDS+=($!)
ORDERS_LISTEN="127.0.0.1:$ORDERS_PORT" ORDERS_DATABASE_URL="sqlite://$DIR/orders.db" \
  ORDERS_TXLOG_URL="http://127.0.0.1:$TXLOG_PORT" ORDERS_TXLOG_TOKEN="$(token order-service txlog:write)" \
  ORDERS_AUTH_HS256_SECRET="$SECRET" ORDERS_AUTH_AUDIENCE=ordersys-schemathesis ORDERS_RATE_LIMIT_ANONYMOUS=off LOG_FORMAT=json RUST_LOG=warn \
  "$BIN/order-service" >"$DIR/orders.log" 2>&1 &
PIDS+=($!)
mkdir -p "$DIR/ferretdb"
"$FERRETDB" --handler=sqlite --sqlite-url="file:$DIR/ferretdb/" --state-dir="$DIR/ferretdb" \
  --listen-addr="127.0.0.1:$MONGO_PORT" --debug-addr=- --telemetry=disable --log-level=error \
  >"$DIR/ferretdb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $MONGO_PORT), 1)" 2>/dev/null && break
  sleep 0.1
done
MONGO_URL="mongodb://127.0.0.1:$MONGO_PORT/txlog?directConnection=true"
TXLOG_DATABASE_URL="$MONGO_URL" "$BIN/txlog-service" setup --skip-role >/dev/null
TXLOG_LISTEN="127.0.0.1:$TXLOG_MONGO_PORT" TXLOG_DATABASE_URL="$MONGO_URL" \
  TXLOG_AUTH_HS256_SECRET="$SECRET" TXLOG_AUTH_AUDIENCE=ordersys-schemathesis LOG_FORMAT=json RUST_LOG=warn \
  "$BIN/txlog-service" >"$DIR/txlog-mongo.log" 2>&1 &
PIDS+=($!)

for port in "$TXLOG_PORT" "$ORDERS_PORT" "$TXLOG_MONGO_PORT"; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
done

CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
status=0
run() {
  local name="$1" port="$2" token="$3"
  echo "--- schemathesis: $name"
  st run "http://127.0.0.1:$port/openapi.json" \
    --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" \
    --phases examples,coverage,fuzzing \
    --seed 1 \
    --generation-database none \
    --request-timeout 10 \
    --no-color \
    || status=1
}
run order-service "$ORDERS_PORT" "$(token alice 'orders:read orders:write orders:admin')"
run txlog-service "$TXLOG_PORT" "$(token auditor 'txlog:read txlog:write')"
run "txlog-service (MongoDB store on FerretDB)" "$TXLOG_MONGO_PORT" "$(token auditor 'txlog:read txlog:write')"

# Every service must still be alive and serving.
for port in "$TXLOG_PORT" "$ORDERS_PORT" "$TXLOG_MONGO_PORT"; do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "service on $port died"; status=1; }
done
LOGS=("$DIR/orders.log" "$DIR/txlog.log" "$DIR/txlog-mongo.log")
if grep -q '"severity":"ERROR"' "${LOGS[@]}"; then
  echo "--- errors logged by the services:"; grep -h '"severity":"ERROR"' "${LOGS[@]}" | head -20
  status=1
fi
exit "$status"
