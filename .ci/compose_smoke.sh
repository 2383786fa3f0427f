#!/usr/bin/env bash
# compose.yaml under podman-compose (PyPI), with tests/image/compose.podman.yaml for what no
# registry here serves (PostgreSQL from Debian, FerretDB in place of MongoDB, Keycloak from the
# Maven Central dist: images built here, each rebuilt when its inputs change), and the image
# smoke test's API checks against the whole stack (tests/image/smoke.py --urls --keycloak): an
# order created with a Keycloak user token, its record delivered to the log on the MongoDB store
# with the order service's client-credentials token, the chain verified, the served checkpoint
# cosigned by the compose witness (litewitness over HTTPS); then SIGTERM (compose stop) ends both
# services with exit status 0, and the setup job has exited 0.
# Runs only when deploy/, compose.yaml, the Dockerfile, tests/image/, .ci/keycloak.sh,
# .ci/ferretdb.sh, .ci/witness.sh or this script changed since its last pass (marker in ~/.cache/ordersys), or
# with COMPOSE_SMOKE=1. Prints how long the stack took to come up and pass.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${ORDERSYS_CACHE:-$HOME/.cache/ordersys}
MARKER=$CACHE/compose-smoke.passed
start=$SECONDS
say() { printf '[compose_smoke.sh %4ss] %s\n' "$((SECONDS - start))" "$*"; }

inputs=$(git ls-files -co --exclude-standard deploy compose.yaml Dockerfile tests/image .ci/compose_smoke.sh \
  .ci/keycloak.sh .ci/ferretdb.sh .ci/witness.sh | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "${COMPOSE_SMOKE:-}" != 1 ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$inputs" ]; then
  say "deploy/, compose.yaml and the Dockerfile unchanged since the last pass: skipped"
  exit 0
fi

command -v podman-compose >/dev/null || pip install -q podman-compose
export SMOKE_IMAGE=${SMOKE_IMAGE:-localhost/ordersys:ci}
podman image exists "$SMOKE_IMAGE" || IMAGE=$SMOKE_IMAGE IMAGE_SMOKE=0 bash .ci/image.sh

# build_image NAME CONTEXT [INPUT...]: builds NAME from CONTEXT/Containerfile unless an image of
# that name was built from the same inputs (label ordersys.inputs).
build_image() {
  local name=$1 context=$2; shift 2
  local sum
  sum=$(cat "$context/Containerfile" "$@" | sha256sum | cut -d' ' -f1)
  if [ "$(podman image inspect --format '{{index .Labels "ordersys.inputs"}}' "$name" 2>/dev/null)" = "$sum" ]; then
    return
  fi
  say "building $name"
  nice -n 10 podman build --pull=never --network=host -q --label "ordersys.inputs=$sum" -t "$name" "$context" >/dev/null
}
build_image localhost/ordersys-postgres:15 tests/image/postgres tests/image/postgres/entrypoint.sh

# FerretDB: the binary .ci/ferretdb.sh builds (cached), beside its Containerfile.
bash .ci/ferretdb.sh >/dev/null
ctx=$(mktemp -d "$CACHE/compose-ferretdb.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp tests/image/ferretdb/Containerfile "$CACHE/bin/ferretdb" "$ctx/"
build_image localhost/ordersys-ferretdb:1.24.2 "$ctx" "$ctx/ferretdb"
rm -rf "$ctx"

# Keycloak: the dist .ci/keycloak.sh caches (hard-linked into the context), and the JDK 21+ that
# .ci/keycloak.sh runs Keycloak with.
KEYCLOAK_VERSION=$(sed -n 's/^VERSION="${KEYCLOAK_VERSION:-\(.*\)}"$/\1/p' .ci/keycloak.sh)
bash .ci/keycloak.sh install
dist=$CACHE/keycloak/$KEYCLOAK_VERSION/keycloak-$KEYCLOAK_VERSION
jdk=
for candidate in ${JAVA_HOME:-} $(ls -d /usr/lib/jvm/*/ | sort -rV); do
  v=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
  if [ "${v:-0}" -ge 21 ]; then jdk=${candidate%/}; break; fi
done
[ -n "$jdk" ] || { echo "Keycloak needs a JDK 21 or later under /usr/lib/jvm" >&2; exit 1; }
keycloak_sum=$( (cat tests/image/keycloak/Containerfile; echo "$KEYCLOAK_VERSION"; "$jdk/bin/java" -version 2>&1) |
  sha256sum | cut -d' ' -f1)
if [ "$(podman image inspect --format '{{index .Labels "ordersys.inputs"}}' "localhost/ordersys-keycloak:$KEYCLOAK_VERSION" 2>/dev/null)" != "$keycloak_sum" ]; then
  say "building localhost/ordersys-keycloak:$KEYCLOAK_VERSION (dist $dist, Java from $jdk)"
  ctx=$(mktemp -d "$CACHE/compose-keycloak.XXXXXX")
  trap 'rm -rf "$ctx"' EXIT
  cp tests/image/keycloak/Containerfile "$ctx/"
  cp -al "$dist" "$ctx/keycloak"
  rm -rf "$ctx/keycloak/data" "$ctx/keycloak/lib/quarkus/ordersys-build-options"
  # The JDK as it is (Temurin's has no jmods, so jlink cannot cut a runtime from it), hard-linked;
  # its symbolic links (cacerts -> /etc/ssl/certs/java/cacerts) replaced by the files they name.
  cp -al "$jdk" "$ctx/java" 2>/dev/null || { rm -rf "$ctx/java"; cp -a "$jdk" "$ctx/java"; }
  rm -rf "$ctx/java/man" "$ctx/java/include"
  find "$ctx/java" -type l | while read -r link; do
    cp -L "$link" "$link.file" && mv -f "$link.file" "$link"
  done
  nice -n 10 podman build --pull=never --network=none -q --label "ordersys.inputs=$keycloak_sum" \
    -t "localhost/ordersys-keycloak:$KEYCLOAK_VERSION" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
trap - EXIT

# The witness: the litewitness and witnessctl binaries .ci/witness.sh builds (cached), with
# deploy/witness/entrypoint.sh as shipped.
bash .ci/witness.sh >/dev/null
ctx=$(mktemp -d "$CACHE/compose-witness.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp tests/image/witness/Containerfile deploy/witness/entrypoint.sh "$CACHE/bin/litewitness" "$CACHE/bin/witnessctl" "$ctx/"
build_image localhost/ordersys-witness:0.6.1 "$ctx" "$ctx/entrypoint.sh" "$ctx/litewitness" "$ctx/witnessctl"
rm -rf "$ctx"
trap - EXIT
for port in 8080 8081 8443; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use on this machine; compose.yaml publishes it" >&2; exit 1
  fi
done

services=(postgres mongo txlog-setup keycloak witness txlog-service order-service)
compose=(podman-compose -p ordersys-compose-smoke -f compose.yaml -f tests/image/compose.podman.yaml)
trap '"${compose[@]}" down -v >/dev/null 2>&1 || true' EXIT
say "podman-compose up (${services[*]})"
# --no-deps: the collector, which depends_on names, is not started (no image here).
"${compose[@]}" up -d --no-build --no-deps "${services[@]}" >"$CACHE/compose-smoke.log" 2>&1 ||
  { tail -30 "$CACHE/compose-smoke.log"; exit 1; }
up=$SECONDS
if ! python3 tests/image/smoke.py --urls http://127.0.0.1:8080 http://127.0.0.1:8081 \
  --keycloak https://localhost:8443/realms/ordersys --cacert deploy/compose/dev-ca.crt \
  --witness "$(cat deploy/compose/witness-verifier-key.txt)"; then
  "${compose[@]}" ps || true
  "${compose[@]}" logs --tail 40 || true
  exit 1
fi
say "stack up and checked in $((SECONDS - up)) s"
"${compose[@]}" ps
# SIGTERM (compose stop): both services exit 0; the setup job has exited 0 before. The
# services are stopped first, while what they depend on still runs, as Docker Compose's
# reverse dependency order and a Kubernetes rollout do (podman-compose stops all at once).
"${compose[@]}" stop order-service txlog-service >/dev/null 2>&1
"${compose[@]}" stop >/dev/null 2>&1
failed=0
for svc in txlog-setup txlog-service order-service; do
  c=ordersys-compose-smoke_${svc}_1
  read -r code restarts < <(podman inspect --format '{{.State.ExitCode}} {{.RestartCount}}' "$c")
  say "$svc: exit status $code, $restarts restart(s) while starting"
  [ "$code" = 0 ] || failed=1
done
[ "$failed" = 0 ] || { "${compose[@]}" logs --tail 40 || true; exit 1; }
"${compose[@]}" down -v >/dev/null 2>&1
trap - EXIT
echo "$inputs" >"$MARKER"
say "passed"
