#!/usr/bin/env bash
# Runs the operator runbooks in deploy/runbooks/*.md step by step against a
# fresh appliance each: the commands are taken from the Markdown, never
# copied here. The conventions (deploy/runbooks/README.md):
#   - front matter between two `---` lines: `status: tested` (run) or
#     `status: planned` (skipped: the commands do not exist yet), and
#     `modes: dev tpm` (the sealing modes it runs in; others are skipped);
#   - every ```sh block is one step, run in order in one shell environment
#     (exported and assigned variables, functions and the working directory
#     carry over to the next step), under `set -euo pipefail`;
#   - the first ```sh block sets the runbook's variables, only lines
#     `export NAME="${NAME:-default}"`: the operator edits the defaults, the
#     test presets NAME (ARCA_CLIENT_CONF, ARCA_PARTITION, paths...);
#   - a ```expect block right after a ```sh block states its outcome: an
#     optional first line `exit N` (default 0), then extended regular
#     expressions that must each match a line of the step's output
#     (stdout and stderr);
#   - `systemctl start|stop|restart arcad` controls the appliance: here a
#     stand-in on PATH that stops and starts this test's arcad.
# The test environment of each runbook (keys it starts from, the images an
# upgrade needs) comes from fixture_<name> below, and after_<name> checks
# what the runbook promises beyond its own steps. Planned runbooks, and
# runbooks not meant for this mode, are listed as skipped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUNBOOKS=$(cd "$HERE/../../deploy/runbooks" && pwd)
MODE=${ARCA_TEST_MODE:-dev}

front() { # file key -> the value of "key:" in the front matter (comment stripped)
  awk -v k="$2" 'NR == 1 && $0 != "---" {exit} NR > 1 && $0 == "---" {exit}
                 NR > 1 && index($0, k ":") == 1 {v = substr($0, length(k) + 2); sub(/#.*/, "", v); gsub(/^ +| +$/, "", v); print v}' "$1"
}

# --- parent: one child run per runbook --------------------------------------
if [ "${1:-}" != --runbook ]; then
  ran=() skipped=() failed=()
  shopt -s nullglob
  books=("$RUNBOOKS"/*.md)
  [ ${#books[@]} -gt 0 ] || { echo "FAIL: no runbooks in $RUNBOOKS" >&2; exit 1; }
  for book in "${books[@]}"; do
    name=$(basename "$book")
    [ "$name" != README.md ] || continue
    status=$(front "$book" status)
    modes=$(front "$book" modes)
    case $status in
      planned) skipped+=("$name (status: planned)"); continue ;;
      tested) ;;
      *) echo "FAIL: $name: front matter 'status:' must be tested or planned, not '$status'" >&2; failed+=("$name"); continue ;;
    esac
    [ -n "$modes" ] || { echo "FAIL: $name: no 'modes:' in the front matter" >&2; failed+=("$name"); continue; }
    if ! grep -qw -- "$MODE" <<<"$modes"; then skipped+=("$name (modes: $modes; this run: $MODE)"); continue; fi
    echo "== $name"
    if bash "$0" --runbook "$book"; then ran+=("$name"); else failed+=("$name"); fi
  done
  echo
  for s in "${skipped[@]}"; do echo "skipped: $s"; done
  [ ${#failed[@]} -eq 0 ] || { echo "FAIL: runbooks that failed: ${failed[*]}" >&2; exit 1; }
  [ ${#ran[@]} -ge 4 ] || [ "$MODE" != dev ] || { echo "FAIL: only ${#ran[@]} runbooks ran in dev mode: ${ran[*]}" >&2; exit 1; }
  [ ${#ran[@]} -ge 1 ] || { echo "FAIL: no runbook ran" >&2; exit 1; }
  echo "ok: ${#ran[@]} runbooks executed step by step in $MODE mode: ${ran[*]}"
  exit 0
fi

# --- child: one runbook against its own appliance ---------------------------
BOOK=$2
NAME=$(basename "$BOOK" .md)
. "$HERE/lib.sh"
RB=$T/runbook
mkdir -p "$RB/steps" "$RB/work" "$RB/bin"

# Split the Markdown into steps: steps/NN.sh, steps/NN.expect, steps/NN.title.
awk -v dir="$RB/steps" '
  /^#+ / { title = $0 }
  /^```sh[[:space:]]*$/ { n++; file = sprintf("%s/%02d.sh", dir, n); printf "%s\n", title > sprintf("%s/%02d.title", dir, n); inblock = 1; next }
  /^```expect[[:space:]]*$/ {
    if (n == 0 || had_expect[n]) { print "expect block without a preceding sh block (line " NR ")" > "/dev/stderr"; bad = 1 }
    had_expect[n] = 1; file = sprintf("%s/%02d.expect", dir, n); inblock = 1; next }
  /^```/ { if (inblock) { inblock = 0; next } }
  inblock { print > file }
  END { exit bad }' "$BOOK" || fail "$NAME: malformed expect block"
nsteps=$(find "$RB/steps" -name '*.sh' | wc -l)
[ "$nsteps" -ge 3 ] || fail "$NAME: only $nsteps sh blocks"

# The first block: variables only, each with an overridable default.
while IFS= read -r line; do
  [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
  [[ $line =~ ^export\ ([A-Z_][A-Z0-9_]*)=\"\$\{([A-Z_][A-Z0-9_]*):-[^}]*\}\"[[:space:]]*(#.*)?$ ]] \
    && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] \
    || fail "$NAME: the first sh block may only hold lines export NAME=\"\${NAME:-default}\", not: $line"
done <"$RB/steps/01.sh"

# Tools by name, as on an installed appliance; systemctl drives this arcad.
ln -s "$BIN_CLIENT" "$RB/bin/kms-client"
ln -s "$ARCA_BUILD_DIR/appliance/arca-sign" "$RB/bin/arca-sign"
ln -s "$BIN_ARCAD" "$RB/bin/arcad"
cat >"$RB/bin/systemctl" <<EOF
#!/usr/bin/env bash
# Stand-in for systemctl in the runbook test: start, stop, restart arcad.
set -euo pipefail
unit=\${2%.service}
[ \$# -eq 2 ] && [ "\$unit" = arcad ] || { echo "systemctl stand-in: only start|stop|restart arcad, not: \$*" >&2; exit 2; }
stop() {
  local pid
  pid=\$(cat "$STATE/arcad.pid" 2>/dev/null || true)
  [ -n "\$pid" ] && kill -0 "\$pid" 2>/dev/null || return 0
  kill -TERM "\$pid"
  for _ in \$(seq 1 600); do kill -0 "\$pid" 2>/dev/null || return 0; sleep 0.05; done
  echo "systemctl stand-in: arcad (pid \$pid) did not stop" >&2; exit 1
}
start() {
  local log="$T/arcad.systemctl.\$(date +%s%N).log"
  setsid "$BIN_ARCAD" -c "$CONF" >"\$log" 2>&1 </dev/null &
  for _ in \$(seq 1 400); do
    grep -q "arcad: ready" "\$log" && { cat "\$log" >>"$ARCAD_LOG"; return 0; }
    kill -0 \$! 2>/dev/null || { cat "\$log" >>"$ARCAD_LOG"; echo "systemctl stand-in: arcad failed: \$(tail -n 5 "\$log")" >&2; exit 1; }
    sleep 0.05
  done
  echo "systemctl stand-in: arcad did not become ready" >&2; exit 1
}
case \$1 in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "systemctl stand-in: unknown command \$1" >&2; exit 2 ;;
esac
EOF
chmod 0755 "$RB/bin/systemctl"
# arcad started by the stand-in is not lib.sh's ARCAD_PID: stop it at exit.
stop_any_arcad() {
  local pid
  pid=$(cat "$STATE/arcad.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
}
trap 'rc=$?; stop_any_arcad; (exit $rc); cleanup' EXIT

# --- fixtures and checks per runbook ----------------------------------------
fixture_key_rotation() {
  kcp key generate --type aes --label payments-data >/dev/null || fail "fixture: AES key"
  kcp key generate --type ec --curve P-256 --label payments-signing >/dev/null || fail "fixture: EC key pair"
}
after_key_rotation() {
  local out
  out=$(kcp key list --label payments-data)
  [ "$(grep -c . <<<"$out")" -eq 1 ] && grep -q " v2 primary payments-data$" <<<"$out" \
    || fail "after key rotation: expected only v2 of payments-data (v1 destroyed): $out"
  out=$(kcp key list --label payments-signing)
  grep -q " private ec 256 v2 primary payments-signing$" <<<"$out" && grep -q " public ec 256 v1 payments-signing$" <<<"$out" \
    || fail "after key rotation: payments-signing: $out"
}
fixture_client_cert_rotation() {
  # The application's configuration, as installed on its host.
  mkdir -p "$T/app"
  cp "$PKI/client.pem" "$PKI/client.key" "$T/app/"
  write_client_conf "$T/app/kms-client.conf" client
  sed -i -e "s#^cert = .*#cert = $T/app/client.pem#" -e "s#^key = .*#key = $T/app/client.key#" "$T/app/kms-client.conf"
  export APP_CONF=$T/app/kms-client.conf CA_CERT=$PKI/ca.pem CA_KEY=$PKI/ca.key
  # A key that only arca-client may use (key permit), and one for everyone.
  local k
  k=$(kcu key generate --type aes --label app-only | first_field) || fail "fixture: app key"
  kcu key permit "$k" --identities arca-client >/dev/null || fail "fixture: key permit"
  kcu key generate --type aes --label app-shared >/dev/null || fail "fixture: shared key"
  echo "$k" >"$T/app-only.id"
}
after_client_cert_rotation() {
  kc client list | grep -q "^arca-client " && fail "arca-client is still registered"
  kc client list | grep -q "^arca-client-2 user p1$" || fail "arca-client-2 is not registered as user of p1: $(kc client list)"
  # The application's own configuration now uses the new certificate, and
  # the key restricted to the old identity names the new one alone.
  local app=("$BIN_CLIENT" --config "$T/app/kms-client.conf" -p p1)
  "${app[@]}" whoami | grep -qx "identity: arca-client-2" || fail "the application's configuration does not use the new certificate"
  "${app[@]}" key show "$(cat "$T/app-only.id")" | grep -qx "allowed_identities: arca-client-2" \
    || fail "the restricted key does not name arca-client-2 alone: $("${app[@]}" key show "$(cat "$T/app-only.id")" 2>&1 | grep allowed)"
  expect_error ARCA_ERR_PERMISSION kcp key show "$(cat "$T/app-only.id")"
}
prepare_enclave_upgrade() { # before the appliance exists: it runs this image
  # The release: a signer key, the running image signed with SVN 1 and the
  # new one (here the same binary) to be signed with SVN 2 by the runbook.
  "$ARCA_BUILD_DIR/appliance/arca-sign" genkey --out "$T/release-signer.pem" >/dev/null || fail "genkey"
  mkdir -p "$T/libexec" "$T/release"
  cp "$BIN_ENCLAVE" "$T/libexec/arca-enclave"
  "$ARCA_BUILD_DIR/appliance/arca-sign" sign --key "$T/release-signer.pem" --image "$T/libexec/arca-enclave" \
    --out "$T/libexec/arca-enclave.sig" --product-id 1 --svn 1 >/dev/null || fail "sign svn 1"
  cp "$T/libexec/arca-enclave" "$T/release/arca-enclave"
  cp "$T/libexec/arca-enclave" "$T/old-arca-enclave"; cp "$T/libexec/arca-enclave.sig" "$T/old-arca-enclave.sig"
  export ENCLAVE_IMAGE=$T/libexec/arca-enclave NEW_IMAGE=$T/release/arca-enclave SIGNER_KEY=$T/release-signer.pem NEW_SVN=2
  EXTRA_CONF=("enclave_image = $T/libexec/arca-enclave")
}
fixture_enclave_upgrade() {
  kcp key generate --type ec --curve P-256 --label before-upgrade >/dev/null || fail "fixture: key"
}
after_enclave_upgrade() {
  kcp status | grep -qx "svn: 2" || fail "after the upgrade the enclave does not report svn 2"
  grep -qx "min_svn = 2" "$T/admin.conf" || fail "the runbook did not raise min_svn in the client configuration"
  local k
  k=$(kcp key generate --type aes --label after-upgrade | first_field) || fail "key generate with SVN 2"
  # The old image (SVN 1) put back: clients with min_svn = 2 refuse it, and
  # what the new enclave sealed stays sealed to it.
  "$RB/bin/systemctl" stop arcad
  cp "$T/old-arca-enclave" "$T/libexec/arca-enclave"; cp "$T/old-arca-enclave.sig" "$T/libexec/arca-enclave.sig"
  arcad_start
  local out rc=0
  out=$(kcp status 2>&1) || rc=$?
  [ $rc -eq 3 ] && grep -q "ARCA_ERR_SVN: .*SVN 1 is below the minimum 2" <<<"$out" \
    || fail "a client with min_svn = 2 did not refuse the SVN 1 image (exit $rc): $out"
  write_client_conf "$T/no-min.conf" admin
  "$BIN_CLIENT" --config "$T/no-min.conf" -p p1 status | grep -qx "svn: 1" || fail "the old image is not running"
  expect_error ARCA_ERR_SVN "$BIN_CLIENT" --config "$T/no-min.conf" -p p1 key show "$k"
  grep -q "sealed blob was sealed by SVN 2, newer than this enclave's SVN 1" "$ARCAD_LOG.cur" \
    || fail "the enclave log does not name the SVNs"
  echo "ok: after the upgrade: clients (min_svn = 2) refuse the SVN 1 image; it cannot unseal what SVN 2 sealed (ARCA_ERR_SVN)"
}
fixture_incident_host_compromise() {
  # The suspect identity (arca-client, user of p1) made and used the keys.
  kcu key generate --type aes --label orders-data >/dev/null || fail "fixture: AES key"
  local k
  k=$(kcu key generate --type ec --curve P-256 --label orders-signing | awk '/ private / {print $1}') || fail "fixture: EC key"
  echo order >"$T/order"
  kcu sign "$k" --mech ecdsa-sha256 --in "$T/order" --out "$T/order.sig" || fail "fixture: sign"
  # The release records: the signer the appliance must run.
  EXPECTED_SIGNER=$("$ARCA_BUILD_DIR/appliance/arca-sign" verify --image "$BIN_ENCLAVE" --sig "$BIN_ENCLAVE.sig" | awk '/^signer:/ {print $2}')
  export EXPECTED_SIGNER SUSPECT_IDENTITY=arca-client SUSPECT_CONF=$T/client.conf
  # dev evidence only in dev mode (tpm mode: TPM quotes, the production policy).
  [ "$MODE" = dev ] && export ALLOW_DEV_EVIDENCE=yes || export ALLOW_DEV_EVIDENCE=no
  export ARCA_NEW_PIN=user-pin-after-incident
}
after_incident_host_compromise() {
  ARCA_PIN=user-pin-after-incident kcp key list --label orders-data | grep -q " v2 primary orders-data$" \
    || fail "orders-data was not rotated (or the new PIN does not work)"
  expect_error ARCA_ERR_PIN_INCORRECT kcp key list
}

fn=${NAME//-/_}
EXTRA_CONF=()
if declare -F "prepare_$fn" >/dev/null; then "prepare_$fn"; fi
fresh_appliance "${EXTRA_CONF[@]}"
export ARCA_PARTITION=p1 ARCA_CLIENT_CONF=$T/admin.conf
if declare -F "fixture_$fn" >/dev/null; then "fixture_$fn"; fi

# --- run the steps ------------------------------------------------------------
# Each step runs in a fresh bash that loads the previous step's environment
# (variables, functions, working directory) and saves its own afterwards.
: >"$RB/env"
PATH=$RB/bin:$PATH
export PATH
cd "$RB/work"
cat >"$RB/step-runner" <<'EOF'
set -euo pipefail
__rb_env=$1 __rb_step=$2
__rb_base=$(compgen -v | tr '\n' ' ')
# shellcheck disable=SC1090
. "$__rb_env"
# shellcheck disable=SC1090
. "$__rb_step"
{
  export -p | grep -Ev '^declare -x (SHLVL|_|OLDPWD|PWD)='
  for __v in $(compgen -v); do
    case " $__rb_base " in *" $__v "*) continue ;; esac
    case $__v in __*|BASH_*|FUNCNAME|PIPESTATUS|COLUMNS|LINES) continue ;; esac
    declare -p "$__v" 2>/dev/null | grep -v '^declare -[a-zA-Z]*r' || true
  done
  declare -f
  printf 'cd %q\n' "$PWD"
} >"$__rb_env.new"
mv "$__rb_env.new" "$__rb_env"
EOF
for step in "$RB"/steps/*.sh; do
  n=$(basename "$step" .sh)
  title=$(cat "$RB/steps/$n.title")
  want_rc=0
  patterns=()
  if [ -f "$RB/steps/$n.expect" ]; then
    while IFS= read -r p; do
      [ -n "$p" ] || continue
      if [[ $p =~ ^exit\ ([0-9]+)$ ]]; then want_rc=${BASH_REMATCH[1]}; else patterns+=("$p"); fi
    done <"$RB/steps/$n.expect"
  fi
  rc=0
  bash "$RB/step-runner" "$RB/env" "$step" >"$RB/steps/$n.out" 2>&1 </dev/null || rc=$?
  show() { echo "---- step $n (${title#\#* }) ----"; cat "$step"; echo "---- its output ----"; cat "$RB/steps/$n.out"; }
  [ "$rc" -eq "$want_rc" ] || { show; fail "$NAME.md step $n (${title#\#* }): exit $rc, expected $want_rc"; }
  for p in "${patterns[@]}"; do
    grep -Eq -- "$p" "$RB/steps/$n.out" || { show; fail "$NAME.md step $n (${title#\#* }): no output line matches: $p"; }
  done
  echo "ok: $NAME.md step $n: ${title#\#* } (exit $rc${patterns:+, ${#patterns[@]} expected lines})"
done
cd "$T"
if declare -F "after_$fn" >/dev/null; then "after_$fn"; fi
pass "$NAME.md: all $nsteps steps ($MODE mode)"
