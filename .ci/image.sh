#!/usr/bin/env bash
# Builds the container image from the Dockerfile as committed, with podman, offline, on a
# machine where no container registry is reachable; then smoke-tests it (tests/image/smoke.py)
# unless IMAGE_SMOKE=0.
#
#   bash .ci/image.sh                  # -> localhost/ordersys:ci
#   IMAGE=localhost/ordersys:dev IMAGE_SMOKE=0 bash .ci/image.sh
#   (also: ORDERSYS_CACHE, DEBIAN_MIRROR, DEBIAN_BASE)
#
# What it does, each step skipped when its result already exists:
#  1. installs podman, buildah, runc and debootstrap (Debian packages) when missing, and sets the
#     engine up for this kind of VM: runtime runc, nofile/nproc ulimits the VM accepts
#     (/etc/containers/containers.conf.d/ordersys.conf);
#  2. makes the base images locally, under the names the Dockerfile uses:
#       localhost/ordersys-debian:bookworm       Debian 12 by debootstrap from deb.debian.org
#       docker.io/library/rust:<X.Y>-bookworm     that + gcc/make + the host's rustup toolchain
#       gcr.io/distroless/cc-debian12:nonroot     libc6, libgcc-s1, CA certificates, tzdata,
#                                                 user nonroot (65532), no shell
#     They are stand-ins (labelled so: `podman inspect`), never pushed anywhere;
#  3. builds the Dockerfile with --pull=never --network=none: the crates come from the host's
#     ~/.cargo/registry (fetched by `cargo fetch --locked` on the host first), mounted into the
#     build, with cargo offline and at most 2 jobs; the target directory is the Dockerfile's
#     `RUN --mount=type=cache`, kept between runs (under $ORDERSYS_CACHE/image/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${IMAGE:-localhost/ordersys:ci}
CACHE=${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/image
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_BASE=${DEBIAN_BASE:-localhost/ordersys-debian:bookworm}
mkdir -p "$CACHE"
start=$SECONDS
say() { printf '[image.sh %4ss] %s\n' "$((SECONDS - start))" "$*"; }

# The base images the Dockerfile names (its FROM lines that are not its own stages).
from_image() { awk -v n="$1" 'toupper($1)=="FROM" && ++i==n {print $2}' Dockerfile; }
RUST_BASE=$(from_image 1)
RUNTIME_BASE=$(from_image 2)
case "$RUST_BASE" in rust:*) RUST_BASE=docker.io/library/$RUST_BASE ;; esac
rust_minor=$(sed -E 's/.*rust:([0-9]+\.[0-9]+).*/\1/' <<<"$RUST_BASE")

# --- 1. engine -------------------------------------------------------------------------------
missing=()
for tool in podman buildah runc debootstrap; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" fuse-overlayfs
fi
# podman run gives root's containers nofile and nproc limits of 1048576, which this kind of VM
# refuses ("error setting rlimit type 7/6: operation not permitted"): nofile at most the hard
# limit, nproc at most the hard limit and 32768 (the VM refuses more, whatever `ulimit -Hu` says).
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
conf=/etc/containers/containers.conf.d/ordersys.conf
want=$(printf '%s\n' \
  '# Written by ordersys .ci/image.sh (docs/OPERATIONS.md, "Building the image"): crun does not' \
  '# work on this kind of VM, and containers may not get more than these limits.' \
  '[containers]' "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" '' \
  '[engine]' 'runtime = "runc"')
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  say "writing $conf"
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
fi
podman info --format '{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}' | {
  read -r driver runtime
  say "engine: podman $(podman version --format '{{.Client.Version}}'), storage $driver, runtime $runtime"
}

LABEL='org.opencontainers.image.description="local stand-in made by ordersys .ci/image.sh"'

# --- 2. base images --------------------------------------------------------------------------
# Debian 12 by debootstrap, with bookworm-updates and the security archive applied. The packages
# of the runtime base are downloaded from the same archive here.
if ! podman image exists "$DEBIAN_BASE" || ! [ -s "$CACHE/runtime-debs/ca-certificates.crt" ]; then
  say "debootstrap bookworm from $MIRROR"
  rootfs=$(mktemp -d "$CACHE/debian.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  nice -n 10 debootstrap --variant=minbase --include=ca-certificates,tzdata bookworm "$rootfs" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" apt-get update -q >>"$CACHE/debootstrap.log" 2>&1
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade >>"$CACHE/debootstrap.log" 2>&1
  rm -rf "$CACHE/runtime-debs" && mkdir -p "$rootfs/tmp/debs"
  chroot "$rootfs" sh -c 'cd /tmp/debs && apt-get download -q libc6 libgcc-s1 ca-certificates tzdata' >/dev/null 2>&1
  cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$rootfs/usr/lib/os-release" "$rootfs/tmp/debs/"
  mv "$rootfs/tmp/debs" "$CACHE/runtime-debs"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/var/cache/apt/*.bin
  : >"$rootfs/etc/resolv.conf"
  tar --numeric-owner -C "$rootfs" -c . |
    podman import -q --change 'CMD ["bash"]' --change "LABEL $LABEL" - "$DEBIAN_BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  podman rmi -f "$RUNTIME_BASE" "$RUST_BASE" >/dev/null 2>&1 || true
fi

# The runtime base, like distroless/cc: no shell, no package manager, uid/gid 65532.
if ! podman image exists "$RUNTIME_BASE"; then
  say "making $RUNTIME_BASE from $(cd "$CACHE/runtime-debs" && echo *.deb)"
  rootfs=$(mktemp -d "$CACHE/runtime.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  for deb in "$CACHE"/runtime-debs/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
  # Documentation, and the one maintainer script ca-certificates ships (there is no shell).
  rm -rf "$rootfs"/usr/share/{doc,man,lintian,locale} "$rootfs"/usr/sbin "$rootfs"/etc/ca-certificates*
  install -D -m 0644 "$CACHE/runtime-debs/ca-certificates.crt" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  install -D -m 0644 "$CACHE/runtime-debs/os-release" "$rootfs/usr/lib/os-release"
  ln -sf ../usr/lib/os-release "$rootfs/etc/os-release"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
  install -d -m 1777 "$rootfs/tmp"
  install -d -m 0700 "$rootfs/root"
  install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"
  chmod 0755 "$rootfs"
  if [ -e "$rootfs/bin/sh" ] || [ -e "$rootfs/usr/bin/sh" ]; then echo "a shell got into the runtime base" >&2; exit 1; fi
  tar --numeric-owner -C "$rootfs" -c . |
    podman import -q --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change "LABEL $LABEL" - "$RUNTIME_BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# The Rust builder: the Debian base, a C toolchain (jemalloc, SQLite and ring compile C), and
# the host's rustup toolchain laid out like the official rust image (RUSTUP_HOME, CARGO_HOME).
if ! podman image exists "$RUST_BASE"; then
  toolchain=$(rustup toolchain list | awk '/^stable/ {print $1; exit}')
  src=$(rustup +"$toolchain" show home)/toolchains/$toolchain
  version=$("$src/bin/rustc" --version | awk '{print $2}')
  case "$version" in "$rust_minor".*) ;; *)
    echo "the host's stable Rust is $version; the Dockerfile asks for $rust_minor" >&2; exit 1 ;;
  esac
  name=$version-x86_64-unknown-linux-gnu
  say "making $RUST_BASE (Rust $version from $src)"
  ctx=$CACHE/builder-context
  rm -rf "$ctx" && mkdir -p "$ctx/rustup/toolchains" "$ctx/cargo/bin"
  cp -al "$src" "$ctx/rustup/toolchains/$name"     # hard links: no copy on the host
  rm -rf "$ctx/rustup/toolchains/$name/share/doc"
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
    "$name" >"$ctx/rustup/settings.toml"
  cp "$(command -v rustup)" "$ctx/cargo/bin/rustup"
  for proxy in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver rust-gdb; do
    ln -s rustup "$ctx/cargo/bin/$proxy"
  done
  cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_BASE
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
      gcc libc6-dev make pkg-config && rm -rf /var/lib/apt/lists/*
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo RUST_VERSION=$version \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY rustup/ /usr/local/rustup/
COPY cargo/ /usr/local/cargo/
LABEL $LABEL
EOF
  nice -n 10 podman build --pull=never --network=host -q -t "$RUST_BASE" "$ctx" >/dev/null
  rm -rf "$ctx"
  podman run --rm --network=none "$RUST_BASE" cargo --version
fi
say "base images ready"

# --- 3. the image ----------------------------------------------------------------------------
# Every crate the lock file names, in the host's cargo registry (a no-op when they are there).
nice -n 10 cargo fetch --locked -q
printf '%s\n' '# Mounted at $CARGO_HOME/config.toml by .ci/image.sh: no network, two jobs.' \
  '[net]' 'offline = true' '[build]' 'jobs = 2' >"$CACHE/cargo-config.toml"
# The RUN --mount=type=cache directories live under $TMPDIR/buildah-cache; keep them with
# the other caches.
mkdir -p "$CACHE/tmp"
say "building $IMAGE"
{
  TMPDIR=$CACHE/tmp nice -n 10 podman build --pull=never --network=none --layers \
    --volume "${CARGO_HOME:-$HOME/.cargo}/registry:/usr/local/cargo/registry" \
    --volume "$CACHE/cargo-config.toml:/usr/local/cargo/config.toml:ro" \
    -t "$IMAGE" "$ROOT" && echo 0 >"$CACHE/build.rc" || echo $? >"$CACHE/build.rc"
} 2>&1 | tee "$CACHE/build.log" | grep --line-buffered -E '^(\[[0-9]+/[0-9]+\] )?STEP [0-9]+/[0-9]+: (FROM|RUN)|^(Error|error)|^ *Finished' |
  awk '{ print substr($0, 1, 160); fflush() }' || true
[ "$(cat "$CACHE/build.rc")" = 0 ] || { tail -40 "$CACHE/build.log"; exit 1; }
say "built $IMAGE ($(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"

# Each source change leaves the previous build's layers behind, untagged; they are also the
# layer cache of the next build, so only those older than a week are removed.
podman image prune -f --filter until=168h >/dev/null

if [ "${IMAGE_SMOKE:-1}" != 0 ]; then
  say "smoke test"
  python3 tests/image/smoke.py --image "$IMAGE"
fi
say "done"
