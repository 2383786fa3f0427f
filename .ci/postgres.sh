#!/usr/bin/env bash
# PostgreSQL for the tests: Debian's package, installed when missing; `postgres` and `root`
# connect over 127.0.0.1 and ::1 without a password (trust: a test machine only); the cluster is
# started and waited for. Costs well under 2 s when PostgreSQL is already installed and running.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
marker="# ordersys tests: trust on loopback"
if ! grep -qF "$marker" "$hba"; then
  # First matching line wins, so the trust lines go on top.
  { printf '%s\n' "$marker" \
      "host all postgres 127.0.0.1/32 trust" "host all postgres ::1/128 trust" \
      "host all root 127.0.0.1/32 trust" "host all root ::1/128 trust"
    cat "$hba"; } >"$hba.new"
  chown --reference="$hba" "$hba.new"; chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
  if pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
fi
pg_isready -h 127.0.0.1 -p 5432
# `root` (the CI user) gets a role of its own; tests connect as `postgres`.
psql -h 127.0.0.1 -U postgres -d postgres -qAtc \
  "SELECT 1 FROM pg_roles WHERE rolname = 'root'" | grep -q 1 ||
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE ROLE root SUPERUSER LOGIN"
