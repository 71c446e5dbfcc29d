#!/usr/bin/env bash
# arcad's TCP listener and its connection caps, with raw connections that
# never speak (no kms-client): arcad hands every accepted connection to
# the enclave; over max_connections_per_client (per IP address for TCP,
# per uid for the unix socket) or max_connections (both listeners
# together) it closes the connection at once and logs why. The enclave
# reports each connection it finishes (ARCA_OCALL_CONN_CLOSED), so closing
# connections makes room again; when the enclave restarts, the counts
# start from zero.
source "$(dirname "$0")/lib.sh"

write_conf "listen_address = 127.0.0.1" "listen_port = 0" "max_connections = 3" \
  "max_connections_per_client = 2" "log_level = debug"
arcad_init
arcad_start

READY=$(grep -m1 "^arcad: ready on " "$ARCAD_LOG.cur") || fail "no ready line on stdout"
grep -q "^arcad: ready on $ARCA_SOCKET and 127\.0\.0\.1:[0-9][0-9]* (enclave pid [0-9][0-9]*, mode $ARCA_TEST_MODE)$" \
  <<<"$READY" || fail "ready line: $READY"
PORT=$(sed -n 's/^arcad: ready on .* and 127\.0\.0\.1:\([0-9][0-9]*\) .*$/\1/p' <<<"$READY")
[ -n "$PORT" ] && [ "$PORT" -gt 0 ] || fail "no TCP port in: $READY"
pass "ready line names the socket and 127.0.0.1:$PORT"

# The whole scenario in one python3 process, which holds the connections.
# Exit 0 when every check holds; prints "ok: ..." per check.
python3 - "$PORT" "$ARCA_SOCKET" "$ARCAD_LOG.cur" "$ARCAD_PID" <<'EOF'
import os, re, signal, socket, subprocess, sys, time

port, unix_path, log_path, arcad_pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
uid = os.getuid()

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def log():
    with open(log_path, errors="replace") as f:
        return f.read()

def wait_log(pattern, count=1, timeout=10.0):
    """Wait until pattern (a regex) occurs at least count times in arcad's log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(re.findall(pattern, log(), re.M)) >= count:
            return
        time.sleep(0.05)
    fail("no %d x /%s/ in arcad's log within %.0f s" % (count, pattern, timeout))

def tcp(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(unix_path)
    return s

def closed_at_once(s, what):
    """arcad closes a refused connection without a byte: EOF well within 2 s."""
    s.settimeout(2.0)
    t = time.time()
    try:
        data = s.recv(1)
    except socket.timeout:
        fail("%s: still open after 2 s (expected arcad to refuse it)" % what)
    except ConnectionResetError:
        data = b""
    if data != b"":
        fail("%s: got data %r from a refused connection" % (what, data))
    s.close()
    print("ok: %s closed at once (%.2f s)" % (what, time.time() - t))

def still_open(s, what, wait=0.5):
    s.settimeout(wait)
    try:
        data = s.recv(1)
    except socket.timeout:
        print("ok: %s is open" % what)
        return
    fail("%s: closed or answered (%r) while it should be held open" % (what, data))

def handed(n):
    # arcad's debug line when it hands a connection over: "(N open)"
    return r"handed to the enclave \(%d open\)" % n

# Handed-over connections so far, to wait for the next one exactly.
seen = 0
def expect_handed(total_open):
    global seen
    seen += 1
    wait_log(r"handed to the enclave \(\d+ open\)", seen)
    last = re.findall(r"handed to the enclave \((\d+) open\)", log())[-1]
    if int(last) != total_open:
        fail("arcad counts %s open connections, expected %d" % (last, total_open))

closes = 0
def expect_closed(n):
    global closes
    closes += n
    wait_log(r"closed by the enclave \(\d+ open\)", closes)

# 1. Two connections from 127.0.0.1 are handed over; the third is refused.
a1 = tcp("127.0.0.1"); expect_handed(1)
a2 = tcp("127.0.0.1"); expect_handed(2)
still_open(a1, "127.0.0.1 #1"); still_open(a2, "127.0.0.1 #2")
a3 = tcp("127.0.0.1")
a3_port = a3.getsockname()[1]
closed_at_once(a3, "127.0.0.1 #3")
wait_log(r"WARN: arcad: refused connection from tcp:127\.0\.0\.1:%d: max_connections_per_client \(2\) "
         r"reached for 127\.0\.0\.1$" % a3_port)
print("ok: the log names the address and max_connections_per_client")

# 2. Another address still gets in, until the total (3) is reached; then
#    it is refused on max_connections, on TCP and on the unix socket.
b1 = tcp("127.0.0.2"); expect_handed(3)
still_open(b1, "127.0.0.2 #1")
b2 = tcp("127.0.0.2")
b2_port = b2.getsockname()[1]
closed_at_once(b2, "127.0.0.2 #2")
wait_log(r"WARN: arcad: refused connection from tcp:127\.0\.0\.2:%d: max_connections \(3\) reached$" % b2_port)
print("ok: the log names max_connections")
time.sleep(1.1)  # refusal lines are rate-limited to one a second per cap
u = unix()
closed_at_once(u, "unix socket while full")
wait_log(r"WARN: arcad: refused connection from unix:uid=%d,pid=%d: max_connections \(3\) reached$"
         % (uid, os.getpid()))
print("ok: the unix socket counts against the same total")

# 3. Closing the first two (client side) makes room again: the enclave
#    reports them closed and arcad's counts drop.
a1.close(); a2.close()
expect_closed(2)
a4 = tcp("127.0.0.1"); expect_handed(2)
a5 = tcp("127.0.0.1"); expect_handed(3)
still_open(a4, "127.0.0.1 #4 after closing two"); still_open(a5, "127.0.0.1 #5")
a4.close(); a5.close(); b1.close()
expect_closed(3)
if not re.search(r"closed by the enclave \(0 open\)", log()):
    fail("arcad's count did not return to 0")
print("ok: closed connections make room again; the count returns to 0")

# 4. Per uid on the unix socket.
u1 = unix(); expect_handed(1)
u2 = unix(); expect_handed(2)
still_open(u1, "unix #1"); still_open(u2, "unix #2")
u3 = unix()
closed_at_once(u3, "unix #3")
wait_log(r"WARN: arcad: refused connection from unix:uid=%d,pid=%d: max_connections_per_client \(2\) reached "
         r"for uid %d$" % (uid, os.getpid(), uid))
print("ok: unix socket capped per uid")

# 5. The enclave dies with two connections open: arcad forgets them (they
#    died with it) and the new enclave's connections start from zero.
enclave = subprocess.run(["pgrep", "-P", str(arcad_pid), "-f", "arca-enclave"], capture_output=True,
                         text=True).stdout.split()
if not enclave:
    fail("no enclave process")
os.kill(int(enclave[0]), signal.SIGKILL)
wait_log(r"forgetting 2 open connection\(s\) of the enclave that ended")
wait_log(r"enclave restarted \(pid")
u1.settimeout(2.0)
try:
    if u1.recv(1) != b"":
        fail("data on a connection of the dead enclave")
except ConnectionResetError:
    pass
u1.close(); u2.close()
seen = len(re.findall(r"handed to the enclave \(\d+ open\)", log()))
v1 = unix(); expect_handed(1)
v2 = unix(); expect_handed(2)
still_open(v1, "unix #1 after the restart"); still_open(v2, "unix #2 after the restart")
v1.close(); v2.close()
print("ok: counts start from zero after an enclave restart")
EOF
pass "connection caps"

# No stray warnings about the enclave's reports: every CONN_CLOSED matched.
if grep -q "but it is not open" "$ARCAD_LOG.cur"; then fail "arcad ignored a CONN_CLOSED it should have matched"; fi
arcad_stop
pass "arcad stops cleanly"

# listen_address = none: no TCP listener, the old ready line.
write_conf "listen_address = none"
arcad_start
grep -q "^arcad: ready on $ARCA_SOCKET (enclave pid [0-9]*, mode $ARCA_TEST_MODE)$" "$ARCAD_LOG.cur" ||
  fail "ready line without TCP: $(grep 'ready on' "$ARCAD_LOG.cur")"
arcad_stop
pass "listen_address = none: unix socket only"

# A port in use is refused at start, naming the address.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(30)' \
  >"$T/busy.port" &
BUSY_PID=$!
for _ in $(seq 1 100); do [ -s "$T/busy.port" ] && break; sleep 0.05; done
BUSY=$(cat "$T/busy.port")
write_conf "listen_port = $BUSY"
rc=0
"$BIN_ARCAD" -c "$CONF" >"$T/busy.log" 2>&1 || rc=$?
kill "$BUSY_PID" 2>/dev/null || true
wait "$BUSY_PID" 2>/dev/null || true
[ $rc -ne 0 ] || fail "arcad started on a port in use"
grep -q "arcad: refusing to start: cannot listen on 127.0.0.1:$BUSY: Address already in use" "$T/busy.log" ||
  fail "no clear refusal for a port in use: $(cat "$T/busy.log")"
pass "a port in use is refused at start"
