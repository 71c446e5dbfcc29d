#!/usr/bin/env bash
# make-pki.sh DIR: a small operator PKI for Arca's mutual TLS, made with the
# openssl command line alone (test and evaluation use; a production operator
# issues client certificates from their own CA).
#
#   DIR/ca.pem, ca.key                 operator client CA (EC P-256), installed
#                                      with `kms-client init --client-ca DIR/ca.pem`
#   DIR/admin.pem, admin.key           CN arca-admin   (the first admin identity)
#   DIR/client.pem, client.key         CN arca-client  (an application identity)
#   DIR/other-ca.pem, other-ca.key     another CA, for negative tests
#   DIR/stranger.pem, stranger.key     CN arca-stranger, issued by other-ca
#
# Client certificates: EC P-256, extendedKeyUsage clientAuth, 825 days.
# Idempotent: files that exist are kept (a certificate whose key or CA was
# replaced is re-issued). Private keys are 0600. Prints what it made.
set -euo pipefail

usage() { echo "usage: make-pki.sh DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
case $1 in -h|--help) echo "usage: make-pki.sh DIR"; exit 0 ;; esac
command -v openssl >/dev/null || { echo "make-pki.sh: openssl is not installed" >&2; exit 1; }

DIR=$1
mkdir -p "$DIR"
umask 077
DAYS=825

made() { echo "make-pki: made $1"; }
kept() { echo "make-pki: kept $1"; }

# newkey FILE: an EC P-256 private key (PKCS#8 PEM), mode 0600.
newkey() {
  if [ -s "$1" ]; then chmod 0600 "$1"; kept "$1"; return 0; fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null
  chmod 0600 "$1.tmp"
  mv "$1.tmp" "$1"
  made "$1"
}

# ca NAME CN: a self-signed CA certificate DIR/NAME.pem for DIR/NAME.key.
ca() {
  local name=$1 cn=$2
  newkey "$DIR/$name.key"
  if [ -s "$DIR/$name.pem" ] && same_key "$DIR/$name.pem" "$DIR/$name.key"; then kept "$DIR/$name.pem"; return 0; fi
  openssl req -new -x509 -key "$DIR/$name.key" -sha256 -days 3650 -subj "/O=Arca/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$DIR/$name.pem.tmp"
  chmod 0644 "$DIR/$name.pem.tmp"
  mv "$DIR/$name.pem.tmp" "$DIR/$name.pem"
  made "$DIR/$name.pem"
}

# same_key CERT KEY: the certificate is for this key.
same_key() {
  [ "$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$2" -pubout 2>/dev/null)" ]
}

# leaf NAME CN CA: a client certificate DIR/NAME.pem issued by DIR/CA.
leaf() {
  local name=$1 cn=$2 ca=$3
  newkey "$DIR/$name.key"
  if [ -s "$DIR/$name.pem" ] && same_key "$DIR/$name.pem" "$DIR/$name.key" &&
     openssl verify -CAfile "$DIR/$ca.pem" -purpose sslclient "$DIR/$name.pem" >/dev/null 2>&1; then
    kept "$DIR/$name.pem"; return 0
  fi
  local ext
  ext=$(mktemp)
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$ext"
  openssl req -new -key "$DIR/$name.key" -subj "/O=Arca/CN=$cn" -out "$DIR/$name.csr"
  openssl x509 -req -in "$DIR/$name.csr" -CA "$DIR/$ca.pem" -CAkey "$DIR/$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -sha256 -days "$DAYS" -extfile "$ext" -out "$DIR/$name.pem.tmp" 2>/dev/null
  rm -f "$ext" "$DIR/$name.csr"
  chmod 0644 "$DIR/$name.pem.tmp"
  mv "$DIR/$name.pem.tmp" "$DIR/$name.pem"
  made "$DIR/$name.pem"
}

ca ca "Arca operator client CA"
leaf admin arca-admin ca
leaf client arca-client ca
ca other-ca "Another CA"
leaf stranger arca-stranger other-ca
echo "make-pki: client CA $DIR/ca.pem (install: kms-client init --client-ca $DIR/ca.pem)"
