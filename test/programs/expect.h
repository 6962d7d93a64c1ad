/* What the checked test programs (C and C++) share: a check that prints "<what> ok", or names the failure and counts it. */
#ifndef GPUPOOL_EXPECT_H
#define GPUPOOL_EXPECT_H

#include <stdio.h>

static int failures = 0;

static void expect(int ok, const char *what)
{
    if (ok) {
        printf("%s ok\n", what);
    } else {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

#endif
