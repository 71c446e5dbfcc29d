#!/usr/bin/env bash
# OpenSSH with libarca-pkcs11.so: public keys are visible before login.
#  - ssh-keygen -D (which never logs in) lists exactly the public keys of
#    the token (an EC P-256 and an RSA-2048 key pair made through the
#    module), the same keys as the exported SubjectPublicKeyInfo converted
#    with ssh-keygen -i -m PKCS8;
#  - before login pkcs11-tool -O shows the two public keys and no private
#    key; after login the private keys too;
#  - a key of the partition whose CKA_ALLOWED_IDENTITIES does not name
#    arca-client is not listed;
#  - without a configuration the module has no slot: ssh-keygen -D lists
#    nothing and fails as ssh-keygen does when a provider has no keys;
#  - an identity not allowed on the partition sees nothing;
#  - ssh-agent loads the module (ssh-add -s, PIN from SSH_ASKPASS) and
#    ssh-keygen -Y sign signs through it with the token's ECDSA and RSA
#    keys; ssh-keygen -Y verify accepts the signatures (and refuses them
#    over other data).
. "$(dirname "$0")/lib.sh"
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (deploy/packages.sh test: opensc)"
command -v ssh-keygen >/dev/null || fail "ssh-keygen is not installed (openssh-client)"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"

# A sanitizer build of the module needs the ASan/UBSan runtimes preloaded
# into the (unsanitized) programs that load it.
PRELOAD=$(sanitizer_preload "$MOD")
pre() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 "$@"; }
p11() { pre pkcs11-tool --module "$MOD" "$@"; }
p11u() { p11 --login --pin "$ARCA_PIN" "$@"; }
keys_of() { grep -E '^(ssh-|ecdsa-)' "$1" | awk '{print $1, $2}' | sort; }

# No configuration: no slot, no key; ssh-keygen fails as it does for a
# provider without keys.
rc=0
ARCA_PKCS11_CONF=$T/absent.conf pre ssh-keygen -D "$MOD" >"$T/noconf.out" 2>"$T/noconf.err" || rc=$?
[ $rc -ne 0 ] || fail "ssh-keygen -D without a configuration succeeded"
[ -z "$(keys_of "$T/noconf.out")" ] || { cat "$T/noconf.out"; fail "keys listed without a configuration"; }
grep -q "cannot read public key from pkcs11" "$T/noconf.err" || { cat "$T/noconf.err"; fail "ssh-keygen's message"; }
pass "no configuration: no keys, ssh-keygen exits $rc"

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf

# Empty token: nothing before login either.
rc=0
pre ssh-keygen -D "$MOD" >"$T/empty.out" 2>"$T/empty.err" || rc=$?
[ $rc -ne 0 ] && [ -z "$(keys_of "$T/empty.out")" ] || { cat "$T/empty.out" "$T/empty.err"; fail "empty token listed keys"; }

p11u --keypairgen --key-type EC:prime256v1 --label ec1 --id 01 >"$T/gen-ec.out" 2>&1 ||
  { cat "$T/gen-ec.out"; fail "EC P-256 key pair generation"; }
p11u --keypairgen --key-type rsa:2048 --label rsa1 --id 02 >"$T/gen-rsa.out" 2>&1 ||
  { cat "$T/gen-rsa.out"; fail "RSA-2048 key pair generation"; }
# A third pair whose public key only arca-admin may use: not arca-client's to see.
kcp key generate --type ec --curve P-256 --label hidden >"$T/gen-hidden.out" 2>&1 ||
  { cat "$T/gen-hidden.out"; fail "kms-client key generate (hidden)"; }
HIDDEN_PUB=$(grep -w public "$T/gen-hidden.out" | grep -oE '[0-9a-f]{32}' | head -n1 || true)
[ -n "$HIDDEN_PUB" ] || { cat "$T/gen-hidden.out"; fail "no public key id from key generate"; }
kcp key permit "$HIDDEN_PUB" --identities arca-admin >"$T/permit.out" 2>&1 || { cat "$T/permit.out"; fail "key permit"; }

# The reference: the public keys read out through the module after login,
# converted by OpenSSH itself. (pkcs11-tool 0.23's --read-object of an EC
# public key has a use-after-free of its own that ASan reports: under a
# sanitizer build only the key types and count are compared.)
pre ssh-keygen -D "$MOD" >"$T/d.out" 2>"$T/d.err" || { cat "$T/d.out" "$T/d.err"; fail "ssh-keygen -D"; }
keys_of "$T/d.out" >"$T/d.keys"
[ "$(wc -l <"$T/d.keys")" -eq 2 ] || { cat "$T/d.out"; fail "ssh-keygen -D does not list exactly two keys"; }
grep -q '^ecdsa-sha2-nistp256 ' "$T/d.keys" || { cat "$T/d.out"; fail "no ecdsa-sha2-nistp256 key"; }
grep -q '^ssh-rsa ' "$T/d.keys" || { cat "$T/d.out"; fail "no ssh-rsa key"; }
if [ -z "$PRELOAD" ]; then
  : >"$T/expected.pub"
  for id in 01 02; do
    p11u --read-object --type pubkey --id $id -o "$T/pub$id.der" >"$T/read$id.out" 2>&1 ||
      { cat "$T/read$id.out"; fail "read public key $id"; }
    openssl pkey -pubin -inform DER -in "$T/pub$id.der" -out "$T/pub$id.pem" || fail "public key $id is no SPKI"
    ssh-keygen -i -m PKCS8 -f "$T/pub$id.pem" >>"$T/expected.pub" || fail "ssh-keygen -i of key $id"
  done
  keys_of "$T/expected.pub" >"$T/expected.keys"
  diff -u "$T/expected.keys" "$T/d.keys" || { cat "$T/d.out"; fail "ssh-keygen -D does not list exactly the two public keys"; }
  pass "ssh-keygen -D lists exactly the EC P-256 and RSA-2048 public keys (same as the exported keys)"
else
  pass "ssh-keygen -D lists one ecdsa-sha2-nistp256 and one ssh-rsa key (sanitizer build: types and count)"
fi

# Before login: the public keys only; after login the private keys too.
p11 -O >"$T/o-public.out" 2>&1 || { cat "$T/o-public.out"; fail "pkcs11-tool -O without login"; }
[ "$(grep -c '^Public Key Object' "$T/o-public.out")" -eq 2 ] || { cat "$T/o-public.out"; fail "-O without login: not two public keys"; }
! grep -q '^Private Key Object' "$T/o-public.out" || { cat "$T/o-public.out"; fail "-O without login shows a private key"; }
! grep -q 'hidden' "$T/o-public.out" || fail "-O without login shows a key not allowed to arca-client"
p11u -O >"$T/o-user.out" 2>&1 || { cat "$T/o-user.out"; fail "pkcs11-tool -O with login"; }
[ "$(grep -c "^Private Key Object" "$T/o-user.out")" -eq 3 ] || { cat "$T/o-user.out"; fail "-O with login: not three private keys (ec1, rsa1, hidden)"; }
pass "before login: public objects only; after login: private too"

# An identity not allowed on p1 sees no key.
kc client add arca-client --roles user --partitions p2 >/dev/null || fail "client add arca-client p2"
rc=0
pre ssh-keygen -D "$MOD" >"$T/other.out" 2>"$T/other.err" || rc=$?
[ $rc -ne 0 ] && [ -z "$(keys_of "$T/other.out")" ] || { cat "$T/other.out"; fail "identity not on p1 sees keys"; }
kc client add arca-client --roles user --partitions p1 >/dev/null || fail "client add arca-client p1"
pre ssh-keygen -D "$MOD" >"$T/again.out" 2>&1 || { cat "$T/again.out"; fail "ssh-keygen -D after restoring p1"; }
pass "an identity not allowed on the partition: no keys"

# OpenSSH signatures made by the token. ssh-keygen -Y sign signs with a
# private key file or through an agent (OpenSSH 9.2 has no -D for -Y sign:
# with -D it answers "No private key found"): ssh-agent loads the module
# (ssh-add -s, the PIN from SSH_ASKPASS; -P allows the build directory),
# ssh-keygen -Y sign -f KEY.pub uses the agent, ssh-keygen -Y verify checks
# the signature. The agent lives as long as the shell it runs (ssh-agent
# COMMAND), so a failure cannot leave it behind.
printf '#!/bin/sh\necho "%s"\n' "$ARCA_PIN" >"$T/askpass"
chmod 700 "$T/askpass"
echo "data to sign" >"$T/msg"
grep '^ecdsa-sha2-nistp256 ' "$T/d.keys" >"$T/ec.pub"
grep '^ssh-rsa ' "$T/d.keys" >"$T/rsa.pub"
cat >"$T/agent.sh" <<AGENT
set -eu
SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 ssh-add -s "$MOD" </dev/null
ssh-add -l
for k in ec rsa; do
  rm -f "$T/msg.\$k.sig"
  cp "$T/msg" "$T/msg.\$k"
  ssh-keygen -Y sign -f "$T/\$k.pub" -n file "$T/msg.\$k"
done
AGENT
# The agent loads the module in ssh-pkcs11-helper, which does not get the
# agent's LD_PRELOAD: under a sanitizer build a wrapper (SSH_PKCS11_HELPER)
# preloads the runtimes for it.
helper=
if [ -n "$PRELOAD" ]; then
  printf '#!/bin/sh\nLD_PRELOAD="%s" ASAN_OPTIONS=detect_leaks=0 exec /usr/lib/openssh/ssh-pkcs11-helper "$@"\n' \
    "$PRELOAD" >"$T/pkcs11-helper"
  chmod 755 "$T/pkcs11-helper"
  helper=$T/pkcs11-helper
fi
SSH_PKCS11_HELPER=$helper pre ssh-agent -P "$(dirname "$MOD")/*" bash "$T/agent.sh" >"$T/agent.out" 2>&1 ||
  { cat "$T/agent.out"; fail "ssh-agent + ssh-add -s + ssh-keygen -Y sign"; }
grep -q "Card added: $MOD" "$T/agent.out" || { cat "$T/agent.out"; fail "ssh-add -s did not add the token"; }
[ "$(grep -c '(ECDSA)$\|(RSA)$' "$T/agent.out")" = 2 ] || { cat "$T/agent.out"; fail "the agent does not hold exactly the two token keys"; }
for k in ec rsa; do
  echo "arca $(cat "$T/$k.pub")" >"$T/allowed.$k"
  ssh-keygen -Y verify -f "$T/allowed.$k" -I arca -n file -s "$T/msg.$k.sig" <"$T/msg" >"$T/verify.$k.out" 2>&1 ||
    { cat "$T/verify.$k.out"; fail "ssh-keygen -Y verify of the token's $k signature"; }
  grep -q "^Good \"file\" signature for arca" "$T/verify.$k.out" || { cat "$T/verify.$k.out"; fail "$k: no good signature"; }
  # Over other data the signature does not verify.
  rc=0
  echo "other data" | ssh-keygen -Y verify -f "$T/allowed.$k" -I arca -n file -s "$T/msg.$k.sig" >/dev/null 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "$k: the signature verified over other data"
done
pass "ssh-agent with the module (ssh-add -s): ssh-keygen -Y sign with the token's ECDSA and RSA keys, verified by ssh-keygen -Y verify"
