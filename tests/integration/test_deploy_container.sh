#!/usr/bin/env bash
# deploy/Containerfile cannot be built here (no container runtime), so this
# checks what makes it correct: every COPY source exists in the repository
# (the build context); the RUN build commands are exactly the README's
# "Build by hand" commands; deploy/install.sh lays a build out as the image
# (and the systemd units) expect; the runtime stage's packages provide every
# shared library the installed binaries and the TPM TCTIs link against; and
# the image's entry point with the image's arcad.conf initialises an empty
# state volume once, then runs arcad (started twice: init only the first
# time), serving kms-client.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CF=$SRC/deploy/Containerfile
[ -f "$CF" ] || fail "no deploy/Containerfile"

# 1. COPY sources (the build context is the repository root).
n=0
while read -r src; do
  for s in $src; do
    [ -e "$SRC/$s" ] || fail "Containerfile: COPY source '$s' does not exist in the repository"
    n=$((n + 1))
  done
done < <(grep -E '^COPY ' "$CF" | grep -v -- '--from=' | sed -E 's/^COPY +//; s/ +[^ ]+$//')
[ $n -ge 10 ] || fail "Containerfile: only $n COPY sources found"
grep -qE '^COPY --from=build /staging/ /$' "$CF" || fail "Containerfile: the runtime stage does not copy the staged install"
# Every top-level source folder that CMakeLists.txt adds is copied.
for d in $(sed -n 's/^add_subdirectory(\([a-z_0-9]*\)).*/\1/p' "$SRC/CMakeLists.txt"); do
  grep -qE "^COPY $d $d$" "$CF" || fail "Containerfile does not COPY $d (add_subdirectory in CMakeLists.txt)"
done
pass "Containerfile: all $n COPY sources exist; every add_subdirectory() folder is copied"

# 2. The build commands are the README's (section "Build by hand").
readme_cmds=$(awk '/^## Build by hand/ {on=1; next} /^## / {on=0} on && /^    (deploy\/packages.sh build|cmake -S \. -B build &&)/ {sub(/^    /, ""); sub(/ +#.*$/, ""); print}' "$SRC/README.md")
[ "$(wc -l <<<"$readme_cmds")" -eq 2 ] || fail "README 'Build by hand': expected 2 build commands, got: $readme_cmds"
run_cmds=$(sed -n 's/^RUN \(deploy\/packages.sh build\|cmake .*\)$/\1/p' "$CF")
[ "$run_cmds" = "$readme_cmds" ] || fail "Containerfile RUN build commands differ from the README's: '$run_cmds' vs '$readme_cmds'"
grep -qx "FROM debian:12 AS build" "$CF" && grep -qx "FROM debian:12-slim" "$CF" || fail "Containerfile: not Debian 12 stages"
grep -qx "USER arca" "$CF" || fail "Containerfile: arcad does not run as the non-root user arca"
grep -qx 'VOLUME \["/var/lib/arca"\]' "$CF" || fail "Containerfile: the state directory is not a volume"
pass "Containerfile builds with the README's commands ($(tr '\n' ';' <<<"$readme_cmds")), runs as arca, state on a volume"

# 3. install.sh into a staging root, as the build stage does.
DEST=$T/staging
"$SRC/deploy/install.sh" "$ARCA_BUILD_DIR" "$DEST" >"$T/install.log" 2>&1 || fail "install.sh: $(cat "$T/install.log")"
ossldir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
p11dir=$(pkg-config --variable=p11_module_path p11-kit-1)
for f in /usr/sbin/arcad /usr/libexec/arca/arca-enclave /usr/libexec/arca/arca-enclave.sig /usr/bin/kms-client \
         /usr/bin/arca-sign "$p11dir/libarca-pkcs11.so" "$ossldir/arca.so" /lib/systemd/system/arcad.service \
         /lib/systemd/system/arcad-init.service /usr/lib/sysusers.d/arca.conf /etc/arca/arcad.conf \
         /usr/share/doc/arca/operations.md /usr/share/doc/arca/runbooks/key-rotation.md; do
  [ -f "$DEST$f" ] || fail "install.sh did not install $f"
done
[ "$(stat -c %a "$DEST/usr/sbin/arcad")" = 755 ] || fail "arcad is not 0755"
# The paths the units and the sample config name are the installed ones.
for u in arcad.service arcad-init.service; do
  exe=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$DEST/lib/systemd/system/$u")
  [ -x "$DEST$exe" ] || fail "$u: ExecStart=$exe is not installed"
  cfg=$(sed -n 's/^ExecStart=[^ ]* -c \([^ ]*\).*/\1/p' "$DEST/lib/systemd/system/$u")
  [ -f "$DEST$cfg" ] || fail "$u: its configuration $cfg is not installed"
done
img=$(sed -n 's/^enclave_image = //p' "$DEST/etc/arca/arcad.conf")
[ -x "$DEST$img" ] && [ -f "$DEST$img.sig" ] || fail "arcad.conf's enclave_image $img is not installed with its .sig"
img=$(sed -n 's/^enclave_image = //p' "$SRC/deploy/container/arcad.conf")
[ -x "$DEST$img" ] || fail "the container's arcad.conf names enclave_image $img, which is not installed"
# A second run keeps an operator's configuration.
echo "# mine" >>"$DEST/etc/arca/arcad.conf"
"$SRC/deploy/install.sh" "$ARCA_BUILD_DIR" "$DEST" >/dev/null 2>&1 || fail "install.sh (again)"
tail -n1 "$DEST/etc/arca/arcad.conf" | grep -qx "# mine" || fail "install.sh overwrote /etc/arca/arcad.conf"
rc=0; "$SRC/deploy/install.sh" "$T/no-build" "$T/x" >"$T/err" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "install.sh succeeded without a build directory"
pass "install.sh: the layout the units and the image expect; keeps an existing /etc/arca/arcad.conf"

# 4. Runtime packages cover every shared library (and the TCTIs tpm2-tss
# loads). libc6, libgcc-s1 and libstdc++6 are in debian:12-slim already (apt
# needs them).
pkgs=$(awk '/^FROM debian:12-slim/ {on=1} on' "$CF" | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' \
       | grep -E '^lib[a-z0-9.+-]+$' | sort -u)
[ -n "$pkgs" ] || fail "no runtime packages in the Containerfile"
pkg_of() { # a library path -> its Debian package (usrmerge: try /usr-less paths too)
  local r
  r=$(readlink -f "$1")
  { dpkg -S "$1" || dpkg -S "$r" || dpkg -S "${r#/usr}"; } 2>/dev/null | head -n1 | cut -d: -f1
}
libs=$(for f in /usr/sbin/arcad /usr/libexec/arca/arca-enclave /usr/bin/kms-client /usr/bin/arca-sign; do
         ldd "$DEST$f" | awk '/=>/ {print $3}'
       done
       ls /usr/lib/*/libtss2-tcti-device.so.0 /usr/lib/*/libtss2-tcti-mssim.so.0)
for l in $(sort -u <<<"$libs"); do
  case $l in */libasan.so* | */libubsan.so*) continue ;; esac  # a sanitizer build's runtime
  p=$(pkg_of "$l")
  [ -n "$p" ] || fail "no Debian package owns $l"
  grep -qxE "libc6|libgcc-s1|libstdc\+\+6" <<<"$p" || grep -qx "$p" <<<"$pkgs" || fail "$l comes from $p, which the runtime stage does not install"
done
pass "the runtime stage installs the package of every library the binaries use: $(tr '\n' ' ' <<<"$pkgs")"

# 5. The entry point with the image's configuration (paths moved into $T).
sed -e "s#^state_dir = .*#state_dir = $STATE#" -e "s#^enclave_image = .*#enclave_image = $DEST/usr/libexec/arca/arca-enclave#" \
    -e "s#^listen_address = .*#listen_address = 127.0.0.1#" -e "s#^listen_port = .*#listen_port = 0#" \
    "$SRC/deploy/container/arcad.conf" >"$CONF"
[ "$ARCA_TEST_MODE" = dev ] || { tpm_for_test; printf '%s\n' "sealing_mode = tpm" "tpm_tcti = $ARCA_TEST_TCTI" "tpm_pcr = $ARCA_TEST_PCR" >>"$CONF"; }
export ARCA_SOCKET=$STATE/arcad.sock
write_client_conf "$T/admin.conf" admin
entry_start() {
  : >"$ARCAD_LOG.cur"
  ARCAD=$DEST/usr/sbin/arcad ARCA_CONF=$CONF "$SRC/deploy/container/entrypoint.sh" >"$ARCAD_LOG.cur" 2>&1 &
  ARCAD_PID=$!
  for _ in $(seq 1 200); do
    grep -q "arcad: ready" "$ARCAD_LOG.cur" && { cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"; return 0; }
    kill -0 "$ARCAD_PID" 2>/dev/null || { cat "$ARCAD_LOG.cur" >>"$ARCAD_LOG"; fail "the entry point exited: $(cat "$ARCAD_LOG.cur")"; }
    sleep 0.05
  done
  fail "arcad did not become ready through the entry point"
}
entry_start
grep -q "entrypoint: no store in $STATE: arcad init" "$ARCAD_LOG.cur" || fail "the first start did not initialise"
[ "$(ps -o comm= -p "$ARCAD_PID")" = arcad ] || fail "the entry point did not exec arcad (pid $ARCAD_PID is $(ps -o comm= -p "$ARCAD_PID"))"
kc_init >/dev/null || fail "kms-client init through the container's arcad"
kc partition create p1 >/dev/null || fail "partition create"
id=$(kcp key generate --type aes --label c | first_field) || fail "key generate"
arcad_stop
entry_start
! grep -q "arcad init" "$ARCAD_LOG.cur" || fail "the second start initialised again"
kcp key list | grep -q "^$id " || fail "the key did not survive the restart"
arcad_stop
pass "entry point: arcad init on an empty volume, exec arcad (PID of the entry point), no init on the next start; keys kept"
