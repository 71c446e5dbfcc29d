/* arcad: the untrusted host daemon.
 *
 *   arcad -c CONFIG [run]    launch the enclave and serve (default)
 *   arcad -c CONFIG init     create state dir, store and platform seed
 *   arcad --version
 *
 * Exit codes: 0 success, 1 refused / failed, 2 usage. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arca/log.h"
#include "config.h"
#include "daemon.h"

#ifndef ARCA_VERSION
#define ARCA_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: arcad -c CONFIG [run|init]\n"
               "       arcad --version\n"
               "  run   launch the enclave and serve clients (default)\n"
               "  init  create the state directory, the store and the platform seed\n");
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    const char *cmd = "run";
    bool cmd_given = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("arcad %s\n", ARCA_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                usage(stderr);
                return 2;
            }
            conf = argv[++i];
        } else if (!cmd_given && (strcmp(argv[i], "run") == 0 || strcmp(argv[i], "init") == 0)) {
            cmd = argv[i];
            cmd_given = true;
        } else {
            fprintf(stderr, "arcad: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (conf == NULL) {
        usage(stderr);
        return 2;
    }
    arca_log_set_component("arcad");

    char exe[PATH_MAX];
    const char *exe_dir = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        exe_dir = dirname(exe);
    }

    static arca_config cfg; /* large: keep it off the stack */
    char err[ARCA_CONFIG_ERR_LEN];
    arca_status st = arca_config_load(conf, exe_dir, &cfg, err, sizeof err);
    if (st != ARCA_OK) {
        ARCA_ERROR("arcad: refusing to start: %s", err);
        return 1;
    }
    arca_log_set_level(cfg.log_level);
    if (strcmp(cmd, "init") == 0) return arca_daemon_init(&cfg);
    return arca_daemon_run(&cfg);
}
