#!/bin/sh
# A DEV ONLY C2SP tlog-witness for compose.yaml: litewitness (filippo.io/torchwood) with its
# Ed25519 key in an ssh-agent, behind stunnel for HTTPS (the log reaches witnesses over https://
# only, except on loopback; litewitness itself speaks plain HTTP, here on 127.0.0.1 only).
#
#   WITNESS_NAME       the witness's name (its cosignature key is <name>+<hash>+<key>)
#   WITNESS_LOG_ORIGIN the origin of the log it cosigns (TXLOG_LOG_ORIGIN)
#   /run/secrets/witness_ssh_key       its ssh private key (ed25519)
#   /run/secrets/txlog_verifier_key    the log's verifier key
#   /run/secrets/witness_tls_crt, _key its HTTPS certificate and key
# The witness's database (the size it last cosigned for the log) is /var/lib/witness: keep it on
# a volume, since a witness that forgets is no witness.
set -eu
: "${WITNESS_NAME:?}" "${WITNESS_LOG_ORIGIN:?}"
state=/var/lib/witness
run=$(mktemp -d)
# ssh-add refuses a key file others may read; the secret's mode is the engine's choice.
cp /run/secrets/witness_ssh_key "$run/key"
chmod 600 "$run/key"
ssh-agent -D -a "$run/agent.sock" >/dev/null &
while [ ! -S "$run/agent.sock" ]; do sleep 0.1; done
SSH_AUTH_SOCK=$run/agent.sock ssh-add -q "$run/key"
fingerprint=$(ssh-keygen -lf "$run/key" | cut -d' ' -f2)
rm "$run/key"
db=$state/witness.db
log_key=$(cat /run/secrets/txlog_verifier_key)
if ! witnessctl list-logs -db "$db" 2>/dev/null | grep -qF "\"origin\":\"$WITNESS_LOG_ORIGIN\""; then
  witnessctl add-log -db "$db" -origin "$WITNESS_LOG_ORIGIN"
  witnessctl add-key -db "$db" -origin "$WITNESS_LOG_ORIGIN" -key "$log_key"
fi
cat >"$run/stunnel.conf" <<CONF
foreground = yes
pid =
[witness]
accept = 0.0.0.0:7443
connect = 127.0.0.1:7380
cert = /run/secrets/witness_tls_crt
key = /run/secrets/witness_tls_key
CONF
stunnel "$run/stunnel.conf" &
exec litewitness -db "$db" -name "$WITNESS_NAME" -key "$fingerprint" \
  -ssh-agent "$run/agent.sock" -listen 127.0.0.1:7380
