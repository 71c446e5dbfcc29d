#!/usr/bin/env bash
# The running arca-enclave is its own process, not dumpable, under a
# seccomp filter, as another user, with no files open beyond its channel.
. "$(dirname "$0")/lib.sh"
fresh_appliance "enclave_user = nobody"

EPID=$(enclave_pid)
[ -n "$EPID" ] || fail "no enclave process"
[ "$EPID" != "$ARCAD_PID" ] || fail "enclave is not a separate process"
grep -E '^Seccomp:' /proc/$EPID/status
grep -qE '^Seccomp:[[:space:]]+2$' /proc/$EPID/status || fail "no seccomp filter in force"
pass "enclave has a seccomp filter (Seccomp: 2)"

uid=$(awk '/^Uid:/{print $2}' /proc/$EPID/status)
[ "$uid" = "$(id -u nobody)" ] || fail "enclave runs as uid $uid, not nobody"
# A non-dumpable process's /proc files belong to root, not to its own user.
owner=$(stat -c %U /proc/$EPID/status)
[ "$owner" = root ] || fail "/proc/$EPID/status owned by $owner: the enclave is dumpable"
limit=$(awk '/^Max core file size/{print $5}' /proc/$EPID/limits)
[ "$limit" = 0 ] || fail "enclave core limit is $limit"
capeff=$(awk '/^CapEff:/{print $2}' /proc/$EPID/status)
[ "$capeff" = 0000000000004000 ] || fail "enclave capabilities $capeff, expected CAP_IPC_LOCK alone"
grep -qE '^NoNewPrivs:[[:space:]]+1$' /proc/$EPID/status || fail "no_new_privs not set"
pass "enclave runs as nobody with CAP_IPC_LOCK alone, no_new_privs, not dumpable, core size limit 0"

# Nothing of the host's environment reaches the enclave (arcad's has
# ARCA_* variables from this test); sanitizer builds pass ASAN_OPTIONS alone.
envs=$(tr '\0' '\n' </proc/$EPID/environ | cut -d= -f1 | grep -v -E '^(ASAN_OPTIONS|UBSAN_OPTIONS)$' || true)
[ -z "$envs" ] || fail "the enclave inherited environment variables: $envs"
pass "the enclave starts with a clean environment"

# No file is open but stdio, the channel, and at most the counter file.
for fd in /proc/$EPID/fd/*; do
  n=${fd##*/}
  [ "$n" -le 2 ] && continue
  t=$(readlink "$fd")
  case $t in
    socket:*|anon_inode:*|*/dev-counter|/dev/null) ;;
    *) fail "enclave holds fd $n -> $t" ;;
  esac
done
pass "enclave holds no file other than its channel and counter"

# The enclave keeps working under the filter.
kcp key generate --type ec --label iso >/dev/null || fail "generate under seccomp"
grep -qE '^Seccomp:[[:space:]]+2$' /proc/$EPID/status || fail "enclave died"
pass "enclave serves requests under the filter"
