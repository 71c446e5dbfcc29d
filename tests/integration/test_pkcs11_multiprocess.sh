#!/usr/bin/env bash
# Several processes on one token of libarca-pkcs11.so at once
# (pkcs11_multiproc.c, built here with cc, loads the module with dlopen):
# two signer processes, each with two threads (ECDSA P-256 and RSA 2048
# signatures made in the appliance, every 10th checked with C_Verify), sign
# for 10 s while a third process generates and destroys token keys. Asserts:
# every call of every process succeeds (errors 0, exit status 0); each signer
# makes at least MIN_SIGS signatures (default 100); each signer finds by label
# the keys the third process created after it created them (exactly one
# object, at least 5 times) and no longer finds the keys it destroyed; the
# creator made at least 5 keys.
. "$(dirname "$0")/lib.sh"
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (deploy/packages.sh test: opensc)"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
SECONDS_RUN=${ARCA_MP_SECONDS:-10}
MIN_SIGS=${ARCA_MP_MIN_SIGS:-100}
PRELOAD=$(sanitizer_preload "$MOD")
cc -std=c11 -Wall -Wextra -Werror -o "$T/mp" "$(dirname "$0")/pkcs11_multiproc.c" $(pkg-config --cflags p11-kit-1) -ldl -lpthread ||
  fail "cannot build pkcs11_multiproc.c"
mp() { LD_PRELOAD="$PRELOAD" "$T/mp" "$MOD" "$@"; }
p11u() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 pkcs11-tool --module "$MOD" --login --pin "$ARCA_PIN" "$@"; }

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf
p11u --keypairgen --key-type EC:prime256v1 --label mp-ec --id 31 >"$T/gen.out" 2>&1 || { cat "$T/gen.out"; fail "keypairgen EC"; }
p11u --keypairgen --key-type rsa:2048 --label mp-rsa --id 32 >"$T/gen.out" 2>&1 || { cat "$T/gen.out"; fail "keypairgen RSA"; }

mp create "$SECONDS_RUN" "$T/status" >"$T/creator.out" 2>"$T/creator.err" & cpid=$!
mp sign "$SECONDS_RUN" "$T/status" >"$T/signer1.out" 2>"$T/signer1.err" & s1=$!
mp sign "$SECONDS_RUN" "$T/status" >"$T/signer2.out" 2>"$T/signer2.err" & s2=$!
rc=0
wait $cpid || rc=$?
[ $rc = 0 ] || { cat "$T/creator.out" "$T/creator.err"; fail "creator exited with $rc"; }
for s in 1 2; do
  eval "p=\$s$s"; rc=0
  wait "$p" || rc=$?
  [ $rc = 0 ] || { cat "$T/signer$s.out" "$T/signer$s.err"; fail "signer $s exited with $rc"; }
done
cat "$T/creator.out" "$T/signer1.out" "$T/signer2.out" | sed 's/^/  /'
for f in creator.err signer1.err signer2.err; do
  [ ! -s "$T/$f" ] || { cat "$T/$f"; fail "$f is not empty"; }
done
read -r kept churned cerr < <(sed -n 's/^creator [0-9]*: kept \([0-9]*\) created-destroyed \([0-9]*\) errors \([0-9]*\)$/\1 \2 \3/p' "$T/creator.out")
[ "${cerr:-x}" = 0 ] || fail "creator: errors ${cerr:-?}"
[ "$kept" -ge 5 ] && [ "$churned" -ge 5 ] || fail "creator made only $kept kept / $churned created-destroyed keys"
for s in 1 2; do
  read -r sigs ver seen gone err < <(sed -n 's/^signer [0-9]*: signatures \([0-9]*\) verified \([0-9]*\) new-keys-seen \([0-9]*\) destroyed-gone \([0-9]*\) errors \([0-9]*\)$/\1 \2 \3 \4 \5/p' "$T/signer$s.out")
  [ "${err:-x}" = 0 ] || fail "signer $s: errors ${err:-?}"
  [ "$sigs" -ge "$MIN_SIGS" ] || fail "signer $s: only $sigs signatures (minimum $MIN_SIGS)"
  [ "$ver" -ge 1 ] || fail "signer $s: no signature verified"
  [ "$seen" -ge 5 ] || fail "signer $s: saw the creator's new keys only $seen times"
  [ "$gone" = "$seen" ] || fail "signer $s: destroyed keys checked $gone times, new keys $seen times"
  grep -q "thread 0 (ECDSA) [1-9][0-9]* signatures, thread 1 (RSA) [1-9][0-9]* signatures" "$T/signer$s.out" ||
    fail "signer $s: a thread made no signature"
done
# Afterwards every kept key is there once and every destroyed pair is gone.
mp check "$kept" - >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "after the run"; }
[ "$(cat "$T/check.out")" = "check: $kept kept keys found, $kept destroyed pairs gone" ] || { cat "$T/check.out"; fail "check output"; }
pass "2 signer processes x 2 threads signed for ${SECONDS_RUN} s while a third created and destroyed keys: no error, new keys seen at once, destroyed keys gone"
