#!/usr/bin/env bash
# Interoperability of arcad's TCP port with another TLS stack: GnuTLS's
# gnutls-cli (deploy/packages.sh test: gnutls-bin).
#  - TLS 1.3 only, with the arca-client certificate: a mutual handshake
#    completes, the server certificate (the enclave's self-signed RA-TLS
#    certificate, pinned as the trust anchor) verifies, and a KMIP Discover
#    Versions request sent through it is answered with Success.
#  - TLS 1.3 without a client certificate: refused (alert 116, certificate
#    required), no KMIP answer.
#  - TLS 1.3 with a certificate from another CA, or from the client CA but
#    with a CN that is not a registered identity: refused (alert 42, bad
#    certificate), no KMIP answer.
#  - TLS 1.2 only, with the client certificate: refused (alert 70, protocol
#    version).
#  - The refusals are audited (CONNECTION_REFUSED, naming the CN and why).
. "$(dirname "$0")/lib.sh"
command -v gnutls-cli >/dev/null || fail "gnutls-cli is not installed (deploy/packages.sh test)"

fresh_appliance
[ -n "$ARCA_TCP_PORT" ] || fail "arcad did not report a TCP port"

# The enclave's certificate (fetched with the client certificate) is the
# trust anchor; gnutls-cli checks the name against its CN.
openssl s_client -connect "127.0.0.1:$ARCA_TCP_PORT" -tls1_3 -cert "$PKI/client.pem" -key "$PKI/client.key" \
  -showcerts </dev/null 2>/dev/null | awk '/-----BEGIN CERTIFICATE-----/{n++} n==1' |
  sed -n '1,/-----END CERTIFICATE-----/p' >"$T/server.pem"
openssl x509 -in "$T/server.pem" -noout 2>/dev/null || fail "could not fetch the server certificate"
CN=$(openssl x509 -in "$T/server.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[ -n "$CN" ] || fail "the server certificate has no CN"

# KMIP 2.0 Request Message: one batch item, Discover Versions, empty payload.
printf '%s' 42007801000000604200770100000038420069010000002042006a0200000004000000020000000042006b0200000004 \
  000000000000000042000d0200000004000000010000000042000f010000001842005c05000000040000001e000000004200790100000000 |
  xxd -r -p >"$T/dv.bin"
[ "$(stat -c %s "$T/dv.bin")" = 104 ] || fail "Discover Versions request is not 104 bytes"

# gnutls NAME PRIORITY [cert args...]: send the request, keep stdin open
# until a whole answer arrived or gnutls-cli failed (at most 10 s), then
# close. Received bytes go to $T/NAME.out, gnutls-cli's informational lines
# to $T/NAME.log, its errors to $T/NAME.err; exit status to $T/NAME.rc.
gnutls() {
  local name=$1 prio=$2; shift 2
  : >"$T/$name.out"; : >"$T/$name.err"
  local rc=0 got
  {
    cat "$T/dv.bin"
    for _ in $(seq 1 100); do
      got=$(stat -c %s "$T/$name.out")
      if [ "$got" -ge 8 ]; then # a whole TTLV message: 8-byte header + its length
        [ "$got" -ge $((16#$(xxd -s 4 -l 4 -p "$T/$name.out") + 8)) ] && break
      fi
      grep -q "Fatal error" "$T/$name.err" 2>/dev/null && break
      sleep 0.1
    done
  } | timeout 30 gnutls-cli --logfile="$T/$name.log" --priority "$prio" --x509cafile "$T/server.pem" \
    --verify-hostname "$CN" -p "$ARCA_TCP_PORT" "$@" 127.0.0.1 >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  echo "$rc" >"$T/$name.rc"
}
show() { echo "exit $(cat "$T/$1.rc"); log:"; cat "$T/$1.log"; echo "stderr:"; cat "$T/$1.err"; }
hex() { xxd -p "$1" | tr -d '\n'; }
TLS13='NORMAL:-VERS-ALL:+VERS-TLS1.3'
TLS12='NORMAL:-VERS-ALL:+VERS-TLS1.2'

# 1. Mutual TLS 1.3 with the client certificate.
gnutls ok "$TLS13" --x509certfile "$PKI/client.pem" --x509keyfile "$PKI/client.key"
[ "$(cat "$T/ok.rc")" = 0 ] || fail "mutual TLS 1.3: $(show ok)"
grep -qx -- "- Successfully sent 1 certificate(s) to server." "$T/ok.log" || fail "client certificate not sent: $(show ok)"
grep -qx -- "- Server has requested a certificate." "$T/ok.log" || fail "server did not request a certificate: $(show ok)"
grep -qx -- "- Status: The certificate is trusted. " "$T/ok.log" || fail "server certificate not trusted: $(show ok)"
grep -q -- "^- Description: (TLS1.3-X.509)-" "$T/ok.log" || fail "not TLS 1.3: $(show ok)"
grep -qx -- "- Handshake was completed" "$T/ok.log" || fail "no completed handshake: $(show ok)"
resp=$(hex "$T/ok.out")
[ "${resp:0:8}" = 42007b01 ] || fail "no KMIP Response Message after the handshake: ${resp:0:64} $(show ok)"
len=$((16#${resp:8:8}))
[ "$(stat -c %s "$T/ok.out")" = $((len + 8)) ] || fail "KMIP response: $((len + 8)) bytes announced, $(stat -c %s "$T/ok.out") read"
grep -q 42005c05000000040000001e00000000 <<<"$resp" || fail "response is not for Discover Versions: $resp"
grep -q 42007f050000000400000000 <<<"$resp" || fail "Discover Versions not answered Success: $resp"
pass "gnutls-cli: mutual TLS 1.3 ($(sed -n 's/^- Description: //p' "$T/ok.log")), KMIP Discover Versions answered Success"

# 2. TLS 1.3 without a client certificate.
gnutls nocert "$TLS13"
[ "$(cat "$T/nocert.rc")" = 1 ] || fail "no client certificate: $(show nocert)"
grep -qx -- "\*\*\* Fatal error: A TLS fatal alert has been received." "$T/nocert.err" || fail "no client certificate: $(show nocert)"
grep -qx -- "\*\*\* Received alert \[116\]: Certificate is required" "$T/nocert.log" ||
  fail "no client certificate: not alert 116: $(show nocert)"
[ ! -s "$T/nocert.out" ] || fail "no client certificate, yet the server answered: $(hex "$T/nocert.out")"
pass "gnutls-cli: no client certificate: refused (alert 116, certificate required), no KMIP answer"

# 3. TLS 1.3 with a certificate from another CA.
gnutls stranger "$TLS13" --x509certfile "$PKI/stranger.pem" --x509keyfile "$PKI/stranger.key"
[ "$(cat "$T/stranger.rc")" = 1 ] || fail "stranger certificate: $(show stranger)"
grep -qx -- "\*\*\* Fatal error: A TLS fatal alert has been received." "$T/stranger.err" || fail "stranger: $(show stranger)"
grep -qx -- "\*\*\* Received alert \[42\]: Certificate is bad" "$T/stranger.log" ||
  fail "stranger certificate: not alert 42: $(show stranger)"
[ ! -s "$T/stranger.out" ] || fail "stranger certificate, yet the server answered: $(hex "$T/stranger.out")"
pass "gnutls-cli: certificate from another CA: refused (alert 42, bad certificate), no KMIP answer"

# 4. TLS 1.3 with a certificate from the client CA whose CN is not a
#    registered identity.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/unreg.key" \
  -subj "/O=Arca/CN=arca-unregistered" -out "$T/unreg.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth" \
  >"$T/unreg.ext"
openssl x509 -req -in "$T/unreg.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial 0x7e57 -days 2 \
  -extfile "$T/unreg.ext" -out "$T/unreg.pem" 2>/dev/null
openssl verify -CAfile "$PKI/ca.pem" "$T/unreg.pem" >/dev/null || fail "could not issue the unregistered certificate"
gnutls unreg "$TLS13" --x509certfile "$T/unreg.pem" --x509keyfile "$T/unreg.key"
[ "$(cat "$T/unreg.rc")" = 1 ] || fail "unregistered identity: $(show unreg)"
grep -qx -- "\*\*\* Received alert \[42\]: Certificate is bad" "$T/unreg.log" ||
  fail "unregistered identity: not alert 42: $(show unreg)"
[ ! -s "$T/unreg.out" ] || fail "unregistered identity, yet the server answered: $(hex "$T/unreg.out")"
pass "gnutls-cli: a client-CA certificate whose CN is not registered: refused (alert 42), no KMIP answer"

# 5. TLS 1.2 only.
gnutls tls12 "$TLS12" --x509certfile "$PKI/client.pem" --x509keyfile "$PKI/client.key"
[ "$(cat "$T/tls12.rc")" = 1 ] || fail "TLS 1.2: $(show tls12)"
grep -qx -- "\*\*\* Fatal error: A TLS fatal alert has been received." "$T/tls12.err" || fail "TLS 1.2: $(show tls12)"
grep -qx -- "\*\*\* Received alert \[70\]: Error in protocol version" "$T/tls12.log" || fail "TLS 1.2: not alert 70: $(show tls12)"
! grep -q -- "- Handshake was completed" "$T/tls12.log" || fail "TLS 1.2 handshake completed: $(show tls12)"
[ ! -s "$T/tls12.out" ] || fail "TLS 1.2, yet the server answered"
pass "gnutls-cli: TLS 1.2 only: refused (alert 70, protocol version)"

# The refusals are in the audit log, each naming who and why.
kc audit show >"$T/audit.txt" || fail "kms-client audit show"
grep -qE '^[0-9]+ [^ ]+ CONNECTION_REFUSED ARCA_ERR_CERT_UNTRUSTED actor=connection [0-9]+ object=- detail=no client certificate$' \
  "$T/audit.txt" || fail "no audit record for the connection without a certificate: $(cat "$T/audit.txt")"
grep -qE '^[0-9]+ [^ ]+ CONNECTION_REFUSED ARCA_ERR_CERT_UNTRUSTED actor=arca-stranger object=- detail=certificate not issued by the client CA' \
  "$T/audit.txt" || fail "no audit record for arca-stranger: $(cat "$T/audit.txt")"
grep -qE '^[0-9]+ [^ ]+ CONNECTION_REFUSED ARCA_ERR_IDENTITY_UNKNOWN actor=arca-unregistered object=- detail=identity not registered$' \
  "$T/audit.txt" || fail "no audit record for arca-unregistered: $(cat "$T/audit.txt")"
pass "audit: CONNECTION_REFUSED records for no certificate, arca-stranger and arca-unregistered"

# The appliance is still healthy.
kcu key list >/dev/null || fail "kms-client after the gnutls-cli runs"
pass "kms-client still works"
