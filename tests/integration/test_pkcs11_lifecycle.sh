#!/usr/bin/env bash
# libarca-pkcs11.so: session objects shared by the application's sessions,
# fork(), and C_InitToken (pkcs11_sessions.c, built here with cc, loads the
# module with dlopen like an application):
#  - sessobj: a session object made on one session is found, read, used
#    (sign, encrypt, decrypt), relabelled and destroyed from the others; a
#    wrap naming session objects of two other sessions is
#    CKR_FUNCTION_FAILED; when its session closes its handles are
#    CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID in every session and
#    an operation in progress with it ends with CKR_KEY_HANDLE_INVALID; a
#    logout and C_CloseAllSessions end them too; token objects stay;
#  - fork: a parent with 3 logged-in sessions (one connection each, each
#    with a session key) forks; a child that does not call C_Initialize
#    gets CKR_CRYPTOKI_NOT_INITIALIZED at once (no hang); a child that does
#    holds none of the inherited appliance sockets (/proc/self/fd), opens a
#    session, logs in and signs; the parent's sessions, login and session
#    objects then still work (no TLS close_notify went out on them);
#  - C_InitToken (pkcs11-tool --init-token, and C_InitToken from a second
#    process while this one is logged in: CKR_SESSION_EXISTS): a wrong SO
#    PIN is CKR_PIN_INCORRECT; success destroys every token object of p1
#    (not p2's), clears the user PIN (a user login is
#    CKR_USER_PIN_NOT_INITIALIZED) until the SO's --init-pin; the
#    audit log holds INIT_TOKEN with the count; the keys stay gone after an
#    appliance restart; kms-client partition reset does the same for p2.
. "$(dirname "$0")/lib.sh"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
PRELOAD=$(sanitizer_preload "$MOD")
p11s() { LD_PRELOAD="$PRELOAD" "$T/p11s" "$MOD" "$@"; }
cc -std=c11 -Wall -Wextra -Werror -o "$T/p11s" "$(dirname "$0")/pkcs11_sessions.c" $(pkg-config --cflags p11-kit-1) -ldl -lpthread ||
  fail "cannot build pkcs11_sessions.c"

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf

p11s sessobj >"$T/sessobj.out" 2>&1 || { cat "$T/sessobj.out"; fail "session objects"; }
grep -q "^all session object checks passed$" "$T/sessobj.out" || { cat "$T/sessobj.out"; fail "sessobj: no summary"; }
pass "session objects: visible to and usable from every session; invalid everywhere once their session closes"

p11s fork >"$T/fork.out" 2>&1 || { cat "$T/fork.out"; fail "fork"; }
grep -q "^all fork checks passed$" "$T/fork.out" || { cat "$T/fork.out"; fail "fork: no summary"; }
pass "fork: child without C_Initialize CKR_CRYPTOKI_NOT_INITIALIZED; child with it holds no inherited socket and signs; parent intact"

# C_InitToken.
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (deploy/packages.sh test: opensc)"
p11() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 pkcs11-tool --module "$MOD" "$@"; }
p11u() { p11 --login --pin "$ARCA_PIN" "$@"; }
kc partition create p2 >/dev/null || fail "partition create p2"
PARTITION=p2 kcp key generate --type aes --bits 128 --label p2-key >"$T/p2.out" 2>&1 || { cat "$T/p2.out"; fail "p2 key"; }
p11u --keygen --key-type AES:32 --label it-aes --id 41 >"$T/g1.out" 2>&1 || { cat "$T/g1.out"; fail "AES key"; }
p11u --keypairgen --key-type EC:prime256v1 --label it-ec --id 42 >"$T/g2.out" 2>&1 || { cat "$T/g2.out"; fail "EC key pair"; }
[ "$(p11u -O 2>/dev/null | grep -c '^[A-Z][a-z]* Key Object')" = 3 ] || fail "expected 3 token objects before C_InitToken"

p11s busy >"$T/busy.out" 2>&1 || { cat "$T/busy.out"; fail "C_InitToken while another process is logged in"; }
pass "C_InitToken while another process is logged in: CKR_SESSION_EXISTS, nothing erased"

rc=0
p11 --init-token --label p1 --so-pin wrong-so-pin-1 >"$T/it-bad.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q CKR_PIN_INCORRECT "$T/it-bad.out" || { cat "$T/it-bad.out"; fail "wrong SO PIN: expected CKR_PIN_INCORRECT"; }
[ "$(p11u -O 2>/dev/null | grep -c '^[A-Z][a-z]* Key Object')" = 3 ] || fail "a refused C_InitToken erased objects"
p11 --init-token --label p1 --so-pin "$ARCA_SO_PIN" >"$T/it.out" 2>&1 || { cat "$T/it.out"; fail "pkcs11-tool --init-token"; }
# (CKF_USER_PIN_INITIALIZED clears in the process that re-initialised, or
# that was told CKR_USER_PIN_NOT_INITIALIZED: checked in pkcs11_sessions.c.)
rc=0
p11u -O >"$T/it-login.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q CKR_USER_PIN_NOT_INITIALIZED "$T/it-login.out" || { cat "$T/it-login.out"; fail "user login after C_InitToken: expected CKR_USER_PIN_NOT_INITIALIZED"; }
p11 --init-pin --login --login-type so --so-pin "$ARCA_SO_PIN" --new-pin "$ARCA_PIN" >"$T/initpin.out" 2>&1 ||
  { cat "$T/initpin.out"; fail "pkcs11-tool --init-pin"; }
grep -q "token flags *: login required, rng, token initialized, PIN initialized" <<<"$(p11 -L 2>/dev/null)" || fail "-L after --init-pin"
p11u -O >"$T/it-O.out" 2>&1 || { cat "$T/it-O.out"; fail "-O after --init-pin"; }
! grep -q "Key Object" "$T/it-O.out" || { cat "$T/it-O.out"; fail "objects left after C_InitToken"; }
grep -q "INIT_TOKEN .*partition p1; 3 token objects destroyed; user pin cleared" <<<"$(kc audit show --from 1 --max 1024)" ||
  fail "no INIT_TOKEN audit record with the count"
PARTITION=p2 kcp key list >"$T/p2-list.out" 2>&1 || { cat "$T/p2-list.out"; fail "p2 key list"; }
grep -q p2-key "$T/p2-list.out" || { cat "$T/p2-list.out"; fail "p2's key went with p1's"; }
pass "pkcs11-tool --init-token: p1's 3 token objects destroyed, p2 untouched, user PIN cleared until --init-pin, audited"

arcad_stop
arcad_start
p11u -O >"$T/it-O2.out" 2>&1 || { cat "$T/it-O2.out"; fail "-O after restart"; }
! grep -q "Key Object" "$T/it-O2.out" || { cat "$T/it-O2.out"; fail "destroyed objects are back after a restart"; }
grep -q p2-key <<<"$(PARTITION=p2 kcp key list 2>&1)" || fail "p2's key lost in the restart"
pass "after an appliance restart: p1 still empty, p2's key there"

# kms-client partition reset (INIT_TOKEN for an operator).
rc=0
(unset ARCA_SO_PIN; kc partition reset p2) >"$T/reset-usage.out" 2>&1 || rc=$?
[ $rc = 2 ] || { cat "$T/reset-usage.out"; fail "partition reset without ARCA_SO_PIN: expected exit 2, got $rc"; }
ARCA_SO_PIN=wrong-so-pin-2 expect_error ARCA_ERR_PIN_INCORRECT kc partition reset p2
expect_error ARCA_ERR_NOT_FOUND kc partition reset nope
out=$(kc partition reset p2) || fail "kms-client partition reset p2"
[ "$out" = "partition p2 reset: 1 token objects destroyed; user PIN cleared" ] || fail "partition reset said: $out"
PARTITION=p2 expect_error ARCA_ERR_NOT_INITIALISED kcp key list
pass "kms-client partition reset p2: 1 token object destroyed, user PIN cleared"

echo "all pkcs11 lifecycle tests passed"
