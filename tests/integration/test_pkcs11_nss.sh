#!/usr/bin/env bash
# libarca-pkcs11.so in NSS (deploy/packages.sh test: libnss3-tools) and,
# when a JDK is installed, in Java's SunPKCS11 provider: what
# docs/pkcs11.md "NSS" and "Java" tell users to do.
#  - modutil -add registers the module in a new NSS database; modutil -list
#    (modutil -list arca) shows its library, slot "Arca partition p1" and
#    token p1;
#  - certutil -U lists the token; certutil -K with the PIN lists exactly
#    the token's two private keys (EC and RSA, made through pkcs11-tool)
#    by label; a wrong PIN is refused;
#  - Java (only when javac is installed: not part of deploy/packages.sh):
#    keytool -list opens the PKCS11 keystore with the PIN (no entries: no
#    certificate objects); a SunPKCS11 provider configured with
#    "library = MODULE" generates an
#    EC key pair on the token, signs with SHA256withECDSA there and the
#    signature verifies with Java's own provider.
. "$(dirname "$0")/lib.sh"
command -v modutil >/dev/null && command -v certutil >/dev/null ||
  fail "modutil / certutil are not installed (deploy/packages.sh test: libnss3-tools)"
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (deploy/packages.sh test: opensc)"
MOD=$ARCA_BUILD_DIR/pkcs11/libarca-pkcs11.so
[ -f "$MOD" ] || fail "$MOD not built"
PRELOAD=$(sanitizer_preload "$MOD")
pre() { LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 "$@"; }
p11u() { pre pkcs11-tool --module "$MOD" --login --pin "$ARCA_PIN" "$@"; }

fresh_appliance
export ARCA_PKCS11_CONF=$T/client.conf
p11u --keypairgen --key-type EC:prime256v1 --label nss-ec --id 51 >"$T/g1.out" 2>&1 || { cat "$T/g1.out"; fail "EC key pair"; }
p11u --keypairgen --key-type rsa:2048 --label nss-rsa --id 52 >"$T/g2.out" 2>&1 || { cat "$T/g2.out"; fail "RSA key pair"; }

DB=sql:$T/nssdb
mkdir "$T/nssdb"
certutil -N -d "$DB" --empty-password >"$T/n.out" 2>&1 || { cat "$T/n.out"; fail "certutil -N"; }
# modutil asks to confirm (close browsers) unless -force.
pre modutil -force -dbdir "$DB" -add arca -libfile "$MOD" >"$T/add.out" 2>&1 || { cat "$T/add.out"; fail "modutil -add"; }
grep -q 'Module "arca" added to database.' "$T/add.out" || { cat "$T/add.out"; fail "modutil -add: no confirmation"; }
pre modutil -dbdir "$DB" -list arca >"$T/list.out" 2>&1 || { cat "$T/list.out"; fail "modutil -list arca"; }
for want in "Library file: $MOD" "Manufacturer: Arca" "PKCS #11 Version 2.40" "Slot: Arca partition p1" "Token Name: p1" \
  "User Pin: Initialized"; do
  grep -qF "$want" "$T/list.out" || { cat "$T/list.out"; fail "modutil -list: no '$want'"; }
done
pass "modutil -add registers the module: slot 'Arca partition p1', token p1"

pre certutil -U -d "$DB" >"$T/u.out" 2>&1 || { cat "$T/u.out"; fail "certutil -U"; }
grep -q "uri: pkcs11:token=p1;manufacturer=Arca;" "$T/u.out" || { cat "$T/u.out"; fail "certutil -U does not list token p1"; }
echo "$ARCA_PIN" >"$T/pin"
pre certutil -K -d "$DB" -h p1 -f "$T/pin" >"$T/k.out" 2>&1 || { cat "$T/k.out"; fail "certutil -K"; }
[ "$(grep -c '^< *[0-9]*> ' "$T/k.out")" = 2 ] || { cat "$T/k.out"; fail "certutil -K: not exactly two keys"; }
grep -qE '^< *[0-9]+> ec .* nss-ec$' "$T/k.out" || { cat "$T/k.out"; fail "certutil -K: no EC key nss-ec"; }
grep -qE '^< *[0-9]+> rsa .* nss-rsa$' "$T/k.out" || { cat "$T/k.out"; fail "certutil -K: no RSA key nss-rsa"; }
echo "wrong-pin-7" >"$T/badpin"
rc=0
pre certutil -K -d "$DB" -h p1 -f "$T/badpin" >"$T/kbad.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "SEC_ERROR_BAD_PASSWORD\|Incorrect password" "$T/kbad.out" || { cat "$T/kbad.out"; fail "certutil -K with a wrong PIN"; }
pass "certutil -U lists the token; certutil -K lists its EC and RSA keys by label; a wrong PIN is refused"

if command -v javac >/dev/null; then
  cat >"$T/java.cfg" <<CFG
name = Arca
library = $MOD
slot = 0
CFG
  cat >"$T/ArcaSign.java" <<'JAVA'
import java.security.*;
public class ArcaSign {
    public static void main(String[] a) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(a[0]);
        Security.addProvider(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, a[1].toCharArray()); /* C_Login */
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p);
        g.initialize(256);
        KeyPair kp = g.generateKeyPair();
        Signature s = Signature.getInstance("SHA256withECDSA", p);
        s.initSign(kp.getPrivate());
        s.update("signed by arca".getBytes());
        byte[] sig = s.sign();
        Signature v = Signature.getInstance("SHA256withECDSA", "SunEC");
        v.initVerify(kp.getPublic());
        v.update("signed by arca".getBytes());
        System.out.println("provider " + p.getName() + " verify " + v.verify(sig));
    }
}
JAVA
  # keytool as docs/pkcs11.md shows it: the PKCS11 keystore opens with the
  # PIN; key pairs without a certificate object are no keystore entries.
  pre keytool -list -keystore NONE -storetype PKCS11 -addprovider SunPKCS11 -providerArg "$T/java.cfg" \
    -storepass "$ARCA_PIN" >"$T/keytool.out" 2>&1 || { cat "$T/keytool.out"; fail "keytool -list"; }
  grep -q "^Keystore provider: SunPKCS11-Arca$" "$T/keytool.out" && grep -q "^Your keystore contains 0 entries$" "$T/keytool.out" ||
    { cat "$T/keytool.out"; fail "keytool -list output"; }
  (cd "$T" && javac ArcaSign.java) >"$T/javac.out" 2>&1 || { cat "$T/javac.out"; fail "javac"; }
  pre java -cp "$T" ArcaSign "$T/java.cfg" "$ARCA_PIN" >"$T/java.out" 2>&1 || { cat "$T/java.out"; fail "java SunPKCS11"; }
  grep -q "^provider SunPKCS11-Arca verify true$" "$T/java.out" || { cat "$T/java.out"; fail "java: signature does not verify"; }
  pass "Java SunPKCS11 (library = the module): keytool -list; EC key pair on the token, SHA256withECDSA there, verified by SunEC"
else
  echo "skip: Java SunPKCS11 (no javac installed; not in deploy/packages.sh)"
fi
echo "all NSS / Java tests passed"
