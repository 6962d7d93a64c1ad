/*
 * The call trace (GPUPOOL_TRACE, docs/operations.md "Call trace"): one line per driver call the client
 * library receives, written by the generated entry points (build/gen/trace_entries.c) after the call
 * returns, with its arguments in short, where it was answered, its result and its time.
 */
#ifndef GPUPOOL_SHIM_TRACE_H
#define GPUPOOL_SHIM_TRACE_H

#include <stdint.h>

#include <cuda.h>

/* Nonzero while tracing; read on every call, so a plain int the entry points test first. */
extern int gp_trace_on;

/* Where a call was answered. */
#define GP_TRACE_LOCAL "local"
#define GP_TRACE_REMOTE "remote"
#define GP_TRACE_UNSUPPORTED "unsupported"

typedef struct gp_trace {
    uint64_t start_ns;
    char args[480];
    size_t len;
} gp_trace;

void gp_trace_begin(gp_trace *t);
/* Arguments, in order, after the call: values by value, and what out-parameters received. */
void gp_trace_int(gp_trace *t, const char *name, long long v);
void gp_trace_uint(gp_trace *t, const char *name, unsigned long long v);
void gp_trace_hex(gp_trace *t, const char *name, unsigned long long v);
void gp_trace_float(gp_trace *t, const char *name, double v);
void gp_trace_ptr(gp_trace *t, const char *name, const void *p);
void gp_trace_str(gp_trace *t, const char *name, const char *s);
void gp_trace_uuid(gp_trace *t, const char *name, const CUuuid *id);
/* An out-parameter: its value when the call succeeded and the caller passed somewhere to put it. */
void gp_trace_out_int(gp_trace *t, const char *name, const void *p, long long v, CUresult rc);
void gp_trace_out_hex(gp_trace *t, const char *name, const void *p, unsigned long long v, CUresult rc);
/* Writes the line: "symbol(args) = RESULT", failures marked so that they stand out. */
void gp_trace_end(gp_trace *t, const char *symbol, const char *where, CUresult rc);
/* A call gpupool does not carry (the generated symbols that answer CUDA_ERROR_NOT_SUPPORTED). */
void gp_trace_unsupported(const char *symbol);
/* A line of its own for what no entry point says (a call not carried, a refused export table). */
void gp_trace_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
