#!/usr/bin/env bash
# The Kubernetes binaries .ci/k8s.sh runs (issue 29), built from the Go module proxy and cached
# under ~/.cache/ordersys/k8s/<versions>/bin; a run with the binaries in place builds nothing.
#
#   bash .ci/k8s_build.sh          # prints the bin directory on its last line
#
#  - Kubernetes: k8s.io/kubernetes cannot be built as published (its go.mod replaces the staging
#    modules k8s.io/api, k8s.io/apimachinery, ... with ./staging/..., which module zips do not
#    hold). A wrapper module requires k8s.io/kubernetes and replaces each staging module with its
#    published v0.X.Y, then builds kube-apiserver, kube-controller-manager, kube-scheduler,
#    kubelet, kube-proxy and kubectl in one `go build`, the version set with -ldflags -X.
#  - Helm, from its module with its own go.sum.
#  - CoreDNS with the few plugins a cluster DNS needs (a main of our own, as CoreDNS documents
#    for custom builds; rebuilt when the list changes).
#  - kube-router, run as the NetworkPolicy enforcer only (--run-firewall; iptables + ipset).
#    Not kube-network-policies: every version the proxy serves (v0.7.0, v0.8.0) queues packets
#    with the nftables `queue` expression, which this kind of VM's kernel lacks
#    (CONFIG_NFT_QUEUE is not set), and has no iptables mode (only v0.1.0 had one; the proxy
#    does not serve it). kube-router v2.1.0 is the only version the proxy serves; its known
#    advisories concern its BGP router and service proxy, which are not run here. Test cluster
#    only.
# Builds run with nice -n 10 (CI shares two cores); CGO is off (static binaries, as upstream's).
set -euo pipefail
# One block, read whole before it runs: a build keeps going when this file is edited meanwhile.
{
K8S_VERSION=${K8S_VERSION:-v1.34.4}
HELM_VERSION=${HELM_VERSION:-v3.19.5}
COREDNS_VERSION=${COREDNS_VERSION:-v1.13.2}
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}
CACHE=${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/k8s
BIN=$CACHE/k8s-$K8S_VERSION-helm-$HELM_VERSION-coredns-$COREDNS_VERSION-kube-router-$KUBE_ROUTER_VERSION/bin
start=$SECONDS
say() { printf '[k8s_build.sh %4ss] %s\n' "$((SECONDS - start))" "$*" >&2; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
moddir() { go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'; }

# --- Kubernetes ----------------------------------------------------------------------------
k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
missing=0
for c in "${k8s_cmds[@]}"; do [ -x "$BIN/$c" ] || missing=1; done
if [ "$missing" = 1 ]; then
  say "building Kubernetes $K8S_VERSION (${k8s_cmds[*]})"
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
  staging_version=v0.${K8S_VERSION#v1.}
  mkdir -p "$work/k8s"
  {
    echo "module ordersys.local/k8s-build"
    echo
    echo "go 1.24.0"
    echo
    # As k8s.io/kubernetes itself (only the main module's godebug line counts).
    grep '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    sed -nE 's#^[[:space:]]*(k8s\.io/[a-z0-9-]+) => \./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$gomod"
    echo ")"
  } >"$work/k8s/go.mod"
  [ "$(grep -c ' => ' "$work/k8s/go.mod")" -gt 20 ] || { echo "no staging replaces found in $gomod" >&2; exit 1; }
  major=${K8S_VERSION#v}; minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  pkgs=()
  for c in "${k8s_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$work/k8s" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$work/k8s/out/" "${pkgs[@]}")
  for c in "${k8s_cmds[@]}"; do mv "$work/k8s/out/$c" "$BIN/$c"; done
  "$BIN/kubectl" version --client | sed -n 1p >&2
fi

# --- Helm ----------------------------------------------------------------------------------
# As Helm's Makefile builds it: the version, and the Kubernetes version of its client-go as the
# default of `helm template`'s capabilities and of `helm lint` (else v1.20, below the chart's
# kubeVersion). Rebuilt when these flags change.
src=$(moddir "helm.sh/helm/v3@$HELM_VERSION")
k8s_minor=$(awk '$1 == "k8s.io/client-go" {split($2, v, "."); print v[2]}' "$src/go.mod")
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
done
if ! [ -x "$BIN/helm" ] || [ "$(cat "$BIN/helm.ldflags" 2>/dev/null)" != "$helm_ldflags" ]; then
  say "building Helm $HELM_VERSION"
  cp -r "$src" "$work/helm" && chmod -R u+w "$work/helm"
  (cd "$work/helm" && GOFLAGS=-mod=readonly nice -n 10 go build -trimpath -ldflags "$helm_ldflags" \
    -o "$BIN/helm" ./cmd/helm)
  "$BIN/helm" version --short >&2
  echo "$helm_ldflags" >"$BIN/helm.ldflags"
fi

# --- CoreDNS -------------------------------------------------------------------------------
# The plugins, in the order they run; the binary is rebuilt when this list changes.
COREDNS_PLUGINS="bind reload health ready log errors cache loop loadbalance kubernetes forward"
if ! [ -x "$BIN/coredns" ] || [ "$(cat "$BIN/coredns.plugins" 2>/dev/null)" != "$COREDNS_PLUGINS" ]; then
  say "building CoreDNS $COREDNS_VERSION ($COREDNS_PLUGINS)"
  mkdir -p "$work/coredns"
  cat >"$work/coredns/go.mod" <<MOD
module ordersys.local/coredns-build

go 1.24.0

require github.com/coredns/coredns $COREDNS_VERSION
MOD
  {
    echo '// CoreDNS with the plugins a cluster DNS uses (generated by .ci/k8s_build.sh).'
    echo 'package main'
    echo
    echo 'import ('
    echo '	"github.com/coredns/coredns/core/dnsserver"'
    echo '	"github.com/coredns/coredns/coremain"'
    for p in $COREDNS_PLUGINS; do echo "	_ \"github.com/coredns/coredns/plugin/$p\""; done
    echo ')'
    echo
    printf 'func init() { dnsserver.Directives = []string{'
    for p in $COREDNS_PLUGINS; do printf '"%s", ' "$p"; done
    echo '} }'
    echo
    echo 'func main() { coremain.Run() }'
  } >"$work/coredns/main.go"
  (cd "$work/coredns" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$BIN/coredns" .)
  "$BIN/coredns" -version | sed -n 1p >&2
  echo "$COREDNS_PLUGINS" >"$BIN/coredns.plugins"
fi

# --- kube-router (NetworkPolicy enforcement) --------------------------------------------------
if ! [ -x "$BIN/kube-router" ]; then
  say "building kube-router $KUBE_ROUTER_VERSION"
  src=$(moddir "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION")
  cp -r "$src" "$work/kube-router" && chmod -R u+w "$work/kube-router"
  v=github.com/cloudnativelabs/kube-router/v2/pkg/version
  (cd "$work/kube-router" && GOFLAGS=-mod=readonly nice -n 10 go build -trimpath \
    -ldflags "-s -w -X $v.Version=$KUBE_ROUTER_VERSION -X $v.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$BIN/kube-router" ./cmd/kube-router)
  "$BIN/kube-router" --version 2>&1 | sed -n 1p >&2
fi
say "binaries in $BIN ($(du -sh "$BIN" | cut -f1))"
echo "$BIN"
exit
}
