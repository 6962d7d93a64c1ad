/*
 * The call trace (trace.h). It is what an operator asks for first when a job fails under gpupool, so
 * it costs nothing when off (one test of gp_trace_on per call) and, when on, writes each call as one
 * line with one write(2): lines of several threads and processes (a job's forked workers share the
 * file, opened O_APPEND) never interleave.
 */
#define _GNU_SOURCE
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

int gp_trace_on;
static int g_fd = -1;
static uint64_t g_epoch_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* GPUPOOL_TRACE: unset, empty or 0 is off; 1 is stderr; anything else a file, appended to. */
__attribute__((constructor)) static void trace_init(void)
{
    const char *v = getenv("GPUPOOL_TRACE");
    if (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0)
        return;
    if (strcmp(v, "1") == 0) {
        g_fd = STDERR_FILENO;
    } else {
        g_fd = open(v, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (g_fd < 0) {
            gp_error("GPUPOOL_TRACE: cannot open %s (%s); calls are not traced", v, strerror(errno));
            return;
        }
    }
    g_epoch_ns = now_ns();
    gp_trace_on = 1;
}

void gp_trace_begin(gp_trace *t)
{
    t->len = 0;
    t->args[0] = '\0';
    t->start_ns = now_ns();
}

static void add(gp_trace *t, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(gp_trace *t, const char *name, const char *fmt, ...)
{
    if (t->len >= sizeof t->args - 1)
        return;
    int n = snprintf(t->args + t->len, sizeof t->args - t->len, "%s%s=", t->len ? ", " : "", name);
    if (n > 0)
        t->len += (size_t)n;
    if (t->len >= sizeof t->args - 1) {
        t->len = sizeof t->args - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(t->args + t->len, sizeof t->args - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
    if (t->len >= sizeof t->args - 1)
        t->len = sizeof t->args - 1;
}

void gp_trace_int(gp_trace *t, const char *name, long long v) { add(t, name, "%lld", v); }
void gp_trace_uint(gp_trace *t, const char *name, unsigned long long v) { add(t, name, "%llu", v); }
void gp_trace_hex(gp_trace *t, const char *name, unsigned long long v) { add(t, name, "0x%llx", v); }
void gp_trace_float(gp_trace *t, const char *name, double v) { add(t, name, "%g", v); }
void gp_trace_ptr(gp_trace *t, const char *name, const void *p) { add(t, name, "%p", p); }

/* Strings are cut short: a symbol name says what it is in its first 64 characters. */
void gp_trace_str(gp_trace *t, const char *name, const char *s)
{
    if (s == NULL)
        add(t, name, "NULL");
    else
        add(t, name, "\"%.64s%s\"", s, strlen(s) > 64 ? "..." : "");
}

void gp_trace_uuid(gp_trace *t, const char *name, const CUuuid *id)
{
    if (id == NULL) {
        add(t, name, "NULL");
        return;
    }
    const unsigned char *b = (const unsigned char *)id->bytes;
    add(t, name, "{%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x}", b[0], b[1], b[2], b[3], b[4],
        b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void gp_trace_out_int(gp_trace *t, const char *name, const void *p, long long v, CUresult rc)
{
    if (p != NULL && rc == CUDA_SUCCESS)
        add(t, name, "&%lld", v);
    else
        add(t, name, "%p", p);
}

void gp_trace_out_hex(gp_trace *t, const char *name, const void *p, unsigned long long v, CUresult rc)
{
    if (p != NULL && rc == CUDA_SUCCESS)
        add(t, name, "&0x%llx", v);
    else
        add(t, name, "%p", p);
}

static void emit_line(const char *line, size_t n);

/* Formats and writes one line; a line too long for the buffer is cut, its newline kept. */
static void write_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void write_line(const char *fmt, ...)
{
    char line[640];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    emit_line(line, (size_t)n);
}

static void emit_line(const char *line, size_t n)
{
    while (n > 0) {
        ssize_t w = write(g_fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        n -= (size_t)w;
    }
}

void gp_trace_end(gp_trace *t, const char *symbol, const char *where, CUresult rc)
{
    uint64_t end = now_ns();
    const char *rname = NULL;
    if (cuGetErrorName(rc, &rname) != CUDA_SUCCESS || rname == NULL)
        rname = "CUDA_ERROR_?";
    write_line("gpupool-trace %-4s +%.6fs pid %d tid %ld %s %.1fus %s(%s) = %s (%d)\n", rc == CUDA_SUCCESS ? "ok" : "FAIL",
               (double)(t->start_ns - g_epoch_ns) / 1e9, (int)getpid(), (long)syscall(SYS_gettid), where,
               (double)(end - t->start_ns) / 1e3, symbol, t->args, rname, (int)rc);
}

void gp_trace_note(const char *fmt, ...)
{
    if (!gp_trace_on)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    write_line("gpupool-trace note +%.6fs pid %d tid %ld %s\n", (double)(now_ns() - g_epoch_ns) / 1e9, (int)getpid(),
               (long)syscall(SYS_gettid), msg);
}

/* A call gpupool does not carry: its symbol exists, answers CUDA_ERROR_NOT_SUPPORTED and is named. */
void gp_trace_unsupported(const char *symbol)
{
    if (!gp_trace_on)
        return;
    gp_trace t;
    gp_trace_begin(&t);
    gp_trace_end(&t, symbol, GP_TRACE_UNSUPPORTED, CUDA_ERROR_NOT_SUPPORTED);
}
