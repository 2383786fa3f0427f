#!/usr/bin/env bash
# compose.yaml under podman-compose (PyPI), with tests/image/compose.podman.yaml for what no
# registry here serves, and the image smoke test's API checks against the stack
# (tests/image/smoke.py --urls). Runs only when deploy/, compose.yaml, the Dockerfile or this
# test changed since its last pass (marker in ~/.cache/ordersys), or with COMPOSE_SMOKE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${ORDERSYS_CACHE:-$HOME/.cache/ordersys}
MARKER=$CACHE/compose-smoke.passed
start=$SECONDS
say() { printf '[compose_smoke.sh %4ss] %s\n' "$((SECONDS - start))" "$*"; }

inputs=$(git ls-files -co --exclude-standard deploy compose.yaml Dockerfile tests/image .ci/compose_smoke.sh |
  sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "${COMPOSE_SMOKE:-}" != 1 ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$inputs" ]; then
  say "deploy/, compose.yaml and the Dockerfile unchanged since the last pass: skipped"
  exit 0
fi

command -v podman-compose >/dev/null || pip install -q podman-compose
export SMOKE_IMAGE=${SMOKE_IMAGE:-localhost/ordersys:ci}
podman image exists "$SMOKE_IMAGE" || IMAGE=$SMOKE_IMAGE IMAGE_SMOKE=0 bash .ci/image.sh
if ! podman image exists localhost/ordersys-postgres:15; then
  say "building localhost/ordersys-postgres:15 (Debian's PostgreSQL)"
  nice -n 10 podman build --pull=never --network=host -q -t localhost/ordersys-postgres:15 tests/image/postgres >/dev/null
fi
for port in 8080 8081; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use on this machine; compose.yaml publishes it" >&2; exit 1
  fi
done

SMOKE_HS256_SECRET="compose-smoke-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SMOKE_HS256_SECRET
SMOKE_TXLOG_TOKEN=$(python3 tests/image/smoke.py --delivery-token)
export SMOKE_TXLOG_TOKEN
compose=(podman-compose -p ordersys-compose-smoke -f compose.yaml -f tests/image/compose.podman.yaml)
trap '"${compose[@]}" down -v >/dev/null 2>&1 || true' EXIT
say "podman-compose up (postgres, txlog-service, order-service)"
"${compose[@]}" up -d --no-build --no-deps postgres txlog-service order-service >"$CACHE/compose-smoke.log" 2>&1 ||
  { tail -30 "$CACHE/compose-smoke.log"; exit 1; }
if ! python3 tests/image/smoke.py --urls http://127.0.0.1:8080 http://127.0.0.1:8081; then
  "${compose[@]}" ps || true
  "${compose[@]}" logs --tail 40 || true
  exit 1
fi
"${compose[@]}" ps
# SIGTERM (compose stop): both services exit 0.
"${compose[@]}" stop >/dev/null 2>&1
failed=0
for svc in txlog-service order-service; do
  c=ordersys-compose-smoke_${svc}_1
  read -r code restarts < <(podman inspect --format '{{.State.ExitCode}} {{.RestartCount}}' "$c")
  say "$svc: exit status $code after SIGTERM, $restarts restart(s) while starting"
  [ "$code" = 0 ] || failed=1
done
[ "$failed" = 0 ] || { "${compose[@]}" logs --tail 40 || true; exit 1; }
"${compose[@]}" down -v >/dev/null 2>&1
trap - EXIT
echo "$inputs" >"$MARKER"
say "passed"
