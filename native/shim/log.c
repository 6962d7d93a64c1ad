#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

/* One whole line per call: lines of several threads never interleave mid-line. */
static void emit(const char *fmt, va_list ap)
{
    char line[4096]; /* a refusal's whole reason fits */
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "gpupool: %s\n", line);
}

void gp_debug(const char *fmt, ...)
{
    static int enabled = -1;
    if (enabled < 0)
        enabled = getenv("GPUPOOL_DEBUG") != NULL && getenv("GPUPOOL_DEBUG")[0] != '\0';
    if (!enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

void gp_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

/* A small set of names already reported: a call not carried is named once, not on every call. */
void gp_not_carried_once(const char *name)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static const char *seen[512];
    static size_t count;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(seen[i], name) == 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
    }
    if (count < sizeof seen / sizeof seen[0])
        seen[count++] = name;
    pthread_mutex_unlock(&lock);
    fprintf(stderr, "gpupool: %s is not carried by gpupool (not supported by its client library); it returned CUDA_ERROR_NOT_SUPPORTED\n", name);
}
