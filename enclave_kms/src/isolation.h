/* Process isolation of arca-enclave (DESIGN.md, "Processes and trust
 * boundaries"): no core dumps, not dumpable/ptrace-able by the same user,
 * no inherited descriptors, and after start-up a seccomp allow-list whose
 * default action kills the process. */
#ifndef ARCA_ENCLAVE_ISOLATION_H
#define ARCA_ENCLAVE_ISOLATION_H

#include "arca/status.h"

/* First thing in main: PR_SET_DUMPABLE 0, RLIMIT_CORE 0. ARCA_ERR_IO if
 * either fails. */
ARCA_MUST_CHECK arca_status arca_isolation_early(void);

/* Close every descriptor except 0, 1, 2 and keep_fd. */
ARCA_MUST_CHECK arca_status arca_isolation_close_fds(int keep_fd);

/* Install the seccomp allow-list (PR_SET_NO_NEW_PRIVS, then a filter on
 * every thread of the process; default SCMP_ACT_KILL_PROCESS). After this
 * the process can open no file, create no socket, exec nothing.
 * ARCA_ERR_INTERNAL if libseccomp fails. */
ARCA_MUST_CHECK arca_status arca_isolation_seccomp(void);

#endif
