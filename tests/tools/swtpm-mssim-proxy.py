#!/usr/bin/env python3
"""A TCP front for a test swtpm that speaks the Microsoft simulator protocol
(the `mssim:` TCTI of tpm2-tss), for tests and deploy/dev-run.sh only.

    swtpm-mssim-proxy.py SWTPM_SOCKET PORT_FILE

Why (tests/tools/swtpm-run.sh starts it): arca-enclave connects to the TPM
before its seccomp filter is applied and must keep that connection, since
the filter forbids socket/connect afterwards. The `swtpm:` TCTI opens a new
connection for every command (a fresh quote for `kms-client attest` killed
the enclave with SIGSYS); the `mssim:` TCTI keeps its two TCP connections.
swtpm 0.7 cannot serve `mssim:` itself: its control channel does not speak
the simulator's platform commands (MS_SIM_POWER_ON / NV_ON), and it serves
one connection at a time, so a client that keeps its connection (the
enclave) would block every other one (arcad, tpm2-tools).

This proxy listens on 127.0.0.1:P (TPM commands) and 127.0.0.1:P+1
(platform commands), P chosen by the kernel, written to PORT_FILE once both
are bound. Any number of clients may stay connected; each TPM command is
forwarded to swtpm's unix socket over a connection of its own, one command
at a time (like the `swtpm:` TCTI, so tools using that TCTI on the socket
can share the TPM). If swtpm cannot be reached, the command is answered
with TPM_RC_FAILURE and the client's connection stays open. Platform commands (power on, NV on, cancel) are
acknowledged and ignored: swtpm runs with --flags startup-clear. Like
swtpm without a resource manager, clients share the TPM's transient
object and session slots: each must flush what it loads (Arca does).
"""
import os
import socket
import struct
import sys
import threading

TPM_SEND_COMMAND = 8
TPM_SESSION_END = 20
TPM_STOP = 21
MAX_COMMAND = 1 << 16
TPM_RC_FAILURE = 0x101

swtpm_path = sys.argv[1]
port_file = sys.argv[2]
swtpm_lock = threading.Lock()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def forward(command):
    """One TPM command to swtpm over a connection of its own; its response."""
    with swtpm_lock:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(swtpm_path)
            s.sendall(command)
            head = recv_exact(s, 10)
            size = struct.unpack(">I", head[2:6])[0]
            if size < 10 or size > MAX_COMMAND:
                raise ValueError("bad response size %d from swtpm" % size)
            return head + recv_exact(s, size - 10)


def serve_tpm(conn):
    with conn:
        try:
            while True:
                (code,) = struct.unpack(">I", recv_exact(conn, 4))
                if code == TPM_SEND_COMMAND:
                    _locality, size = struct.unpack(">BI", recv_exact(conn, 5))
                    if size < 10 or size > MAX_COMMAND:
                        return
                    command = recv_exact(conn, size)
                    try:
                        resp = forward(command)
                    except (OSError, EOFError, ValueError) as e:
                        # swtpm down (killed by a fault test) or confused: the
                        # client gets TPM_RC_FAILURE and keeps its connection,
                        # which works again once swtpm is back.
                        print("swtpm-mssim-proxy: swtpm: %s" % e, file=sys.stderr, flush=True)
                        resp = struct.pack(">HII", 0x8001, 10, TPM_RC_FAILURE)
                    conn.sendall(struct.pack(">I", len(resp)) + resp + b"\0\0\0\0")
                elif code in (TPM_SESSION_END, TPM_STOP):
                    return
                else:
                    conn.sendall(b"\0\0\0\0")
        except (EOFError, OSError, ValueError) as e:
            if not isinstance(e, EOFError):
                print("swtpm-mssim-proxy: tpm connection: %s" % e, file=sys.stderr, flush=True)


def serve_platform(conn):
    with conn:
        try:
            while True:
                (code,) = struct.unpack(">I", recv_exact(conn, 4))
                if code in (TPM_SESSION_END, TPM_STOP):
                    return
                conn.sendall(b"\0\0\0\0")  # acknowledged, ignored
        except (EOFError, OSError):
            pass


def listen_pair():
    """Two listening sockets on 127.0.0.1:P and P+1 (mssim's convention)."""
    for _ in range(100):
        tpm = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tpm.bind(("127.0.0.1", 0))
        port = tpm.getsockname()[1]
        if port >= 65535:
            tpm.close()
            continue
        plat = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            plat.bind(("127.0.0.1", port + 1))
        except OSError:
            tpm.close()
            plat.close()
            continue
        tpm.listen(16)
        plat.listen(16)
        return tpm, plat, port
    sys.exit("swtpm-mssim-proxy: no free pair of ports")


def accept_loop(listener, handler):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def main():
    tpm, plat, port = listen_pair()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, port_file)
    threading.Thread(target=accept_loop, args=(plat, serve_platform), daemon=True).start()
    accept_loop(tpm, serve_tpm)


main()
