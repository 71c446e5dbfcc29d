#!/usr/bin/env bash
# deploy/systemd: the systemd units are accepted by `systemd-analyze verify`
# (with this build's binaries in ExecStart=), and `systemd-analyze security`
# scores arcad.service - the unit arca-enclave runs in, as arcad's child -
# at 2.0 or lower, also with the tpm drop-in; a copy stripped of its
# sandboxing scores worse (so the score check can fail). Then the appliance
# runs with the unit's credentials (an unprivileged user, CAP_IPC_LOCK as
# its only capability, bounding and ambient, no_new_privs, its state
# directory created beforehand as StateDirectory= does) under strace -f,
# and every system call arcad and arca-enclave make is one the unit's
# SystemCallFilter= allows: the filter cannot kill the appliance in
# service.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
UNITS=$SRC/deploy/systemd
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (deploy/packages.sh test: systemd)"
command -v strace >/dev/null || fail "strace is not installed (deploy/packages.sh test)"
command -v setpriv >/dev/null || fail "setpriv is not installed (util-linux)"
MAX_EXPOSURE=2.0

# 1. The units with this build's paths (the shipped ones name /usr/sbin/arcad).
mkdir "$T/units"
for u in arcad.service arcad-init.service; do
  [ -f "$UNITS/$u" ] || fail "missing deploy/systemd/$u"
  sed "s#/usr/sbin/arcad#$BIN_ARCAD#g" "$UNITS/$u" >"$T/units/$u"
  grep -q "^ExecStart=$BIN_ARCAD -c /etc/arca/arcad.conf" "$T/units/$u" || fail "$u: no ExecStart=/usr/sbin/arcad -c /etc/arca/arcad.conf"
done
# The tpm variant: the drop-in's [Service] lines after the unit's (what
# systemd does with /etc/systemd/system/arcad.service.d/tpm.conf).
cat "$T/units/arcad.service" "$UNITS/dropins/tpm.conf" >"$T/units/arcad-tpm.service"

verify() { # unit files...
  local out rc=0
  out=$(cd "$T/units" && systemd-analyze verify "$@" 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "systemd-analyze verify $* (exit $rc): $out"
  # verify also reports problems in units it pulls in (the host's); ours must be clean
  ! grep -E "^($(IFS='|'; echo "$*" | sed 's/\./\\./g')):" <<<"$out" || fail "systemd-analyze verify $*: $out"
}
verify arcad.service arcad-init.service
verify arcad-tpm.service
pass "systemd-analyze verify accepts arcad.service, arcad-init.service and arcad.service + dropins/tpm.conf"

exposure() { # unit file -> the overall exposure level (a number)
  local out
  out=$(cd "$T/units" && systemd-analyze security --offline=yes "./$1" 2>&1) || true
  sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\) .*$/\1/p' <<<"$out" | tail -n1
}
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
for u in arcad.service arcad-tpm.service arcad-init.service; do
  e=$(exposure "$u")
  [ -n "$e" ] || fail "no 'Overall exposure level' line from systemd-analyze security for $u"
  at_most "$e" "$MAX_EXPOSURE" || fail "$u: exposure $e is above $MAX_EXPOSURE: $(cd "$T/units" && systemd-analyze security --offline=yes "./$u" 2>&1 | grep '✗')"
  pass "systemd-analyze security --offline=yes $u: $e (at most $MAX_EXPOSURE)"
done
# The check can fail: without its sandboxing lines the same unit scores worse.
grep -vE '^(Protect|Private|Restrict|SystemCall|Capability|Ambient|NoNewPrivileges|MemoryDeny|LockPersonality|IPAddress|RemoveIPC|KeyringMode|SecureBits|User|Group|UMask|DynamicUser)' \
  "$T/units/arcad.service" >"$T/units/arcad-bare.service"
e=$(exposure arcad-bare.service)
[ -n "$e" ] && ! at_most "$e" "$MAX_EXPOSURE" || fail "a unit without sandboxing scores $e, not above $MAX_EXPOSURE"
pass "the same unit without its sandboxing scores $e (above $MAX_EXPOSURE)"

# sysusers: the user the units run as.
grep -qE '^u arca ' "$UNITS/arca.sysusers" || fail "arca.sysusers does not create the user arca"
out=$(systemd-sysusers --dry-run "$UNITS/arca.sysusers" 2>&1) || fail "systemd-sysusers --dry-run arca.sysusers: $out"
for u in arcad.service arcad-init.service; do
  grep -qx "User=arca" "$UNITS/$u" && grep -qx "Group=arca" "$UNITS/$u" || fail "$u does not run as arca:arca"
done
pass "arca.sysusers parses and creates arca, the user of both units"

# 2. The system calls the unit allows: the first SystemCallFilter= line is
# the allow list, a later "~" line removes from it; groups expand
# recursively (systemd-analyze syscall-filter @group).
expand() {
  local n
  for n in "$@"; do
    if [[ $n == @* ]]; then
      # shellcheck disable=SC2046
      expand $(systemd-analyze syscall-filter "$n" | awk 'NR > 1 && $1 !~ /^#/ && NF {print $1}')
    else
      echo "$n"
    fi
  done
}
mapfile -t filters < <(sed -n 's/^SystemCallFilter=//p' "$UNITS/arcad.service")
[ ${#filters[@]} -eq 2 ] && [[ ${filters[0]} != "~"* ]] && [[ ${filters[1]} == "~"* ]] \
  || fail "expected one allow-list SystemCallFilter= line and one ~deny line: ${filters[*]}"
# shellcheck disable=SC2086
expand ${filters[0]} | sort -u >"$T/allow.list"
# shellcheck disable=SC2086
expand ${filters[1]#\~} | sort -u >"$T/deny.list"
comm -23 "$T/allow.list" "$T/deny.list" >"$T/allowed"
for s in memfd_secret seccomp read write execveat; do grep -qx "$s" "$T/allowed" || fail "$s is not allowed by the unit"; done
for s in ptrace process_vm_readv mount setuid setrlimit init_module; do ! grep -qx "$s" "$T/allowed" || fail "$s is allowed by the unit"; done

# 3. The appliance as the unit runs it: the unprivileged user (nobody here,
# arca in service), CAP_IPC_LOCK alone, no_new_privs, its own state and
# runtime directories, under strace -f. setpriv plays systemd's part, so
# its own system calls are not traced (strace starts after it).
SVC_USER=nobody SVC_GROUP=$(id -gn nobody)
mkdir -m 0700 "$STATE" && chown "$SVC_USER:$SVC_GROUP" "$STATE"
mkdir -m 0750 "$T/run" && chown "$SVC_USER:$SVC_GROUP" "$T/run"
mkdir -m 0700 "$T/trace" && chown "$SVC_USER:$SVC_GROUP" "$T/trace"
export ARCA_SOCKET=$T/run/arcad.sock
write_client_conf "$T/admin.conf" admin
write_client_conf "$T/client.conf" client
REAL_ARCAD=$BIN_ARCAD
BIN_ARCAD=$T/arcad-as-unit
# LeakSanitizer cannot run under ptrace: off for the traced sanitizer build.
cat >"$BIN_ARCAD" <<EOF
#!/bin/sh
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
exec setpriv --reuid=$SVC_USER --regid=$SVC_GROUP --clear-groups --no-new-privs \\
  --bounding-set=-all,+ipc_lock --inh-caps=-all,+ipc_lock --ambient-caps=+ipc_lock \\
  strace -f -qq -o "$T/trace/trace.\$\$" "$REAL_ARCAD" "\$@"
EOF
chmod 0755 "$BIN_ARCAD"
# strace blocks SIGTERM while it runs a program (-o FILE PROGRAM): stop
# arcad itself, then wait for strace to report its exit.
stop_traced() {
  [ -n "${ARCAD_PID:-}" ] || return 0
  local child
  child=$(pgrep -P "$ARCAD_PID" -x arcad || true)
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
  local rc=0
  wait "$ARCAD_PID" || rc=$?
  ARCAD_PID=
  cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG" 2>/dev/null || true
  return $rc
}
trap 'rc=$?; stop_traced || true; (exit $rc); cleanup' EXIT
# The unit's configuration: a runtime directory for the socket (/run/arca).
fresh_appliance "listen_socket = $ARCA_SOCKET"
st=$(kc status) || fail "kms-client status against the appliance run as the unit runs it"
epid=$(pgrep -P "$(pgrep -P "$ARCAD_PID" -x arcad)" -f arca-enclave | head -n1)
[ -n "$epid" ] || fail "no enclave process"
[ "$(stat -c %u "/proc/$epid")" = "$(id -u "$SVC_USER")" ] || fail "the enclave does not run as $SVC_USER"
grep -q "^CapEff:[[:space:]]*0000000000004000$" "/proc/$epid/status" || fail "enclave capabilities: $(grep Cap "/proc/$epid/status")"
grep -q "^secret_memory: memfd_secret" <<<"$st" || fail "the enclave has no memfd_secret memory as the unit runs it: $st"
pass "arcad as an unprivileged user with only CAP_IPC_LOCK: the enclave runs as that user with CAP_IPC_LOCK and memfd_secret memory"

head -c 1000 /dev/urandom >"$T/msg"
k=$(kcu key generate --type ec --curve P-256 --label traced | awk '/ private /{print $1}')
[ -n "$k" ] || fail "key generate"
kcu sign "$k" --mech ecdsa-sha256 --in "$T/msg" --out "$T/sig" || fail "sign"
a=$(kcu key generate --type aes --label traced-aes | first_field) || fail "aes key"
kcu encrypt "$a" --mech aes-gcm --in "$T/msg" --out "$T/ct" || fail "encrypt"
kcu key rotate "$a" >/dev/null || fail "rotate"
kcu decrypt "$a" --mech aes-gcm --in "$T/ct" --out "$T/pt" && cmp -s "$T/msg" "$T/pt" || fail "decrypt"
kc attest >/dev/null || fail "attest"
kc audit verify >/dev/null || fail "audit verify"
stop_traced || fail "arcad did not stop cleanly on SIGTERM"
! grep -q "killed by signal" "$ARCAD_LOG" || fail "a process was killed: $(grep "killed by signal" "$ARCAD_LOG")"

ls "$T"/trace/trace.* >/dev/null 2>&1 || fail "no strace output"
sed -n 's/^[0-9][0-9]* \{1,\}\([a-z_0-9]\{1,\}\)(.*$/\1/p' "$T"/trace/trace.* | sort -u >"$T/used"
[ "$(wc -l <"$T/used")" -gt 30 ] && grep -qx memfd_secret "$T/used" && grep -qx execveat "$T/used" \
  || fail "the trace does not look like arcad and the enclave: $(tr '\n' ' ' <"$T/used")"
missing=$(comm -23 "$T/used" "$T/allowed" | tr '\n' ' ')
[ -z "$missing" ] || fail "system calls the unit's SystemCallFilter= would refuse: $missing"
pass "the $(wc -l <"$T/used") system calls arcad and arca-enclave made (init, start, keys, attest, audit, stop; $ARCA_TEST_MODE mode) are all allowed by SystemCallFilter="
