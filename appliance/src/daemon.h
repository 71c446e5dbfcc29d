/* arcad's two commands: `init` (create the state dir, the store and the
 * platform seed) and `run` (the supervisor and its poll loop).
 *
 * Both log why they fail and return the process exit code: 0 on success
 * (run: after a clean SIGTERM/SIGINT shutdown), 1 on any refusal. */
#ifndef ARCA_APPLIANCE_DAEMON_H
#define ARCA_APPLIANCE_DAEMON_H

#include "config.h"

/* Timing knobs (milliseconds), exposed for tests. */
#define ARCA_DAEMON_START_TIMEOUT_MS 60000
#define ARCA_DAEMON_SHUTDOWN_TIMEOUT_MS 5000
#define ARCA_DAEMON_BACKOFF_MIN_MS 100
#define ARCA_DAEMON_BACKOFF_MAX_MS 5000
#define ARCA_DAEMON_MAX_FAILS 10
#define ARCA_DAEMON_FAIL_WINDOW_MS 60000

int arca_daemon_init(const arca_config *cfg);
int arca_daemon_run(const arca_config *cfg);

#endif
