#!/usr/bin/env bash
# A hostile host: frames of unknown type, not permitted in the current
# state, malformed, or over their size cap are refused by the real enclave
# with the exact error and a log line; never a crash.
. "$(dirname "$0")/lib.sh"
"$ARCA_BUILD_DIR/tests/fake_host" "$BIN_ENCLAVE" 2>"$T/enclave.log" || { cat "$T/enclave.log"; fail "refusals"; }
grep -q "refused frame type 0x0077" "$T/enclave.log" || fail "the enclave did not log the refusal: $(cat "$T/enclave.log")"
"$ARCA_BUILD_DIR/tests/fake_host" "$BIN_ENCLAVE" --oversize 2>"$T/enclave2.log" || { cat "$T/enclave2.log"; fail "oversize"; }
grep -q "ARCA_ERR_FRAME_SIZE" "$T/enclave2.log" || fail "no log line about the size cap: $(cat "$T/enclave2.log")"
pass "hostile frames refused, with log lines, no crash"
