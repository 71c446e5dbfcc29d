#!/usr/bin/python3
"""Hostile KMIP clients for tests/integration/test_wire_hostile.sh.

Each hostile case runs on its own TLS 1.3 connection to arcad's TCP port,
authenticated with the arca-client certificate. The server's certificate
is a self-signed RA-TLS certificate: it is NOT verified here (no CA, and
checking its evidence is libarca-client's job, covered by its own tests);
this client only needs a completed handshake to reach the KMIP framing.

What each case asserts is what docs/protocol.md "Transport" promises:
  * header refused (wrong tag/type, length over 1 114 112 bytes): one
    Response Message, one batch item, Operation Failed / Invalid Message,
    then the connection is closed;
  * framing intact, TTLV inside malformed: Operation Failed / Invalid
    Message and the connection stays open (checked with a Discover
    Versions on the same connection that must succeed);
  * truncated message, then close: no answer (nothing to read back);
  * a message that has begun and then stalls: closed without an answer
    once the 30 s message time-out has passed (asserted between 30 s - 1
    and 30 s + 10 after the last byte sent).

Usage: wire_hostile.py hostile PORT CERT KEY
       wire_hostile.py loris PORT ARCAD_LOG COUNT -- KCU-COMMAND...
Prints "ok: ..." per check; exits 1 with "FAIL: ..." on the first
violation.
"""
import random
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import time

# KMIP tags and values (KMIP 2.1 / arca/kmip.h).
TAG_REQUEST_MESSAGE = 0x420078
TAG_RESPONSE_MESSAGE = 0x42007B
TAG_REQUEST_HEADER = 0x420077
TAG_RESPONSE_HEADER = 0x42007A
TAG_PROTOCOL_VERSION = 0x420069
TAG_PV_MAJOR = 0x42006A
TAG_PV_MINOR = 0x42006B
TAG_BATCH_COUNT = 0x42000D
TAG_BATCH_ITEM = 0x42000F
TAG_OPERATION = 0x42005C
TAG_REQUEST_PAYLOAD = 0x420079
TAG_RESULT_STATUS = 0x42007F
TAG_RESULT_REASON = 0x42007E
TAG_RESULT_MESSAGE = 0x42007D
T_STRUCT, T_INT, T_LONG, T_BIGINT, T_ENUM, T_BOOL, T_TEXT, T_BYTES, T_DATE, T_INTERVAL = range(1, 11)
OP_DISCOVER_VERSIONS = 0x1E
STATUS_SUCCESS, STATUS_OPERATION_FAILED = 0, 1
REASON_INVALID_MESSAGE = 4
WIRE_MAX = 1114112  # ARCA_KMIP_WIRE_MAX
MESSAGE_TIMEOUT = 30.0  # ARCA_TLS_MESSAGE_TIMEOUT_MS
HANDSHAKE_TIMEOUT = 10.0  # ARCA_TLS_HANDSHAKE_TIMEOUT_MS


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


# ---- TTLV ---------------------------------------------------------------
def item(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return tag.to_bytes(3, "big") + bytes([typ]) + len(value).to_bytes(4, "big") + value + b"\0" * pad


def struct_(tag, *children):
    return item(tag, T_STRUCT, b"".join(children))


def int_(tag, v):
    return item(tag, T_INT, v.to_bytes(4, "big"))


def enum_(tag, v):
    return item(tag, T_ENUM, v.to_bytes(4, "big"))


def header(major=2, minor=1, count=1):
    return struct_(TAG_REQUEST_HEADER,
                   struct_(TAG_PROTOCOL_VERSION, int_(TAG_PV_MAJOR, major), int_(TAG_PV_MINOR, minor)),
                   int_(TAG_BATCH_COUNT, count))


def discover_versions():
    return struct_(TAG_REQUEST_MESSAGE, header(),
                   struct_(TAG_BATCH_ITEM, enum_(TAG_OPERATION, OP_DISCOVER_VERSIONS),
                           struct_(TAG_REQUEST_PAYLOAD)))


def parse(buf, off=0, end=None):
    """Decode TTLV items in buf[off:end] into (tag, type, value|children)."""
    end = len(buf) if end is None else end
    out = []
    while off < end:
        if end - off < 8:
            raise ValueError("short item header")
        tag = int.from_bytes(buf[off:off + 3], "big")
        typ = buf[off + 3]
        ln = int.from_bytes(buf[off + 4:off + 8], "big")
        vstart = off + 8
        padded = ln + (8 - ln % 8) % 8
        if vstart + padded > end:
            raise ValueError("item overruns its parent")
        if typ == T_STRUCT:
            val = parse(buf, vstart, vstart + ln)
        elif typ in (T_INT, T_ENUM):
            val = int.from_bytes(buf[vstart:vstart + 4], "big")
        else:
            val = bytes(buf[vstart:vstart + ln])
        out.append((tag, typ, val))
        off = vstart + padded
    return out


def find(children, tag):
    return [v for (t, _, v) in children if t == tag]


def check_invalid_message(resp, what, expect_text=None):
    """resp: one whole Response Message. Asserts one batch item, Operation
    Failed, Invalid Message; returns the Result Message text."""
    try:
        top = parse(resp)
    except ValueError as e:
        fail("%s: response does not decode: %s" % (what, e))
    if len(top) != 1 or top[0][0] != TAG_RESPONSE_MESSAGE or top[0][1] != T_STRUCT:
        fail("%s: not one Response Message: %r" % (what, resp[:16].hex()))
    msg = top[0][2]
    hdr = find(msg, TAG_RESPONSE_HEADER)
    items = find(msg, TAG_BATCH_ITEM)
    if len(hdr) != 1 or len(items) != 1 or find(hdr[0], TAG_BATCH_COUNT) != [1]:
        fail("%s: expected a Response Header with Batch Count 1 and one Batch Item" % what)
    bi = items[0]
    if find(bi, TAG_RESULT_STATUS) != [STATUS_OPERATION_FAILED]:
        fail("%s: Result Status %r, expected Operation Failed" % (what, find(bi, TAG_RESULT_STATUS)))
    if find(bi, TAG_RESULT_REASON) != [REASON_INVALID_MESSAGE]:
        fail("%s: Result Reason %r, expected Invalid Message" % (what, find(bi, TAG_RESULT_REASON)))
    text = b"".join(find(bi, TAG_RESULT_MESSAGE)).decode("utf-8", "replace")
    if expect_text is not None and expect_text not in text:
        fail("%s: Result Message %r does not say %r" % (what, text, expect_text))
    return text


def check_success(resp, what):
    top = parse(resp)
    if len(top) != 1 or top[0][0] != TAG_RESPONSE_MESSAGE:
        fail("%s: not a Response Message" % what)
    items = find(top[0][2], TAG_BATCH_ITEM)
    if len(items) != 1 or find(items[0], TAG_RESULT_STATUS) != [STATUS_SUCCESS]:
        fail("%s: Discover Versions did not succeed: %r" % (what, items))


# ---- TLS over a raw socket (MemoryBIO: full control over what is sent) --
class Conn:
    """One TLS 1.3 client connection; TLS records go through memory BIOs so
    that sending hostile amounts never interleaves two threads on one SSL."""

    def __init__(self, port, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed RA-TLS: not verified in this test
        ctx.load_cert_chain(cert, key)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_side=False)
        self.eof = False
        self.plain = bytearray()
        deadline = time.time() + 10
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush(deadline)
                self._pull(deadline)
        self._flush(deadline)

    def _flush(self, deadline):
        data = self.out.read()
        view = memoryview(data)
        while view:
            if time.time() > deadline:
                raise TimeoutError("send")
            _, w, _ = select.select([], [self.sock], [], 0.2)
            if w:
                n = self.sock.send(view)
                view = view[n:]
            self._drain_nowait()

    def _drain_nowait(self):
        """Move whatever the server sent into the TLS layer, without waiting."""
        while not self.eof:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                return
            self._recv_once()

    def _recv_once(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except BlockingIOError:
            return
        if data:
            self.inc.write(data)
        else:
            self.eof = True
            self.inc.write_eof()
        self._decrypt()

    def _decrypt(self):
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self.eof = True
                return
            except ssl.SSLError:
                self.eof = True
                return
            if not chunk:
                self.eof = True
                return
            self.plain += chunk

    def _pull(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("recv")
        r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
        if r:
            self._recv_once()

    def send(self, data, timeout=10):
        """Send application bytes. Returns False when the server closed or
        reset the connection before everything went out."""
        deadline = time.time() + timeout
        try:
            for i in range(0, len(data), 16384):
                self.tls.write(data[i:i + 16384])
                self._flush(deadline)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return False
        return True

    def read_message(self, timeout=10):
        """One whole TTLV message, or None if the connection ended first."""
        deadline = time.time() + timeout
        while True:
            if len(self.plain) >= 8:
                ln = int.from_bytes(self.plain[4:8], "big")
                if len(self.plain) >= 8 + ln:
                    msg = bytes(self.plain[:8 + ln])
                    del self.plain[:8 + ln]
                    return msg
            if self.eof:
                return None
            self._pull(deadline)

    def wait_closed(self, timeout):
        """True when the server closed (EOF/reset) within timeout and sent
        no application byte first."""
        deadline = time.time() + timeout
        while not self.eof and time.time() < deadline:
            self._pull(deadline)
        return self.eof

    def close(self):
        self.sock.close()


def exchange(c, req, what):
    if not c.send(req):
        fail("%s: the server closed before the request was sent" % what)
    resp = c.read_message()
    if resp is None:
        fail("%s: connection closed without an answer" % what)
    return resp


def still_serves(c, what):
    resp = exchange(c, discover_versions(), what + " (Discover Versions after it)")
    check_success(resp, what)


# ---- the hostile cases -------------------------------------------------
def hostile(port, cert, key):
    C = lambda: Conn(port, cert, key)  # noqa: E731

    # 0. The stall: a header announcing 64 KiB, 24 bytes of body, then
    #    silence. Started first and checked last, so its 30 s run in
    #    parallel with the other cases.
    stall = C()
    body = header() + b"\0" * 8
    stall.send(struct.pack(">II", TAG_REQUEST_MESSAGE << 8 | T_STRUCT, 65536) + body[:24])
    stall_sent = time.time()
    ok("stall: header announces 65536 bytes, 24 sent, then silence")

    # 1. A sane request first: the client and framing are right.
    c = C()
    still_serves(c, "a well-formed request")
    ok("Discover Versions succeeds on a fresh connection")

    # 2. Wrong TTLV types inside a well-framed Request Message: each is
    #    answered Invalid Message and the connection stays usable.
    wrong = [
        ("Request Header as an Integer",
         struct_(TAG_REQUEST_MESSAGE, int_(TAG_REQUEST_HEADER, 7),
                 struct_(TAG_BATCH_ITEM, enum_(TAG_OPERATION, OP_DISCOVER_VERSIONS), struct_(TAG_REQUEST_PAYLOAD)))),
        ("Batch Count as a Text String",
         struct_(TAG_REQUEST_MESSAGE,
                 struct_(TAG_REQUEST_HEADER,
                         struct_(TAG_PROTOCOL_VERSION, int_(TAG_PV_MAJOR, 2), int_(TAG_PV_MINOR, 1)),
                         item(TAG_BATCH_COUNT, T_TEXT, b"one")),
                 struct_(TAG_BATCH_ITEM, enum_(TAG_OPERATION, OP_DISCOVER_VERSIONS), struct_(TAG_REQUEST_PAYLOAD)))),
        ("Operation as a Byte String",
         struct_(TAG_REQUEST_MESSAGE, header(),
                 struct_(TAG_BATCH_ITEM, item(TAG_OPERATION, T_BYTES, b"\0\0\0\x1e"), struct_(TAG_REQUEST_PAYLOAD)))),
        ("Protocol Version Major as a Long Integer",
         struct_(TAG_REQUEST_MESSAGE,
                 struct_(TAG_REQUEST_HEADER,
                         struct_(TAG_PROTOCOL_VERSION, item(TAG_PV_MAJOR, T_LONG, (2).to_bytes(8, "big")),
                                 int_(TAG_PV_MINOR, 1)),
                         int_(TAG_BATCH_COUNT, 1)),
                 struct_(TAG_BATCH_ITEM, enum_(TAG_OPERATION, OP_DISCOVER_VERSIONS), struct_(TAG_REQUEST_PAYLOAD)))),
        ("an Integer whose length field says 8",
         struct_(TAG_REQUEST_MESSAGE, header(),
                 struct_(TAG_BATCH_ITEM, item(TAG_OPERATION, T_ENUM, b"\0\0\0\x1e\0\0\0\0"),
                         struct_(TAG_REQUEST_PAYLOAD)))),
        ("an unknown item type 0x0f",
         struct_(TAG_REQUEST_MESSAGE, header(), item(TAG_BATCH_ITEM, 0x0F, b"\0" * 8))),
    ]
    for what, msg in wrong:
        text = check_invalid_message(exchange(c, msg, what), what)
        still_serves(c, what)
        ok("%s: Operation Failed / Invalid Message (%r); the connection stays open" % (what, text))
    c.close()

    # 3. 1,000 Structures deep (framing intact, 8,000 bytes; the TTLV depth
    #    cap is 16): Invalid Message, connection stays open.
    c = C()
    deep = b""
    for _ in range(999):
        deep = struct_(TAG_BATCH_ITEM, deep) if deep else struct_(TAG_BATCH_ITEM)
    deep = struct_(TAG_REQUEST_MESSAGE, deep)
    if len(deep) != 8000:
        fail("deep message is %d bytes" % len(deep))
    text = check_invalid_message(exchange(c, deep, "1,000 nested Structures"), "1,000 nested Structures")
    still_serves(c, "1,000 nested Structures")
    ok("1,000 nested Structures: Invalid Message (%r); the connection stays open" % text)
    c.close()

    # 4. Length fields of 4 GiB: refused from the header, before anything
    #    is allocated, with Invalid Message naming the limit; then closed.
    for ln, expect in ((0xFFFFFFF8, "longer than the server's limit of %d bytes" % WIRE_MAX),
                       (0xFFFFFFFF, None),
                       (WIRE_MAX, "longer than the server's limit")):  # 8 bytes over in all
        c = C()
        hdr = struct.pack(">II", TAG_REQUEST_MESSAGE << 8 | T_STRUCT, ln)
        what = "length field 0x%08x" % ln
        text = check_invalid_message(exchange(c, hdr, what), what, expect)
        if not c.wait_closed(5):
            fail("%s: connection still open 5 s after the refusal" % what)
        if c.plain:
            fail("%s: bytes after the refusal" % what)
        ok("%s: Invalid Message (%r), then closed" % (what, text))
        c.close()
    # The largest allowed message is not refused by the header check (the
    # boundary): 1 114 112 bytes in all is accepted and then answered.
    c = C()
    body = header() + struct_(TAG_BATCH_ITEM, enum_(TAG_OPERATION, OP_DISCOVER_VERSIONS), struct_(TAG_REQUEST_PAYLOAD))
    filler = WIRE_MAX - 8 - len(body) - 8
    big = struct_(TAG_REQUEST_MESSAGE, body, item(0x420000 | 0xA0FF, T_BYTES, b"\0" * filler))
    if len(big) != WIRE_MAX:
        fail("boundary message is %d bytes" % len(big))
    resp = exchange(c, big, "a message of exactly 1 114 112 bytes")
    top = parse(resp)
    if len(top) != 1 or top[0][0] != TAG_RESPONSE_MESSAGE:
        fail("boundary message: not a Response Message")
    still_serves(c, "a message of exactly 1 114 112 bytes")
    ok("a message of exactly 1 114 112 bytes passes the header check, is answered, the connection stays open")
    c.close()

    # 5. 10 MiB of random bytes (not a Request Message header): Invalid
    #    Message for the header, then closed; the rest cannot be delivered.
    rnd = random.Random(0xA5CA).randbytes(10 << 20)
    if rnd[:4] == struct.pack(">I", TAG_REQUEST_MESSAGE << 8 | T_STRUCT):
        fail("random bytes start like a Request Message")
    c = C()
    c.send(rnd[:65536])
    text = check_invalid_message(c.read_message() or fail("10 MiB random: no answer"), "10 MiB random",
                                 "not a KMIP Request Message")
    delivered = c.send(rnd[65536:], timeout=20)
    if not c.wait_closed(5):
        fail("10 MiB random: connection still open after the refusal")
    if c.plain:
        fail("10 MiB random: bytes after the refusal")
    ok("10 MiB random bytes: Invalid Message (%r), then closed (rest of the 10 MiB %s)" %
       (text, "accepted by the socket buffers" if delivered else "refused by the closed connection"))
    c.close()

    # 6. Truncated message then close: the server has nothing to answer;
    #    a new connection still works (checked by still_serves below).
    for cut in (3, 8, 20):
        c = C()
        full = discover_versions()
        c.send(full[:cut])
        c.sock.shutdown(socket.SHUT_WR)
        if not c.wait_closed(5):
            fail("truncated at %d: server did not close within 5 s of our close" % cut)
        if c.plain:
            fail("truncated at %d: the server answered %r" % (cut, bytes(c.plain[:16])))
        c.close()
        ok("message truncated after %d bytes, then closed: closed without an answer" % cut)

    # 7. The stall: closed without an answer after the 30 s time-out.
    left = stall_sent + MESSAGE_TIMEOUT + 10 - time.time()
    closed = stall.wait_closed(max(left, 0.1))
    waited = time.time() - stall_sent
    if not closed:
        fail("stall: still open %.1f s after the last byte (time-out is 30 s)" % waited)
    if waited < MESSAGE_TIMEOUT - 1:
        fail("stall: closed after %.1f s, before the 30 s time-out" % waited)
    if stall.plain:
        fail("stall: the server answered %r" % bytes(stall.plain[:16]))
    ok("stall (length lies): closed without an answer %.1f s after the last byte (time-out 30 s)" % waited)
    stall.close()

    c = C()
    still_serves(c, "after every hostile case")
    c.close()
    ok("a new connection is served after every hostile case")


def loris(port, log_path, count, kcu):
    """count TCP connections that never handshake; kcu must keep working
    while they are open; the enclave closes them at its 10 s handshake
    time-out."""
    def handed():
        with open(log_path, errors="replace") as f:
            return len(re.findall(r"handed to the enclave \(\d+ open\)", f.read()))
    before = handed()
    t0 = time.time()
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    deadline = time.time() + 10
    while handed() < before + count and time.time() < deadline:
        time.sleep(0.05)
    if handed() < before + count:
        fail("loris: only %d of %d connections handed to the enclave" % (handed() - before, count))
    with open(log_path, errors="replace") as f:
        if "refused connection" in f.read():
            fail("loris: arcad refused a connection (the cap is set above %d)" % count)
    ok("loris: %d idle TCP connections all handed to the enclave, none refused" % count)
    for s in socks:
        s.settimeout(0.05)
        try:
            if s.recv(1) == b"":
                fail("loris: a connection was closed %.1f s after the first was opened, before the 10 s "
                     "handshake time-out" % (time.time() - t0))
        except socket.timeout:
            pass
    n = 0
    while time.time() - t0 < HANDSHAKE_TIMEOUT - 3:
        r = subprocess.run(kcu, capture_output=True, text=True)
        if r.returncode != 0:
            fail("loris: kcu failed with %d connections pending: %s" % (count, r.stderr.strip()))
        n += 1
    if n < 3:
        fail("loris: only %d kcu operations in the window" % n)
    ok("loris: %d kcu operations succeeded while %d connections sat in their handshake" % (n, count))
    # The enclave's handshake time-out (10 s) ends each of them.
    for s in socks:
        s.settimeout(max(t0 + HANDSHAKE_TIMEOUT + 10 - time.time(), 0.1))
        try:
            data = s.recv(1)
        except socket.timeout:
            fail("loris: a connection still open %.1f s after it was opened" % (time.time() - t0))
        except ConnectionResetError:
            data = b""
        if data != b"":
            fail("loris: the server sent %r to a client that never said hello" % data)
        s.close()
    took = time.time() - t0
    if took < HANDSHAKE_TIMEOUT - 1:
        fail("loris: closed after %.1f s, before the 10 s handshake time-out" % took)
    ok("loris: all %d closed by the enclave's handshake time-out (last after %.1f s)" % (count, took))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "hostile":
        hostile(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 6 and sys.argv[1] == "loris" and sys.argv[5] == "--":
        loris(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[6:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
