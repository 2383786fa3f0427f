#!/usr/bin/env bash
# A single-node Kubernetes on this machine for the Helm chart (issue 29), run by .ci/run after
# the image and compose steps.
#
#   bash .ci/k8s.sh         everything below, then down on exit (whatever failed)
#   bash .ci/k8s.sh up      the Debian packages when missing (etcd-server, containerd, runc,
#                           containernetworking-plugins, conntrack, iptables, ipset), the
#                           binaries (.ci/k8s_build.sh, cached), then etcd, the control plane,
#                           containerd, kubelet, kube-proxy, kube-router (NetworkPolicy) and
#                           CoreDNS
#   bash .ci/k8s.sh install the images imported (K8S_IMAGE, default localhost/ordersys:ci from
#                           .ci/image.sh; PostgreSQL and Keycloak from .ci/compose_smoke.sh),
#                           PostgreSQL (with its NetworkPolicy) and a DEV ONLY Keycloak in
#                           namespace shop, the chart with deploy/helm/values-evaluation.yaml by
#                           the install commands of docs/OPERATIONS.md
#   bash .ci/k8s.sh test    the chart tests (chart_tests below), one "ok:" or "FAIL:" line each
#   bash .ci/k8s.sh doc N   runs the block <!-- k8s.sh: N --> of docs/OPERATIONS.md
#   bash .ci/k8s.sh down    stops all of it by PID and removes what `up` made: iptables rules
#                           (kube-proxy's, kube-router's and kubelet's chains, ours by comment),
#                           kube-router's ipsets, the pods' network namespaces and veths,
#                           bridges, mounts under the state directory, the state directory
#
# NetworkPolicies are enforced by kube-router v2.1.0 with only its firewall on: iptables and
# ipset, which this kind of VM's kernel has (xt_set, physdev, br_netfilter). Not by
# kube-network-policies: its versions on the Go module proxy (v0.7.0, v0.8.0) queue packets
# with the nftables `queue` expression, which the kernel lacks (CONFIG_NFT_QUEUE is not set),
# and have no iptables mode. kube-router v2.1.0 is the one version the proxy serves and has
# reported security flaws (its BGP router's unauthenticated gRPC server, GHSA-v5mh-h5hx-7v92;
# dependencies); the router and service proxy are not run, and this is a test cluster only.
#
# Everything stays on this host: the node IP is on a bridge made here (this VM has no dummy
# devices), pods and services use private ranges on the CNI bridge, and forwarding from pods to
# the outside interface is dropped. The machine's quirks (issue 29): root lacks
# CAP_SYS_RESOURCE, so containerd's CRI runs with restrict_oom_score_adj; cgroups are hybrid
# v1/v2, so kubelet runs cgroupDriver cgroupfs with failCgroupV1 false; the apiserver reaches
# kubelet by InternalIP; images are built locally and imported with `ctr images import`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${K8S_STATE:-/tmp/ordersys-k8s}
NODE=ordersys-node
NODE_BRIDGE=ordk8s-node
NODE_IP=172.31.250.1
CNI_BRIDGE=ordk8s-cni0
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
APISERVER_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
PAUSE_IMAGE=localhost/ordersys-pause:3.10
# containerd's store is kept between runs (the imported images: about 1.5 GB, a minute to import
# and to delete); its containers are removed by `down` and, after a run that was killed, by `up`.
CTR_ROOT=${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/k8s/containerd-root
COMMENT=ordersys-k8s
start=$SECONDS
say() { printf '[k8s.sh %4ss] %s\n' "$((SECONDS - start))" "$*" >&2; }
export KUBECONFIG=$STATE/pki/admin.kubeconfig

# --- Debian packages -------------------------------------------------------------------------
# What the node runs besides the binaries of .ci/k8s_build.sh, installed when missing (the
# daemons are started here, never by their packages: this kind of VM has no init system).
# iptables: kube-proxy's and kube-router's rules; ipset: kube-router's address sets.
PACKAGES=(etcd-server containerd runc containernetworking-plugins conntrack iptables ipset)
packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q -q --no-install-recommends)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=600 -q -q update >/dev/null
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null
  }
}

# --- processes -------------------------------------------------------------------------------
# spawn NAME CMD...: starts CMD in the background, logging to $STATE/log/NAME.log, and records
# its PID in $STATE/pid/NAME.
spawn() {
  local name=$1; shift
  mkdir -p "$STATE/log" "$STATE/pid"
  nohup "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pid/$name"
}
# wait_until SECONDS WHAT CMD...: polls CMD until it succeeds.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "timed out waiting for $what"
      return 1
    fi
    sleep 1
  done
  say "$what"
}

# --- certificates ----------------------------------------------------------------------------
# One CA; the apiserver's serving certificate; a client certificate per component (kubelet's as
# system:node:$NODE in system:nodes, so the Node authorizer applies); the service-account keys.
pki() {
  local d=$STATE/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ordersys-k8s-ca \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  cert() {  # cert NAME SUBJECT [SANS]
    local name=$1 subj=$2 sans=${3:-}
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    local ext=$d/$name.ext
    {
      echo "basicConstraints=CA:FALSE"
      echo "keyUsage=digitalSignature,keyEncipherment"
      if [ -n "$sans" ]; then
        echo "extendedKeyUsage=serverAuth,clientAuth"
        echo "subjectAltName=$sans"
      else
        echo "extendedKeyUsage=clientAuth"
      fi
    } >"$ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile "$ext" -out "$d/$name.crt" 2>/dev/null
    rm -f "$d/$name.csr" "$ext"
  }
  cert apiserver /CN=kube-apiserver \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$APISERVER_SVC_IP,IP:$NODE_IP,IP:127.0.0.1"
  cert kubelet-serving "/CN=$NODE" "DNS:$NODE,IP:$NODE_IP"
  cert admin /O=system:masters/CN=ordersys-admin
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client
  cert controller-manager /CN=system:kube-controller-manager
  cert scheduler /CN=system:kube-scheduler
  cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  cert kube-proxy /CN=system:kube-proxy
  cert coredns /CN=ordersys-coredns
  cert kube-router /CN=ordersys-kube-router
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  for who in admin controller-manager scheduler kubelet kube-proxy coredns kube-router; do
    kubectl config set-cluster local --server="https://$NODE_IP:6443" --certificate-authority="$d/ca.crt" \
      --embed-certs --kubeconfig="$d/$who.kubeconfig" >/dev/null
    kubectl config set-credentials "$who" --client-certificate="$d/$who.crt" --client-key="$d/$who.key" \
      --embed-certs --kubeconfig="$d/$who.kubeconfig" >/dev/null
    kubectl config set-context local --cluster=local --user="$who" --kubeconfig="$d/$who.kubeconfig" >/dev/null
    kubectl config use-context local --kubeconfig="$d/$who.kubeconfig" >/dev/null
  done
}

# --- network ---------------------------------------------------------------------------------
network() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
    ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  fi
  ip link set "$NODE_BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # Pods reach this host and each other, never the outside interface. In the mangle table,
  # which packets cross before the filter table: kube-router keeps its jump first in filter
  # FORWARD and ACCEPTs there what the policies allow.
  local out
  out=$(ip route show default | awk '{print $5; exit}')
  iptables -t mangle -C FORWARD -s "$POD_CIDR" -o "$out" -m comment --comment "$COMMENT" -j DROP 2>/dev/null ||
    iptables -t mangle -I FORWARD -s "$POD_CIDR" -o "$out" -m comment --comment "$COMMENT" -j DROP
  mkdir -p "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-ordersys.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "ordersys",
  "plugins": [
    {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# --- the pause image -------------------------------------------------------------------------
# The sandbox image, made here: a static C program that waits for a signal (as Kubernetes'
# build/pause does), on an empty root.
pause_image() {
  podman image exists "$PAUSE_IMAGE" && return
  local ctx
  ctx=$(mktemp -d)
  cat >"$ctx/pause.c" <<'EOF'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
EOF
  gcc -Os -static -o "$ctx/pause" "$ctx/pause.c"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
  podman build --pull=never --network=none -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null 2>&1
  rm -rf "$ctx"
}

# import_image NAME [AS]: copies a podman image into containerd's k8s.io namespace, there also
# named AS (the name the chart's values give; podman's own names stay as they are). Skipped
# when containerd's store (kept between runs, CTR_ROOT) already holds that podman image ID
# under that name.
import_image() {
  local as=${2:-$1} ctr=(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io) id stamp
  id=$(podman image inspect --format '{{.Id}}' "$1")
  stamp=$CTR_ROOT/ordersys-imported/$(printf '%s' "$as" | tr '/:' '__')
  if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && "${ctr[@]}" images ls -q | grep -xF "$as" >/dev/null; then
    return 0
  fi
  say "importing $1${2:+ as $2}"
  podman save --format docker-archive "$1" 2>/dev/null | "${ctr[@]}" images import --no-unpack=false - >/dev/null
  if [ "$as" != "$1" ]; then "${ctr[@]}" images tag --force "$1" "$as" >/dev/null; fi
  mkdir -p "$(dirname "$stamp")" && echo "$id" >"$stamp"
}

# --- the chart -------------------------------------------------------------------------------
# Installs deploy/helm/ordersys with deploy/helm/values-evaluation.yaml into namespace shop, with
# PostgreSQL and Keycloak (the realm as shipped, the compose demo's DEV ONLY certificate) as
# plain Deployments there, from the local images .ci/compose_smoke.sh builds; then checks it.
IMAGE=${K8S_IMAGE:-localhost/ordersys:ci}
KEYCLOAK_IMAGE=localhost/ordersys-keycloak:26.7.3
POSTGRES_IMAGE=localhost/ordersys-postgres:15
CURL_IMAGE=localhost/ordersys-curl:ci
NS=shop

curl_image() {
  podman image exists "$CURL_IMAGE" && return
  local ctx
  ctx=$(mktemp -d)
  printf '%s\n' 'FROM localhost/ordersys-debian:bookworm' \
    'RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*' \
    'USER 65532:65532' >"$ctx/Containerfile"
  nice -n 10 podman build --pull=never --network=host -q -t "$CURL_IMAGE" "$ctx" >/dev/null 2>&1
  rm -rf "$ctx"
}

install_chart() {
  local img
  podman image exists "$IMAGE" || { echo "image $IMAGE missing: run .ci/image.sh first" >&2; return 1; }
  # PostgreSQL's and Keycloak's images are .ci/compose_smoke.sh's (it runs before this in
  # .ci/run); when its smoke was skipped and they are gone, it is run again to make them.
  if ! podman image exists "$POSTGRES_IMAGE" || ! podman image exists "$KEYCLOAK_IMAGE"; then
    say "building PostgreSQL's and Keycloak's images (.ci/compose_smoke.sh)"
    COMPOSE_SMOKE=1 SMOKE_IMAGE=$IMAGE bash .ci/compose_smoke.sh >"$STATE/log/compose_smoke.log" 2>&1 ||
      { tail -20 "$STATE/log/compose_smoke.log" >&2; return 1; }
  fi
  curl_image
  # As localhost/ordersys:ci, the name values-evaluation.yaml gives.
  import_image "$IMAGE" localhost/ordersys:ci
  for img in "$POSTGRES_IMAGE" "$KEYCLOAK_IMAGE" "$CURL_IMAGE"; do
    podman image exists "$img" || { echo "image $img missing (.ci/compose_smoke.sh, this script build it)" >&2; return 1; }
    import_image "$img"
  done
  kubectl create namespace "$NS" >/dev/null
  local c=deploy/compose
  kubectl -n "$NS" create configmap ordersys-dev-ca --from-file=ca.crt=$c/dev-ca.crt >/dev/null
  kubectl -n "$NS" create configmap keycloak-realm --from-file=deploy/keycloak/ordersys-realm.json >/dev/null
  kubectl -n "$NS" create secret tls keycloak-tls --cert=$c/keycloak-tls.crt --key=$c/keycloak-tls.key >/dev/null
  kubectl -n "$NS" create secret generic keycloak-admin --from-env-file=$c/keycloak-admin.env >/dev/null
  kubectl -n "$NS" create secret generic ordersys-orders-db \
    --from-literal=url=postgres://ordersys:ordersys-dev-password@postgres:5432/orders >/dev/null
  kubectl -n "$NS" create secret generic ordersys-txlog-db --from-literal=url=sqlite:///tmp/txlog.db >/dev/null
  kubectl -n "$NS" create secret generic ordersys-txlog-client \
    --from-literal=client-id=order-service --from-literal=client-secret=order-service-dev-secret >/dev/null
  # The log's key as OPERATIONS says: keygen's stdout into the Secret, its stderr (the verifier
  # key) kept to compare with the key the running log announces.
  podman run --rm --network=none "$IMAGE" /usr/local/bin/txlog-service keygen \
    --name ordersys/txlog-evaluation >"$STATE/signing-key" 2>"$STATE/verifier-key"
  kubectl -n "$NS" create secret generic ordersys-txlog-signing-key --from-file=signing-key="$STATE/signing-key" >/dev/null
  rm -f "$STATE/signing-key"
  kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: postgres}
spec:
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
        - name: postgres
          image: $POSTGRES_IMAGE
          imagePullPolicy: Never
          env:
            - {name: POSTGRES_USER, value: ordersys}
            - {name: POSTGRES_PASSWORD, value: ordersys-dev-password}
            - {name: POSTGRES_DB, value: orders}
          ports: [{containerPort: 5432}]
          readinessProbe: {tcpSocket: {port: 5432}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: postgres}
spec:
  selector: {app: postgres}
  ports: [{port: 5432}]
---
# The database admits the order service's pods only (the platform's policy, not the chart's:
# the chart's own policies limit what its pods reach, not who reaches a database).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: postgres}
spec:
  podSelector: {matchLabels: {app: postgres}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app.kubernetes.io/instance: ordersys, app.kubernetes.io/component: order-service}
      ports: [{protocol: TCP, port: 5432}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keycloak}
spec:
  selector: {matchLabels: {app: keycloak}}
  template:
    metadata: {labels: {app: keycloak}}
    spec:
      containers:
        - name: keycloak
          image: $KEYCLOAK_IMAGE
          imagePullPolicy: Never
          args: [start, --optimized, --import-realm]
          envFrom: [{secretRef: {name: keycloak-admin}}]
          env:
            - {name: KC_HOSTNAME, value: "https://keycloak:8443"}
            - {name: KC_HTTP_ENABLED, value: "false"}
            - {name: KC_HTTPS_CERTIFICATE_FILE, value: /opt/keycloak/conf/tls/tls.crt}
            - {name: KC_HTTPS_CERTIFICATE_KEY_FILE, value: /opt/keycloak/conf/tls/tls.key}
            - {name: KC_HEALTH_ENABLED, value: "true"}
            - {name: KC_HTTP_MANAGEMENT_SCHEME, value: http}
            - {name: JAVA_OPTS_KC_HEAP, value: "-Xms64m -Xmx512m"}
          ports: [{containerPort: 8443}]
          readinessProbe: {httpGet: {path: /health/ready, port: 9000}, periodSeconds: 2, failureThreshold: 150}
          volumeMounts:
            - {name: realm, mountPath: /opt/keycloak/data/import}
            - {name: tls, mountPath: /opt/keycloak/conf/tls}
      volumes:
        - {name: realm, configMap: {name: keycloak-realm}}
        - {name: tls, secret: {secretName: keycloak-tls}}
---
apiVersion: v1
kind: Service
metadata: {name: keycloak}
spec:
  selector: {app: keycloak}
  ports: [{port: 8443}]
EOF
  kubectl -n "$NS" rollout status deploy/postgres --timeout=120s >/dev/null
  say "PostgreSQL ready"
  kubectl -n "$NS" rollout status deploy/keycloak --timeout=300s >/dev/null
  say "Keycloak ready"
  local t0=$SECONDS
  doc_run install
  say "installed (docs/OPERATIONS.md commands) in $((SECONDS - t0)) s"
  kubectl -n "$NS" get pods -o wide
}

# doc_run NAME: runs the sh block that follows the marker `<!-- k8s.sh: NAME -->` in
# docs/OPERATIONS.md ("Trying the chart on one node"), so the commands documented there are
# the ones CI runs, word for word.
doc_run() {
  local block
  block=$(awk -v m="<!-- k8s.sh: $1 -->" '
    $0 == m {found = 1; next}
    found && /^```sh$/ {inside = 1; next}
    inside && /^```$/ {exit}
    inside {print}' docs/OPERATIONS.md)
  [ -n "$block" ] || { echo "no block <!-- k8s.sh: $1 --> in docs/OPERATIONS.md" >&2; return 1; }
  printf '%s\n' "$block" | sed 's/^/    $ /' >&2
  bash -euo pipefail -c "$block"
}

# The tests of issue 29 against the installed chart, each reported by its own line:
#  - every pod of the release Ready;
#  - `helm test`, as documented;
#  - an order through the order service's Service with a Keycloak token, its record in the log,
#    the chain verified (tests/image/smoke.py's API checks, from this host to the ClusterIPs,
#    and to Keycloak through a port-forward: its certificate names localhost; the tokens'
#    issuer stays https://keycloak:8443, the URL the pods use);
#  - the log signs with the key from its Secret (the verifier key it announces is keygen's);
#  - NetworkPolicies enforced (tests/k8s/network_policies.py): a pod outside the allowed set
#    reaches neither the log's write endpoint nor the database, the order service reaches both;
#  - a rolling update of the order service under load (tests/k8s/rolling_update.py), the
#    documented upgrade command with a changed pod annotation: zero failed calls, zero lost
#    records;
#  - the setup Job and its hook order (tests/k8s/setup_hooks.py), in a second release
#    (ordersys-hooks: the log only, setupJob on, install then upgrade);
#  - `helm uninstall`, as documented, leaves none of the release's objects behind.
chart_tests() {
  local orders txlog pf rc=0 t0
  report() {  # report OK|FAIL TEXT
    if [ "$1" = OK ]; then say "ok: $2"; else say "FAIL: $2"; rc=1; fi
  }
  if kubectl -n "$NS" wait --for=condition=Ready pod -l app.kubernetes.io/instance=ordersys --timeout=120s >/dev/null; then
    report OK "every pod of the release is Ready: $(kubectl -n "$NS" get pod -l app.kubernetes.io/instance=ordersys \
      -o jsonpath='{range .items[*]}{.metadata.name} (restarts {.status.containerStatuses[0].restartCount}) {end}')"
  else
    report FAIL "pods of the release not Ready: $(kubectl -n "$NS" get pod -l app.kubernetes.io/instance=ordersys --no-headers | tr '\n' ';')"
  fi

  t0=$SECONDS
  if doc_run test; then report OK "helm test passed in $((SECONDS - t0)) s"; else report FAIL "helm test"; fi

  orders=http://$(kubectl -n "$NS" get svc -l app.kubernetes.io/instance=ordersys,app.kubernetes.io/component=order-service -o jsonpath='{.items[0].spec.clusterIP}'):8080
  txlog=http://$(kubectl -n "$NS" get svc -l app.kubernetes.io/instance=ordersys,app.kubernetes.io/component=txlog-service -o jsonpath='{.items[0].spec.clusterIP}'):8081
  kubectl -n "$NS" port-forward svc/keycloak 18443:8443 >"$STATE/log/port-forward.log" 2>&1 &
  pf=$!
  wait_until 30 "port-forward to Keycloak" curl -fsk https://localhost:18443/realms/ordersys >/dev/null || true
  local kc=(--keycloak https://localhost:18443/realms/ordersys --cacert deploy/compose/dev-ca.crt)
  if python3 tests/image/smoke.py --urls "$orders" "$txlog" "${kc[@]}"; then
    report OK "an order through the Service, recorded in the log, chain verified"
  else
    report FAIL "the order through the Service (tests/image/smoke.py --urls)"
  fi

  local announced
  announced=$(kubectl -n "$NS" logs deploy/ordersys-txlog-service | python3 -c 'import json, sys
for line in sys.stdin:
    try:
        key = json.loads(line).get("verifier_key")
    except ValueError:
        continue
    if key:
        print(key)
        break')
  if [ -n "$announced" ] && [ "$announced" = "$(cat "$STATE/verifier-key")" ]; then
    report OK "the log signs with the key from Secret ordersys-txlog-signing-key ($announced)"
  else
    report FAIL "the log announces verifier key '$announced', keygen printed '$(cat "$STATE/verifier-key")'"
  fi

  if python3 tests/k8s/network_policies.py --namespace "$NS" --release ordersys --image "$CURL_IMAGE"; then
    report OK "NetworkPolicies enforced: outsiders reach neither the log's write endpoint nor the database; the order service reaches both"
  else
    report FAIL "NetworkPolicies (tests/k8s/network_policies.py)"
  fi

  # The load runs until the old pod is gone (its SIGTERM drain included), and 5 s more.
  local old
  t0=$SECONDS
  old=$(kubectl -n "$NS" get pod -l app.kubernetes.io/instance=ordersys,app.kubernetes.io/component=order-service -o name)
  if python3 tests/k8s/rolling_update.py --orders "$orders" --txlog "$txlog" "${kc[@]}" -- bash -c "
    bash .ci/k8s.sh doc upgrade && kubectl -n $NS wait --for=delete $old --timeout=120s"; then
    report OK "rolling update under load in $((SECONDS - t0)) s: no failed call, no lost record"
  else
    report FAIL "rolling update under load (tests/k8s/rolling_update.py)"
  fi
  kill "$pf" 2>/dev/null || true

  hooks_tests

  t0=$SECONDS
  doc_run uninstall || report FAIL "helm uninstall"
  # Pods go with their ReplicaSets (garbage collection), after their grace period.
  kubectl -n "$NS" wait --for=delete pod -l app.kubernetes.io/instance=ordersys --timeout=120s >/dev/null 2>&1 || true
  local left
  left=$(leftovers ordersys)
  if [ -z "$left" ] && [ -z "$(helm list -n "$NS" -q --filter '^ordersys$')" ]; then
    report OK "helm uninstall left none of the release's objects ($((SECONDS - t0)) s)"
  else
    report FAIL "helm uninstall left: $(echo "$left" | tr '\n' ' ')"
  fi
  return "$rc"
}

# leftovers RELEASE: the objects of every kind the chart can make (hooks and test objects
# included) still labelled with RELEASE, after up to 30 s for garbage collection.
leftovers() {
  local kinds=all,configmap,secret,serviceaccount,networkpolicy,poddisruptionbudget,horizontalpodautoscaler,job,role,rolebinding,ingress,endpointslice
  local left deadline=$((SECONDS + 30))
  while :; do
    left=$(kubectl -n "$NS" get "$kinds" -l app.kubernetes.io/instance="$1" -o name 2>/dev/null)
    [ -z "$left" ] || [ "$SECONDS" -ge "$deadline" ] && break
    sleep 2
  done
  echo "$left"
}

# The setup Job's hooks: a second release in the same namespace, the transaction log only
# (its Keycloak and Secrets are there), with txlogService.setupJob on. Its admin URL is an
# in-memory SQLite database: the Job runs `txlog-service setup` for real (as uid 65532, on a
# read-only root, under its hook NetworkPolicy), but what it prepares is dropped with it; the
# MongoDB setup itself is tested by the Rust suite against FerretDB (crates/txlog-service).
hooks_tests() {
  local rel=ordersys-hooks
  kubectl -n "$NS" create secret generic ordersys-txlog-setup \
    --from-literal=admin-url='sqlite://:memory:' --from-literal=app-password=hooks-test-password >/dev/null
  local chart=(deploy/helm/ordersys -n "$NS" -f deploy/helm/values-evaluation.yaml
    --set orderService.enabled=false --set networkPolicy.auditorsNamespace="$NS"
    --set txlogService.setupJob.enabled=true --wait --timeout 5m)
  if python3 tests/k8s/setup_hooks.py --namespace "$NS" --release "$rel" -- helm install "$rel" "${chart[@]}" &&
    python3 tests/k8s/setup_hooks.py --namespace "$NS" --release "$rel" --upgrade -- \
      helm upgrade "$rel" "${chart[@]}" --set-string txlogService.podAnnotations.rollout="$(date +%s)"; then
    report OK "the setup Job: its NetworkPolicy first, then the Job, then the Deployments; both hooks deleted after success (install and upgrade)"
  else
    report FAIL "the setup Job's hooks (tests/k8s/setup_hooks.py)"
  fi
  helm uninstall "$rel" -n "$NS" --wait --timeout 2m >/dev/null || report FAIL "helm uninstall $rel"
  kubectl -n "$NS" wait --for=delete pod -l app.kubernetes.io/instance="$rel" --timeout=120s >/dev/null 2>&1 || true
  local left
  left=$(leftovers "$rel")
  [ -z "$left" ] || report FAIL "helm uninstall $rel left: $(echo "$left" | tr '\n' ' ')"
  kubectl -n "$NS" delete secret ordersys-txlog-setup >/dev/null
}

# --- the cluster -----------------------------------------------------------------------------
up() {
  BIN=${K8S_BIN:-$(bash .ci/k8s_build.sh | tail -1)}
  export PATH=$BIN:$PATH
  [ -e "$STATE" ] && down
  packages
  mkdir -p "$STATE"
  echo "$BIN" >"$STATE/bin"
  say "certificates"
  pki
  network

  say "etcd $(etcd --version | awk '/etcd Version/ {print $3}')"
  spawn etcd etcd --name ordersys --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster ordersys=http://127.0.0.1:23800
  local d=$STATE/pki
  spawn kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:23790 \
    --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --client-ca-file="$d/ca.crt" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --kubelet-client-certificate="$d/apiserver-kubelet-client.crt" --kubelet-client-key="$d/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$d/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
  wait_until 180 "kube-apiserver ready" kubectl get --raw /readyz
  spawn kube-controller-manager kube-controller-manager --kubeconfig="$d/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$d/controller-manager.kubeconfig" --authorization-kubeconfig="$d/controller-manager.kubeconfig" \
    --cluster-signing-cert-file="$d/ca.crt" --cluster-signing-key-file="$d/ca.key" --root-ca-file="$d/ca.crt" \
    --service-account-private-key-file="$d/sa.key" --use-service-account-credentials=true \
    --service-cluster-ip-range="$SERVICE_CIDR" --leader-elect=false --bind-address=127.0.0.1
  spawn kube-scheduler kube-scheduler --kubeconfig="$d/scheduler.kubeconfig" \
    --authentication-kubeconfig="$d/scheduler.kubeconfig" --authorization-kubeconfig="$d/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1

  say "containerd $(containerd --version | awk '{print $3}')"
  mkdir -p "$STATE/containerd"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$CTR_ROOT"
state = "$STATE/containerd/state"
[grpc]
  address = "$STATE/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root lacks CAP_SYS_RESOURCE here: without this runc fails ("can't get final child's PID").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
  # CRI's records of an earlier run's sandboxes and containers (only a killed run leaves any).
  rm -rf "$CTR_ROOT/io.containerd.grpc.v1.cri"
  spawn containerd containerd --config "$STATE/containerd/config.toml"
  wait_until 60 "containerd ready" ctr --address "$STATE/containerd/containerd.sock" version
  remove_containers
  pause_image
  import_image "$PAUSE_IMAGE"

  mkdir -p "$STATE/kubelet"
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$d/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$d/kubelet-serving.crt"
tlsPrivateKeyFile: "$d/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$STATE/containerd/containerd.sock"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: ["$DNS_IP"]
resolvConf: "$STATE/kubelet/resolv.conf"
address: "$NODE_IP"
healthzBindAddress: 127.0.0.1
# A shared CI disk: evict nothing for disk pressure, collect no images.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 60
EOF
  # Pods resolve through CoreDNS only; names outside the cluster do not resolve.
  echo "nameserver $DNS_IP" >"$STATE/kubelet/resolv.conf"
  spawn kubelet kubelet --config="$STATE/kubelet/config.yaml" --kubeconfig="$d/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet/root" --node-ip="$NODE_IP" --hostname-override="$NODE"
  wait_until 120 "node $NODE registered" kubectl get node "$NODE"
  kubectl create clusterrolebinding ordersys-kube-proxy --clusterrole=system:node-proxier --user=system:kube-proxy >/dev/null
  spawn kube-proxy kube-proxy --kubeconfig="$d/kube-proxy.kubeconfig" --hostname-override="$NODE" \
    --cluster-cidr="$POD_CIDR" --proxy-mode=iptables --bind-address=127.0.0.1 --metrics-bind-address=127.0.0.1:10249
  # NetworkPolicies enforced by kube-router, its firewall only (no BGP router, no service
  # proxy): iptables chains per pod and policy in filter FORWARD/INPUT/OUTPUT, bridged traffic
  # matched with physdev (br_netfilter), peers in ipsets. Traffic from this host to the pods
  # (kubelet's probes, the tests' calls to the ClusterIPs) is allowed by kube-router as from
  # the pods' own node.
  kubectl create clusterrole ordersys-kube-router --verb=get,list,watch \
    --resource=namespaces,pods,services,endpoints,nodes,networkpolicies.networking.k8s.io,endpointslices.discovery.k8s.io >/dev/null
  kubectl create clusterrolebinding ordersys-kube-router --clusterrole=ordersys-kube-router --user=ordersys-kube-router >/dev/null
  spawn kube-router kube-router --kubeconfig="$d/kube-router.kubeconfig" --hostname-override="$NODE" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --service-cluster-ip-range="$SERVICE_CIDR" --health-port=0 --metrics-port=0 -v=1
  wait_until 60 "kube-router: NetworkPolicy chains in place" iptables -S KUBE-ROUTER-FORWARD
  # CoreDNS on the host, serving the cluster through the Service $DNS_IP (an Endpoints object
  # pointing at the node IP), with read access to Services and EndpointSlices.
  kubectl create clusterrole ordersys-coredns --verb=list,watch --resource=services,endpointslices.discovery.k8s.io,namespaces,pods >/dev/null
  kubectl create clusterrolebinding ordersys-coredns --clusterrole=ordersys-coredns --user=ordersys-coredns >/dev/null
  cat >"$STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18180
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa {
        kubeconfig $d/coredns.kubeconfig local
        pods insecure
    }
    cache 30
    loadbalance
}
EOF
  spawn coredns coredns -conf "$STATE/Corefile"
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: $DNS_IP
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: v1
kind: Endpoints
metadata: {name: kube-dns, namespace: kube-system}
subsets:
  - addresses: [{ip: "$NODE_IP"}]
    ports:
      - {name: dns, port: 53, protocol: UDP}
      - {name: dns-tcp, port: 53, protocol: TCP}
EOF
  wait_until 120 "node Ready" kubectl wait --for=condition=Ready "node/$NODE" --timeout=5s
  wait_until 60 "CoreDNS ready" curl -fs http://127.0.0.1:18181/ready
  say "cluster up (KUBECONFIG=$KUBECONFIG)"
}

# remove_containers: kills and deletes every container of containerd's k8s.io namespace (pods'
# containers and sandboxes), so that the kept store holds images only.
remove_containers() {
  local ctr=(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io) c
  for c in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$c" >/dev/null 2>&1 || true; done
  for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    "${ctr[@]}" tasks delete --force "$c" >/dev/null 2>&1 || true
    "${ctr[@]}" containers delete "$c" >/dev/null 2>&1 || true
  done
}

down() {
  say "tearing down"
  stop_pids kube-router kube-proxy kubelet coredns kube-scheduler kube-controller-manager kube-apiserver
  # The pods' containers and their shims, then containerd. The network namespaces of the pod
  # sandboxes (named cni-…, made by containerd's CRI) are noted first: without kubelet nobody
  # calls CNI DEL, so they and their veth pairs are removed below.
  local netns=()
  if [ -S "$STATE/containerd/containerd.sock" ]; then
    local c
    for c in $(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io containers ls -q 2>/dev/null); do
      local ns
      ns=$(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io containers info "$c" 2>/dev/null |
        python3 -c 'import json, sys
for n in json.load(sys.stdin)["Spec"]["linux"].get("namespaces", []):
    if n.get("type") == "network" and n.get("path", "").startswith("/var/run/netns/cni-"):
        print(n["path"])' 2>/dev/null || true)
      [ -n "$ns" ] && netns+=("$ns")
    done
    remove_containers
  fi
  stop_pids containerd etcd
  # Shims that outlive containerd (they are reparented), by their containerd address.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $STATE/containerd/containerd.sock" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Mounts under the state directory (pod volumes, rootfs, sandbox namespaces) and containerd's
  # store (the sandboxes' /dev/shm), deepest first.
  { grep -oE " ($STATE|$CTR_ROOT)/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$CTR_ROOT/io.containerd.grpc.v1.cri"
  # kube-proxy's chains (its own clean-up); then kubelet's (KUBE-FIREWALL, the canaries), which
  # would otherwise keep dropping this host's traffic to 127.0.0.0/8 from other addresses; then
  # our own rules.
  # kube-router's chains (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*) go with the loops below
  # and its ipsets (KUBE-SRC-*, KUBE-DST-*) after them. Not `kube-router --cleanup-config`: it
  # destroys every ipset and flushes every IPVS service of the host, not only its own.
  if [ -f "$STATE/bin" ]; then "$(cat "$STATE/bin")/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  local ipt t rule chain
  for ipt in iptables ip6tables; do
    for t in filter nat mangle; do
      while read -r rule; do
        eval "$ipt -t $t -D ${rule#-A }" 2>/dev/null || true
      done < <($ipt -t "$t" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -v '^-A KUBE-' || true)
      for chain in $($ipt -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
        $ipt -t "$t" -F "$chain" 2>/dev/null || true
      done
      for chain in $($ipt -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
        $ipt -t "$t" -X "$chain" 2>/dev/null || true
      done
    done
  done
  for t in filter mangle; do
    while read -r rule; do
      eval "iptables -t $t -D ${rule#-A }" 2>/dev/null || true
    done < <(iptables-save -t "$t" 2>/dev/null | grep -- "--comment $COMMENT" || true)
  done
  if command -v ipset >/dev/null; then
    local set
    for set in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?KUBE-(SRC|DST)-' || true); do ipset destroy "$set" 2>/dev/null || true; done
  fi
  local ns l
  for ns in $(printf '%s\n' "${netns[@]}" | sort -u); do ip netns delete "$(basename "$ns")" 2>/dev/null || true; done
  for l in $(ip -o link | awk -F': ' '/master '"$CNI_BRIDGE"' / {print $2}' | cut -d@ -f1); do ip link del "$l" 2>/dev/null || true; done
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  rm -rf "$STATE"
}

# stop_pids NAME...: SIGTERM to each recorded PID at once, SIGKILL to those still running after
# 10 s. A process that has exited but is not reaped yet (a zombie: these were started by an
# earlier run, so init is their parent) counts as stopped.
stop_pids() {
  local name pid pids=() deadline=$((SECONDS + 10))
  for name in "$@"; do
    [ -f "$STATE/pid/$name" ] || continue
    pid=$(cat "$STATE/pid/$name")
    rm -f "$STATE/pid/$name"
    running "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}
running() { [ -e "/proc/$1" ] && ! awk '{exit !($3 == "Z")}' "/proc/$1/stat" 2>/dev/null; }

# The whole dispatch is one function, read before it runs: a run keeps working when this file
# is edited meanwhile (bash reads a script as it goes).
main() {
  # The binaries `up` used, for the steps run on their own.
  if [ "${1:-all}" = install ] || [ "${1:-all}" = test ] || [ "${1:-all}" = doc ]; then
    [ -f "$STATE/bin" ] || { echo "no cluster: run $0 up first" >&2; exit 1; }
    PATH=$(cat "$STATE/bin"):$PATH
  fi

  case "${1:-all}" in
    up) up ;;
    down) down ;;
    install) install_chart ;;
    test) chart_tests ;;
    doc) doc_run "$2" ;;
    all)
      trap down EXIT
      up
      install_chart
      chart_tests
      say "all passed"
      ;;
    *) echo "usage: $0 [up | install | test | down | doc NAME]" >&2; exit 2 ;;
  esac
}
main "$@"; exit
