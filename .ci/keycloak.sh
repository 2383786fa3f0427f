#!/usr/bin/env bash
# Keycloak for the OIDC end-to-end tests (tests/it/keycloak.rs and the console's sign-in), from
# Maven Central's server distribution, with the realm as shipped in deploy/keycloak/.
#
#   bash .ci/keycloak.sh install   download the dist once, run `kc.sh build` once (both cached
#                                  under ~/.cache/ordersys/keycloak/<version>)
#   eval "$(bash .ci/keycloak.sh start)"
#                                  installs if needed, starts Keycloak on 127.0.0.1 (plain http on
#                                  loopback, free ports, H2 "dev-file" storage in a new temporary
#                                  directory, deploy/keycloak/*.json imported), waits until the
#                                  realm answers, prints `export KEYCLOAK_URL=… KEYCLOAK_PID=…
#                                  KEYCLOAK_DIR=…`
#   eval "$(bash .ci/keycloak.sh launch)"; …; bash .ci/keycloak.sh wait
#                                  the same in two halves, so that other work runs while
#                                  Keycloak starts (about 30 s; .ci/run lints meanwhile)
#   bash .ci/keycloak.sh stop      stops the Keycloak that `start` started ($KEYCLOAK_PID) and
#                                  removes its directory ($KEYCLOAK_DIR)
#
# KEYCLOAK_URL is the server's base URL: the realm's issuer is $KEYCLOAK_URL/realms/ordersys.
# The bootstrap administrator of the master realm is admin/admin (this instance only; the tests
# use it for the admin REST API, e.g. key rotation). Needs Java 21 or later: $JAVA_HOME, or the
# newest JDK under /usr/lib/jvm.
set -euo pipefail
VERSION="${KEYCLOAK_VERSION:-26.7.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/keycloak/$VERSION"
DIST="$CACHE/keycloak-$VERSION"
# Build-time options (`kc.sh build`): embedded H2, so that a start needs no database server.
BUILD_OPTS=(--db=dev-file)

log() { printf 'keycloak.sh: %s\n' "$*" >&2; }

java_home() {
  local candidate
  for candidate in "${JAVA_HOME:-}" $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    local major
    major="$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
    if [ "${major:-0}" -ge 21 ]; then
      echo "${candidate%/}"
      return
    fi
  done
  log "Keycloak $VERSION needs Java 21 or later (set JAVA_HOME); none found under /usr/lib/jvm"
  exit 1
}

install() {
  export JAVA_HOME
  JAVA_HOME="$(java_home)"
  if [ ! -x "$DIST/bin/kc.sh" ]; then
    local url="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$VERSION/keycloak-quarkus-dist-$VERSION.zip"
    log "downloading $url"
    mkdir -p "$CACHE"
    local part="$CACHE/dist.zip.part"
    curl -fsSL --retry 3 -o "$part" "$url"
    curl -fsSL --retry 3 "$url.sha1" | awk '{print $1 "  '"$part"'"}' | sha1sum -c --quiet -
    rm -rf "$DIST" "$CACHE/unzip"
    unzip -q "$part" -d "$CACHE/unzip"
    mv "$CACHE/unzip/keycloak-$VERSION" "$DIST"
    rm -rf "$CACHE/unzip" "$part"
  fi
  local stamp="$DIST/lib/quarkus/ordersys-build-options"
  if [ "$(cat "$stamp" 2>/dev/null)" != "${BUILD_OPTS[*]}" ]; then
    log "kc.sh build ${BUILD_OPTS[*]}"
    rm -f "$stamp"
    nice -n 10 "$DIST/bin/kc.sh" build "${BUILD_OPTS[@]}" >&2
    echo "${BUILD_OPTS[*]}" >"$stamp"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

launch() {
  install
  # A home of its own: the built server (lib/, themes/, providers/) shared through symlinks,
  # its own conf/, data/ (the H2 database) and data/import/ (the realm as shipped).
  local run
  run="$(mktemp -d "${TMPDIR:-/tmp}/ordersys-keycloak.XXXXXX")"
  cp -r "$DIST/bin" "$DIST/conf" "$run/"
  ln -s "$DIST/lib" "$DIST/themes" "$DIST/providers" "$run/"
  mkdir -p "$run/data/import"
  cp "$ROOT"/deploy/keycloak/*.json "$run/data/import/"
  local port management
  port="$(free_port)"
  management="$(free_port)"
  # A bounded heap on a machine shared with the builds and the other test servers.
  JAVA_OPTS_KC_HEAP="-Xms64m -Xmx768m" \
    KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
    nohup "$run/bin/kc.sh" start --optimized --import-realm \
    --http-enabled=true --http-host=127.0.0.1 --http-port="$port" \
    --http-management-port="$management" --hostname-strict=false --cache=local \
    >"$run/keycloak.log" 2>&1 </dev/null &
  local pid=$!
  printf 'export KEYCLOAK_URL=%q KEYCLOAK_PID=%q KEYCLOAK_DIR=%q\n' "http://127.0.0.1:$port" "$pid" "$run"
}

# Waits until the realm answers at $KEYCLOAK_URL (the server started by `launch`).
wait_ready() {
  local deadline=$((SECONDS + 300))
  until curl -fs -o /dev/null "$KEYCLOAK_URL/realms/ordersys/.well-known/openid-configuration"; do
    if ! kill -0 "$KEYCLOAK_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      log "Keycloak did not start; the end of $KEYCLOAK_DIR/keycloak.log:"
      tail -n 40 "$KEYCLOAK_DIR/keycloak.log" >&2
      stop
      exit 1
    fi
    sleep 0.5
  done
  log "Keycloak $VERSION at $KEYCLOAK_URL (log: $KEYCLOAK_DIR/keycloak.log)"
}

stop() {
  if [ -n "${KEYCLOAK_PID:-}" ] && kill -0 "$KEYCLOAK_PID" 2>/dev/null; then
    kill -TERM "$KEYCLOAK_PID"
    # kc.sh passes SIGTERM on to Java and exits with it; wait for that.
    for _ in $(seq 1 100); do
      kill -0 "$KEYCLOAK_PID" 2>/dev/null || break
      sleep 0.2
    done
    pkill -KILL -P "$KEYCLOAK_PID" 2>/dev/null || true
    kill -KILL "$KEYCLOAK_PID" 2>/dev/null || true
  fi
  case "${KEYCLOAK_DIR:-}" in
    "${TMPDIR:-/tmp}"/ordersys-keycloak.*) rm -rf "$KEYCLOAK_DIR" ;;
  esac
}

case "${1:-}" in
  install) install ;;
  launch) launch ;;
  wait) wait_ready ;;
  start)
    eval "$(launch)"
    wait_ready
    printf 'export KEYCLOAK_URL=%q KEYCLOAK_PID=%q KEYCLOAK_DIR=%q\n' "$KEYCLOAK_URL" "$KEYCLOAK_PID" "$KEYCLOAK_DIR"
    ;;
  stop) stop ;;
  *)
    echo "usage: $0 install | launch | wait | start | stop" >&2
    exit 2
    ;;
esac
