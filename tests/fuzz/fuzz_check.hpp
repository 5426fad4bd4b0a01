#pragma once

/// FUZZ_CHECK: the fuzz targets' assertion. A broken invariant prints where and what,
/// then aborts, which libFuzzer reports as a crash and saves the input for.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                                                              \
    do {                                                                                                                                   \
        if (!(condition)) {                                                                                                                \
            std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition);                                        \
            std::abort();                                                                                                                  \
        }                                                                                                                                  \
    } while (false)
