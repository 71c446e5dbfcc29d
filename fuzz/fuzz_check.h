/* Shared by the fuzz targets: a broken invariant is a finding, so abort
 * (after saying which) and libFuzzer records the input as a crash. Not a
 * .c file, so fuzz/CMakeLists.txt does not take it for a target. */
#ifndef ARCA_FUZZ_CHECK_H
#define ARCA_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);                    \
            abort();                                                                                          \
        }                                                                                                     \
    } while (0)

#endif
