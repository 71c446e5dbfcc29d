#!/usr/bin/env bash
# arcad refuses to start, with a message that says why, on a wrong config,
# a missing or bad platform seed, a tampered enclave image, an unreadable
# store; and stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"

refuse() { # expected message (grep -E), then extra config lines
  local msg=$1; shift
  local out rc=0
  out=$(timeout 20 "$BIN_ARCAD" -c "$CONF" 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "arcad started although: $msg"
  [ $rc -ne 124 ] || fail "arcad hung instead of refusing: $msg"
  grep -qE "$msg" <<<"$out" || fail "expected /$msg/, got: $out"
  echo "ok: refused: $(grep -E "$msg" <<<"$out" | head -n1)"
}

write_conf
refuse "init" # not initialised yet: tells the operator to run init
arcad_init
expect_error "is already initialised" "$BIN_ARCAD" -c "$CONF" init   # a second init is refused
arcad_start; arcad_stop
pass "init, start, SIGTERM stop"

# Wrong config
write_conf "no_such_key = 1"
refuse ":5: unknown key" # after the four default lines (write_conf)
write_conf "cache_size_mb = lots"
refuse "cache_size_mb"
write_conf

# Platform seed: wrong size, group-readable, missing
cp "$STATE/dev-seed" "$T/seed.bak"
head -c 16 /dev/urandom >"$STATE/dev-seed"
refuse "ARCA_ERR_SEED"
cp "$T/seed.bak" "$STATE/dev-seed"; chmod 0644 "$STATE/dev-seed"
refuse "ARCA_ERR_SEED"
chmod 0600 "$STATE/dev-seed"; rm "$STATE/dev-seed"
refuse "ARCA_ERR_SEED"
cp "$T/seed.bak" "$STATE/dev-seed"; chmod 0600 "$STATE/dev-seed"
arcad_start; arcad_stop
pass "seed restored: starts again"

# Tampered enclave image (one byte changed) and a signature from another image
cp "$BIN_ENCLAVE" "$T/enclave"; cp "$BIN_ENCLAVE.sig" "$T/enclave.sig"
flip_byte "$T/enclave" 4000
write_conf "enclave_image = $T/enclave"
refuse "measurement"
cp "$BIN_ENCLAVE" "$T/enclave"
flip_byte "$T/enclave.sig" $(( $(stat -c %s "$T/enclave.sig") - 5 ))
refuse "signature"
write_conf "enclave_signer = $(printf '%064d' 0)"
refuse "signer"
write_conf

# Unreadable store: data file replaced by garbage
cp "$STATE/store/data.mdb" "$T/data.bak"
head -c 8192 /dev/urandom >"$STATE/store/data.mdb"
refuse "store"
cp "$T/data.bak" "$STATE/store/data.mdb"
arcad_start; arcad_stop
pass "store restored: starts again"
