/* fake_host: plays a hostile arcad against a real arca-enclave process.
 * Starts the enclave on a channel, sends it frames a correct host would
 * never send, and checks each is refused the way docs/channel.md says:
 *   1. a frame of unknown type        -> logged and dropped (no reply: a
 *                                        reply of an unknown type could not
 *                                        be decoded by the host either)
 *      and OCALL_CONN_CLOSED, which only the enclave sends -> logged and
 *                                        dropped (a notification has no reply)
 *   2. CONNECTION before START        -> error reply ARCA_ERR_FRAME_STATE
 *   3. a malformed START payload      -> error reply ARCA_ERR_DECODE, enclave exits
 *   or, with --oversize: a frame over the START cap -> read, discarded and
 *   refused with ARCA_ERR_FRAME_SIZE; then a header that cannot be decoded
 *   -> the enclave ends the channel with a log line and exits non-zero.
 * Prints one line per check; exit 0 when every check holds.
 *   fake_host ENCLAVE_IMAGE [--oversize] */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arca/channel.h"
#include "arca/cursor.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) failures++;
}

static int expect_reply(int fd, uint32_t req_id, arca_status want)
{
    arca_frame_header h;
    uint8_t *payload = NULL;
    int passed = -1;
    arca_status st = arca_channel_recv(fd, &h, &payload, &passed);
    if (st != ARCA_OK) {
        printf("  no reply: %s\n", arca_status_name(st));
        return 0;
    }
    arca_cursor c;
    arca_cursor_init(&c, payload, h.payload_len);
    uint32_t got = 0;
    int ok = (h.flags & ARCA_FRAME_REPLY) && h.request_id == req_id && arca_cursor_get_u32(&c, &got) == ARCA_OK &&
             got == (uint32_t)want;
    printf("  reply to %u: %s\n", h.request_id, got < ARCA_STATUS_COUNT ? arca_status_name((arca_status)got) : "?");
    free(payload);
    if (passed >= 0) close(passed);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fake_host ENCLAVE_IMAGE [--oversize]\n");
        return 2;
    }
    int oversize = argc > 2 && strcmp(argv[2], "--oversize") == 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(sv[1], 3) < 0) _exit(127);
        execl(argv[1], "arca-enclave", "--channel-fd", "3", (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    int fd = sv[0];

    if (oversize) {
        /* A START of 64 MiB: over its cap. The enclave reads and discards
         * the payload without allocating it, stays in step, and answers. */
        arca_frame_header h = {ARCA_ECALL_START, 0, 1, 64u << 20};
        uint8_t raw[ARCA_FRAME_HEADER_LEN];
        arca_frame_header_encode(&h, raw);
        int sent = write(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw);
        static uint8_t zeros[1 << 16];
        for (size_t off = 0; sent && off < (64u << 20); off += sizeof(zeros))
            sent = write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros);
        check(sent, "sent a 64 MiB START");
        check(expect_reply(fd, 1, ARCA_ERR_FRAME_SIZE), "over-cap START refused with ARCA_ERR_FRAME_SIZE");
        /* A header with unknown flag bits cannot be trusted to frame the
         * stream: the enclave ends the channel and exits. */
        arca_frame_header bad = {ARCA_ECALL_START, 0x8000, 2, 0};
        arca_frame_header_encode(&bad, raw);
        check(write(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw), "sent a header with unknown flags");
    } else {
        /* The codec refuses to send an unknown type, so write the header by hand. */
        arca_frame_header unknown = {0x0077, 0, 1, 0};
        uint8_t raw[ARCA_FRAME_HEADER_LEN];
        arca_frame_header_encode(&unknown, raw);
        check(write(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw), "sent frame type 0x0077");
        uint8_t closed[ARCA_CONN_CLOSED_LEN];
        arca_conn_closed_encode(1, closed);
        check(arca_channel_send(fd, ARCA_OCALL_CONN_CLOSED, 0, 4, closed, sizeof(closed), -1) == ARCA_OK,
              "sent CONN_CLOSED (an enclave-to-host notification)");
        uint8_t conn[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
        check(arca_channel_send(fd, ARCA_ECALL_CONNECTION, 0, 2, conn, sizeof(conn), -1) == ARCA_OK,
              "sent CONNECTION before START");
        /* The next reply is for request 2: frames 1 and 4 were dropped,
         * and the enclave is still reading in step. */
        check(expect_reply(fd, 2, ARCA_ERR_FRAME_STATE), "CONNECTION in state STARTING refused with ARCA_ERR_FRAME_STATE");
        uint8_t junk[] = {0xff, 0xff, 'x'};
        check(arca_channel_send(fd, ARCA_ECALL_START, 0, 3, junk, sizeof(junk), -1) == ARCA_OK,
              "sent a malformed START");
        check(expect_reply(fd, 3, ARCA_ERR_DECODE), "malformed START refused with ARCA_ERR_DECODE");
    }
    /* Either way the enclave must end by exiting, not by a signal. */
    int status = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (i == 99) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            check(0, "enclave exited by itself");
        }
        usleep(50000);
    }
    check(WIFEXITED(status) && WEXITSTATUS(status) != 0, "enclave exited with an error status, not a crash");
    if (WIFSIGNALED(status)) printf("  enclave killed by signal %d\n", WTERMSIG(status));
    close(fd);
    return failures ? 1 : 0;
}
