#!/usr/bin/env bash
# TLS 1.3 with Arca keys through the arca OpenSSL provider (docs/openssl.md):
# openssl s_server -provider arca -provider default -key "arca:label=L"
# completes handshakes with openssl s_client for RSA-PSS, ECDSA P-256 and
# Ed25519 server keys, and client-certificate authentication works where
# the client key is an Arca key (s_server -Verify 1 -CAfile). Every
# certificate is made by openssl req -x509 with the Arca key itself. Also:
# a client without a certificate is refused by -Verify 1, and s_server
# refuses an Arca key that does not match its certificate. The handshakes
# run with arca loaded first and with default loaded first.
source "$(dirname "$0")/lib.sh"
PROV_DIR=$ARCA_BUILD_DIR/provider
[ -f "$PROV_DIR/arca.so" ] || fail "arca.so not built"
export OPENSSL_MODULES=$PROV_DIR
# A sanitizer build of arca.so loads into the uninstrumented openssl binary
# only with the ASan runtime preloaded, and only into openssl (never into
# swtpm, its proxy or kms-client), as in test_provider_openssl.sh.
asan_rt=$(ldd "$PROV_DIR/arca.so" | awk '/libasan/ {print $3}')
RT=()
[ -z "$asan_rt" ] || RT=("LD_PRELOAD=$asan_rt" "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0")
OPENSSL_BIN=$(command -v openssl)
# env execs openssl: a background "ossl ... &" has openssl's own pid in $!.
ossl() { env "${RT[@]}" "$OPENSSL_BIN" "$@"; }
fresh_appliance

export ARCA_CLIENT_CONF=$T/client.conf ARCA_PARTITION=p1
P=(-provider arca -provider default)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The key in the appliance and its self-signed certificate (openssl req with
# the Arca key). type label [extra kcu args...]
key_and_cert() {
  local type=$1 label=$2; shift 2
  kcu key generate --type "$type" --label "$label" "$@" >/dev/null || fail "key generate $type $label"
  ossl req -new -x509 "${P[@]}" -key "arca:label=$label" -subj "/CN=$label" -days 2 -out "$T/$label.crt" \
    2>"$T/req.err" || fail "req -x509 $label: $(cat "$T/req.err")"
}

SRV_PID=
stop_server() {
  if [ -n "$SRV_PID" ]; then
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
  fi
}
# s_server for one connection (-naccept 1, -www: the status page, which
# shows the client certificate and its signature type) in the background;
# returns once it listens. Output in $T/srv.out. Arguments: s_server options.
start_server() {
  PORT=$(free_port)
  # Empty it first: the redirect below is opened in the background child,
  # and the previous server's ACCEPT must not be mistaken for this one's.
  : >"$T/srv.out"
  env "${RT[@]}" "$OPENSSL_BIN" s_server "${P[@]}" -accept "127.0.0.1:$PORT" -naccept 1 -www -tls1_3 -verify_return_error "$@" \
    >"$T/srv.out" 2>&1 </dev/null &
  SRV_PID=$!
  for _ in $(seq 1 200); do
    grep -q '^ACCEPT' "$T/srv.out" && return 0
    kill -0 "$SRV_PID" 2>/dev/null || fail "s_server exited: $(cat "$T/srv.out")"
    sleep 0.05
  done
  fail "s_server did not listen: $(cat "$T/srv.out")"
}
# s_client -brief against the server, a GET for the status page; output
# (handshake summary and page) in $T/cli.out; returns s_client's status.
run_client() {
  printf 'GET / HTTP/1.0\r\n\r\n' | ossl s_client -brief -ign_eof -connect "127.0.0.1:$PORT" \
    -servername localhost "$@" >"$T/cli.out" 2>&1
}
# One field of the client's -brief summary, e.g. "Protocol version".
cli_field() { sed -n "s/^$1: //p" "$T/cli.out" | head -n1; }

# lib.sh's cleanup with its exit status, after a still running s_server.
trap 'rc=$?; stop_server; (exit $rc); cleanup' EXIT
# name, kcu key type, the signature type as OpenSSL 3.0 names it (s_client
# -brief "Signature type": the server's CertificateVerify; the s_server
# status page "Peer signature type": the client's), kcu arguments.
CASES=("rsa rsa RSA-PSS" "ec ec ECDSA --curve P-256" "ed ed25519 ed25519")
for c in "${CASES[@]}"; do
  read -r name type _ extra <<<"$c"
  # shellcheck disable=SC2086
  key_and_cert "$type" "srv-$name" $extra
  # shellcheck disable=SC2086
  key_and_cert "$type" "cli-$name" $extra
done

for order in "arca default" "default arca"; do
  read -r first second <<<"$order"
  P=(-provider "$first" -provider "$second")
  # ---- server authentication: the server's CertificateVerify by the appliance
  for c in "${CASES[@]}"; do
    read -r name type sigtype _ <<<"$c"
    start_server -key "arca:label=srv-$name" -cert "$T/srv-$name.crt"
    run_client -CAfile "$T/srv-$name.crt" -verify_return_error || { stop_server; fail "s_client ($name): $(cat "$T/cli.out")"; }
    stop_server
    [ "$(cli_field 'Protocol version')" = TLSv1.3 ] || fail "$name: protocol: $(cat "$T/cli.out")"
    [ "$(cli_field 'Verification')" = OK ] || fail "$name: verification: $(cat "$T/cli.out")"
    [ "$(cli_field "Signature type")" = "$sigtype" ] || fail "$name: peer signature type: $(cat "$T/cli.out")"
    if [ "$name" != ed ]; then
      [ "$(cli_field "Hash used")" = SHA256 ] || fail "$name: peer signing digest: $(cat "$T/cli.out")"
    fi
    grep -q '^Peer certificate: CN = srv-'"$name"'$' "$T/cli.out" || fail "$name: peer certificate: $(cat "$T/cli.out")"
    grep -q '^HTTP/1.0 200 ok' "$T/cli.out" || fail "$name: no status page: $(cat "$T/cli.out")"
    pass "${P[*]}: s_server with arca:label=srv-$name: TLS 1.3, verified, peer signature type $sigtype"
  done

  # ---- client-certificate authentication with an Arca client key ----------
  for c in "${CASES[@]}"; do
    read -r name type sigtype _ <<<"$c"
    start_server -key "arca:label=srv-$name" -cert "$T/srv-$name.crt" -Verify 1 -CAfile "$T/cli-$name.crt"
    run_client -CAfile "$T/srv-$name.crt" -verify_return_error -key "arca:label=cli-$name" -cert "$T/cli-$name.crt" \
      "${P[@]}" || { stop_server; fail "s_client with client key ($name): $(cat "$T/cli.out")"; }
    stop_server
    [ "$(cli_field 'Protocol version')" = TLSv1.3 ] || fail "client $name: protocol: $(cat "$T/cli.out")"
    [ "$(cli_field 'Verification')" = OK ] || fail "client $name: verification: $(cat "$T/cli.out")"
    # The status page is the server's view: the client's certificate and the
    # signature type of the client's CertificateVerify.
    grep -q '^Client certificate' "$T/cli.out" || fail "client $name: server saw no client certificate: $(cat "$T/cli.out")"
    grep -q "Subject: CN=cli-$name$" "$T/cli.out" || fail "client $name: client certificate subject: $(cat "$T/cli.out")"
    grep -q "^Peer signature type: $sigtype\$" "$T/cli.out" || fail "client $name: client signature type: $(cat "$T/cli.out")"
    grep -q '^    Verify return code: 0 (ok)' "$T/cli.out" || fail "client $name: server verify: $(cat "$T/cli.out")"
    pass "${P[*]}: client authentication with arca:label=cli-$name against s_server -Verify 1: server saw $sigtype, verified"
  done

done
P=(-provider arca -provider default)

# ---- bad cases ----------------------------------------------------------------
# -Verify 1 refuses a client without a certificate (the checks above can fail).
start_server -key "arca:label=srv-ec" -cert "$T/srv-ec.crt" -Verify 1 -CAfile "$T/cli-ec.crt"
rc=0
run_client -CAfile "$T/srv-ec.crt" || rc=$?
stop_server
if grep -q '^HTTP/1.0 200 ok' "$T/cli.out"; then fail "client without a certificate got the page: $(cat "$T/cli.out")"; fi
grep -q 'alert certificate required' "$T/cli.out" || fail "no certificate: $(cat "$T/cli.out")"
pass "s_server -Verify 1 refuses a client without a certificate (alert certificate required, rc $rc)"

# A client certificate the server does not trust (another Arca key's) is refused.
start_server -key "arca:label=srv-ec" -cert "$T/srv-ec.crt" -Verify 1 -CAfile "$T/cli-rsa.crt"
rc=0
run_client -CAfile "$T/srv-ec.crt" -key "arca:label=cli-ec" -cert "$T/cli-ec.crt" "${P[@]}" || rc=$?
stop_server
if grep -q '^HTTP/1.0 200 ok' "$T/cli.out"; then fail "untrusted client certificate got the page: $(cat "$T/cli.out")"; fi
grep -q 'alert unknown ca' "$T/cli.out" || fail "untrusted client certificate: $(cat "$T/cli.out")"
pass "an untrusted client certificate is refused (alert unknown ca)"

# An Arca key with another key's certificate: s_server refuses to start
# (SSL_CTX_check_private_key: keymgmt match against the certificate's key).
rc=0
out=$(ossl s_server "${P[@]}" -accept "127.0.0.1:$(free_port)" -naccept 1 -www -key "arca:label=srv-ec" \
  -cert "$T/cli-ec.crt" </dev/null 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "s_server accepted a mismatched key and certificate: $out"
grep -q 'key values mismatch' <<<"$out" || fail "mismatched key: $out"
pass "s_server refuses arca:label=srv-ec with cli-ec's certificate (key values mismatch)"
echo "all provider TLS tests passed"
