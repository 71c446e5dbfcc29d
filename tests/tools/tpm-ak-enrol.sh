#!/usr/bin/env bash
# Enrol a TPM's attestation key (AK) with the operator's attestation CA by
# credential activation (TCG "Privacy CA" protocol), so that clients can
# trust Arca's TPM quotes through one CA certificate (client config
# `tpm_ak_ca = FILE`) instead of pinning each TPM's AK.
#
# Four steps, alternating between the appliance host (which reaches the TPM)
# and the attestation CA (which holds the CA key and never needs the TPM):
#
#   tpm-ak-enrol.sh request  TCTI REQ
#       appliance host. Writes REQ/ek-cert.der (the EK certificate the TPM
#       maker stored at NV 0x01c00002), REQ/ek.pub (the EK public area,
#       persistent handle 0x81010001) and REQ/ak.pub (the AK public area:
#       the very key arca-enclave quotes with, re-created from the same
#       fixed template as sealing/src/tpm_util.c tpm_create_ak).
#   tpm-ak-enrol.sh challenge REQ MAKER_CA_BUNDLE CHAL
#       attestation CA. Checks that the EK certificate chains to the TPM
#       maker's CA (MAKER_CA_BUNDLE: root first, then intermediates), that
#       REQ/ek.pub is that certificate's key, and that the AK is a
#       restricted, fixedTPM, TPM-generated ECC P-256 signing key; then
#       TPM2_MakeCredential (no TPM needed) seals a fresh 32-byte secret to
#       the EK for the AK's name: CHAL/cred.blob goes to the appliance host,
#       CHAL/secret (0600) stays with the CA.
#   tpm-ak-enrol.sh activate TCTI REQ CHAL/cred.blob ANSWER
#       appliance host. TPM2_ActivateCredential with the EK (a policy
#       session with PolicySecret on the endorsement hierarchy, as the EK's
#       policy demands) and the AK: the TPM releases the secret only if the
#       key named in the credential is loaded in the TPM that holds this EK.
#   tpm-ak-enrol.sh issue REQ CHAL ANSWER CA_CERT CA_KEY AK_CERT
#       attestation CA. If ANSWER is the secret, issue the AK certificate
#       (PEM; the AK's public key, CN arca-tpm-ak <AK name>) with CA_KEY.
#       Install it on the appliance as STATE_DIR/tpm-ak.crt; arca-enclave
#       reads it at its next start and carries it in its TPM evidence.
#
# Why a host-side tool and not an enclave operation: the protocol proves a
# property of the TPM (this AK lives in the TPM holding this EK), involves
# no secret of the enclave, and its result (the certificate) is public; the
# enclave only quotes with the AK. Every step but `issue` can be repeated.
#
# The TPM steps create and flush transient objects and sessions with
# tpm2-tools. Without a resource manager (swtpm behind the test mssim
# proxy) run them while arcad is stopped: `tpm2_flushcontext -t/-s` below
# would otherwise flush the enclave's objects. With /dev/tpmrm0 (TCTI
# device:/dev/tpmrm0) the kernel's resource manager isolates them.
set -euo pipefail
usage() {
  sed -n '/^#   tpm-ak-enrol.sh/p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2
  exit 2
}
die() { echo "tpm-ak-enrol: $*" >&2; exit 1; }
flush_all() { # tcti
  tpm2_flushcontext -T "$1" -t >/dev/null 2>&1 || true
  tpm2_flushcontext -T "$1" -l >/dev/null 2>&1 || true
}

EK_CERT_NV=0x01c00002
EK_HANDLE=0x81010001
# The AK template of sealing/src/tpm_util.c (tpm_create_ak): same attributes,
# scheme, curve and an empty unique field, so the same key comes back.
AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign'

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case "$cmd" in
request)
  [ $# -eq 2 ] || usage
  tcti=$1 req=$2
  mkdir -p "$req"
  tpm2_nvread -T "$tcti" "$EK_CERT_NV" -o "$req/ek-cert.der" 2>/dev/null ||
    die "no EK certificate at NV $EK_CERT_NV (was the TPM manufactured with one? swtpm-run.sh --ek-ca)"
  tpm2_readpublic -T "$tcti" -c "$EK_HANDLE" -o "$req/ek.pub" >/dev/null ||
    die "no EK at persistent handle $EK_HANDLE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"; flush_all "$tcti"' EXIT
  tpm2_createprimary -T "$tcti" -C e -g sha256 -G ecc256:ecdsa-sha256:null -a "$AK_ATTRS" \
    -c "$tmp/ak.ctx" >/dev/null || die "cannot create the AK"
  tpm2_readpublic -T "$tcti" -c "$tmp/ak.ctx" -o "$req/ak.pub" >/dev/null || die "cannot read the AK"
  echo "request: $req (ek-cert.der, ek.pub, ak.pub)"
  ;;
challenge)
  [ $# -eq 3 ] || usage
  req=$1 maker=$2 chal=$3
  for f in ek-cert.der ek.pub ak.pub; do [ -s "$req/$f" ] || die "$req/$f is missing"; done
  mkdir -p "$chal"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The EK certificate chains to the maker's root (intermediates from the
  # bundle are untrusted helpers; only its first certificate is the anchor).
  openssl x509 -inform der -in "$req/ek-cert.der" -out "$tmp/ek-cert.pem" 2>/dev/null ||
    die "EK certificate: not a DER certificate"
  awk '/BEGIN CERT/{n++} n==1' "$maker" >"$tmp/root.pem"
  awk '/BEGIN CERT/{n++} n>1' "$maker" >"$tmp/untrusted.pem"
  set -- -CAfile "$tmp/root.pem"
  [ ! -s "$tmp/untrusted.pem" ] || set -- "$@" -untrusted "$tmp/untrusted.pem"
  out=$(openssl verify "$@" "$tmp/ek-cert.pem" 2>&1) ||
    die "EK certificate does not chain to the TPM maker's CA: $out"
  # ek.pub (what MakeCredential encrypts to) is the certified key.
  tpm2_print -t TPM2B_PUBLIC -f pem "$req/ek.pub" >"$tmp/ek-pub.pem" 2>/dev/null || die "ek.pub is malformed"
  [ "$(openssl x509 -in "$tmp/ek-cert.pem" -pubkey -noout)" = "$(cat "$tmp/ek-pub.pem")" ] ||
    die "ek.pub is not the key of the EK certificate"
  # The AK is what a quote key must be.
  info=$(tpm2_print -t TPM2B_PUBLIC "$req/ak.pub" 2>/dev/null) || die "ak.pub is malformed"
  attrs=$(awk '/^attributes:/{getline; print $2}' <<<"$info")
  for a in fixedtpm fixedparent sensitivedataorigin restricted sign; do
    grep -qE "(^|\|)$a(\||$)" <<<"$attrs" || die "the AK is not $a (attributes: $attrs)"
  done
  grep -qE "(^|\|)decrypt(\||$)" <<<"$attrs" && die "the AK may also decrypt (attributes: $attrs)"
  grep -q "value: NIST p256" <<<"$info" || die "the AK is not an ECC P-256 key"
  # Its name: nameAlg (sha256) || SHA-256(TPMT_PUBLIC), from ak.pub itself.
  name=$( (printf '\x00\x0b'; tail -c +3 "$req/ak.pub" | openssl dgst -sha256 -binary) | xxd -p -c 256)
  head -c 32 /dev/urandom >"$chal/secret"
  chmod 0600 "$chal/secret"
  tpm2_makecredential -T none -u "$req/ek.pub" -s "$chal/secret" -n "$name" -o "$chal/cred.blob" \
    >/dev/null 2>&1 || die "tpm2_makecredential failed"
  echo "$name" >"$chal/ak.name"
  echo "challenge: $chal/cred.blob for AK $name"
  ;;
activate)
  [ $# -eq 4 ] || usage
  tcti=$1 req=$2 blob=$3 answer=$4
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"; flush_all "$tcti"; tpm2_flushcontext -T "$tcti" -s >/dev/null 2>&1 || true' EXIT
  tpm2_createprimary -T "$tcti" -C e -g sha256 -G ecc256:ecdsa-sha256:null -a "$AK_ATTRS" \
    -c "$tmp/ak.ctx" >/dev/null || die "cannot create the AK"
  tpm2_flushcontext -T "$tcti" -t >/dev/null
  tpm2_startauthsession -T "$tcti" --policy-session -S "$tmp/session.ctx" >/dev/null
  tpm2_policysecret -T "$tcti" -S "$tmp/session.ctx" -c e >/dev/null || die "PolicySecret (endorsement) failed"
  tpm2_activatecredential -T "$tcti" -c "$tmp/ak.ctx" -C "$EK_HANDLE" -i "$blob" -o "$answer" \
    -P "session:$tmp/session.ctx" >/dev/null 2>"$tmp/err" || die "ActivateCredential refused: $(cat "$tmp/err")"
  tpm2_flushcontext -T "$tcti" "$tmp/session.ctx" >/dev/null 2>&1 || true
  echo "activate: the TPM released the credential"
  ;;
issue)
  [ $# -eq 6 ] || usage
  req=$1 chal=$2 answer=$3 ca=$4 cakey=$5 out=$6
  [ -s "$answer" ] && cmp -s "$chal/secret" "$answer" ||
    die "the answer is not the secret: the AK is not in the TPM that holds the certified EK"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tpm2_print -t TPM2B_PUBLIC -f pem "$req/ak.pub" >"$tmp/ak.pem" 2>/dev/null || die "ak.pub is malformed"
  printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature" \
    "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" >"$tmp/ext.cnf"
  openssl x509 -new -force_pubkey "$tmp/ak.pem" -subj "/O=Arca/CN=arca-tpm-ak $(cut -c5-36 "$chal/ak.name")" \
    -CA "$ca" -CAkey "$cakey" -days 3650 -set_serial "0x$(openssl rand -hex 12)" \
    -extfile "$tmp/ext.cnf" -out "$out" 2>"$tmp/err" || die "cannot issue the AK certificate: $(cat "$tmp/err")"
  rm -f "$chal/secret" # one activation per challenge
  echo "issue: $out"
  ;;
*) usage ;;
esac
