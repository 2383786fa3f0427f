# One image, both production binaries:
#   /usr/local/bin/order-service   (default command)
#   /usr/local/bin/txlog-service   (also: `txlog-service setup` for MongoDB)
# Each binary also has a `healthcheck` subcommand (GET /readyz on its own port),
# because the runtime image has no shell and no curl.
#
# Build:  docker build -t ordersys:dev .
# Pin the runtime base by digest in production, e.g.
#   gcr.io/distroless/cc-debian12:nonroot@sha256:<digest>

############################ builder ##########################################
FROM rust:1.95-bookworm AS builder
WORKDIR /build
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# The target directory is a cache mount, kept by the engine between builds
# (BuildKit, podman/buildah): after a source edit only the workspace's own
# crates are compiled again. The binaries are copied out of it into /out.
# .ci/image.sh builds this file offline with podman (docs/OPERATIONS.md).

# 1) Dependencies in their own layer: only the manifests, the lock file and
#    cargo's configuration (jemalloc's build options), with empty stand-in
#    sources. This layer is rebuilt only when a
#    Cargo.toml or Cargo.lock changes, not on every source edit.
COPY Cargo.toml Cargo.lock ./
COPY .cargo/config.toml .cargo/config.toml
COPY crates/platform/Cargo.toml       crates/platform/Cargo.toml
COPY crates/txlog-verify/Cargo.toml   crates/txlog-verify/Cargo.toml
COPY crates/txlog-audit/Cargo.toml    crates/txlog-audit/Cargo.toml
COPY crates/txlog-api/Cargo.toml      crates/txlog-api/Cargo.toml
COPY crates/order-service/Cargo.toml  crates/order-service/Cargo.toml
COPY crates/txlog-service/Cargo.toml  crates/txlog-service/Cargo.toml
COPY crates/bench/Cargo.toml          crates/bench/Cargo.toml
COPY crates/testkit/Cargo.toml        crates/testkit/Cargo.toml
RUN --mount=type=cache,id=ordersys-target,target=/build/target,sharing=locked \
    set -eux; \
    mkdir -p src; echo 'fn main() {}' > src/main.rs; \
    for c in crates/*/; do \
        mkdir -p "${c}src"; \
        echo '' > "${c}src/lib.rs"; \
        echo 'fn main() {}' > "${c}src/main.rs"; \
    done; \
    cargo build --release --locked -p order-service -p txlog-service --bin order-service --bin txlog-service; \
    rm -rf src crates/*/src

# 2) The real sources (the allow-list in .dockerignore decides what "." is).
#    `touch` makes cargo rebuild our crates: COPY keeps the original
#    modification times, which may be older than the stand-ins'.
COPY . .
RUN --mount=type=cache,id=ordersys-target,target=/build/target,sharing=locked \
    set -eux; \
    find src crates -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p order-service -p txlog-service --bin order-service --bin txlog-service; \
    install -D -m 0755 target/release/order-service /out/order-service; \
    install -D -m 0755 target/release/txlog-service /out/txlog-service

############################ runtime ##########################################
# distroless/cc: glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager. The `nonroot` variant runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/order-service /out/txlog-service /usr/local/bin/

# Container defaults (SPEC section 3); everything else comes from the
# deployment (compose.yaml or the Helm chart).
ENV ORDERS_LISTEN=0.0.0.0:8080 \
    TXLOG_LISTEN=0.0.0.0:8081 \
    LOG_FORMAT=json

# The services write nothing to disk with postgres:// and mongodb:// URLs, so
# the root filesystem can be mounted read-only. With the SQLite defaults they
# write under ./data, relative to this (nonroot-owned) directory.
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 8080 8081
CMD ["/usr/local/bin/order-service"]
