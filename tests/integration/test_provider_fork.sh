#!/usr/bin/env bash
# Threads and fork() with the arca provider (docs/openssl.md, "Connections"):
# tests/integration/provider_threads.c signs with one Arca key from 4
# threads at once for 2 seconds (every signature verified by the default
# provider), then forks: the child loads the key after the fork and signs
# on its own connections (and with the key loaded before the fork) while
# the parent's threads go on signing on the parent's; the parent signs again after the child has exited. For ECDSA,
# RSA and Ed25519 keys, with arca loaded first and with default first.
source "$(dirname "$0")/lib.sh"
PROV_DIR=$ARCA_BUILD_DIR/provider
[ -f "$PROV_DIR/arca.so" ] || fail "arca.so not built"
export OPENSSL_MODULES=$PROV_DIR
asan_rt=$(sanitizer_preload "$PROV_DIR/arca.so")
with_rt() {
  if [ -n "$asan_rt" ]; then
    LD_PRELOAD=$asan_rt ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 "$@"
  else
    "$@"
  fi
}
fresh_appliance
export ARCA_CLIENT_CONF=$T/client.conf ARCA_PARTITION=p1
cc -Wall -Wextra -Werror -o "$T/provider_threads" "$(dirname "$0")/provider_threads.c" -lcrypto -lpthread \
  || fail "cc provider_threads"

for c in "ec1 ec" "rsa1 rsa" "ed1 ed25519"; do
  read -r label type <<<"$c"
  pubid=$(kcu key generate --type "$type" --label "$label" | head -n1 | first_field) || fail "key generate $label"
  kcu key public "$pubid" --out "$T/$label.pub.der" >/dev/null || fail "key public $label"
  openssl pkey -pubin -inform DER -in "$T/$label.pub.der" -out "$T/$label.pub.pem" || fail "pub pem $label"
done

for order in arca-first default-first; do
  for label in ec1 rsa1 ed1; do
    rc=0
    out=$(with_rt timeout 120 "$T/provider_threads" "arca:label=$label" "$T/$label.pub.pem" 2 "$order" 2>&1) || rc=$?
    [ $rc -eq 0 ] || fail "$label ($order): exit $rc: $out"
    grep -qx "child 20 inherited 10" <<<"$out" || fail "$label ($order): child: $out"
    line=$(grep '^threads ' <<<"$out") || fail "$label ($order): $out"
    read -r _ nthreads _ nparent <<<"$line"
    [ "$nthreads" -ge 8 ] || fail "$label ($order): only $nthreads signatures from 4 threads in 2 s"
    [ "$nparent" -ge 21 ] || fail "$label ($order): parent signed $nparent times"
    grep -q "AddressSanitizer\|runtime error" <<<"$out" && fail "$label ($order): sanitizer report: $out"
    pass "$label ($order): 4 threads $nthreads signatures, child after fork 20 (+10 with the inherited key), parent $nparent, all verified"
  done
done
# The appliance is still well: the enclave served all of it.
kill -0 "$(enclave_pid)" 2>/dev/null || fail "the enclave is gone"
echo "all provider fork and thread tests passed"
