/*
 * The client library's decoding of what a daemon sends (docs/protocol.md): WELCOME, reply frames and
 * the values in them. Pure functions over (buffer, length), with no connection or global state, so
 * that the fuzz harness (native/shim/fuzz) runs exactly the code the receiver runs. A daemon is
 * trusted to run the client's calls, not to send well-formed bytes: nothing here reads outside the
 * buffer it is given, whatever the buffer holds.
 */
#ifndef GPUPOOL_SHIM_DECODE_H
#define GPUPOOL_SHIM_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

#include "gp_frames.h"
#include "shim.h"

/* One reply frame [seq, result, outs...]. */
typedef struct gp_reply {
    uint64_t seq;
    CUresult rc;
    const char *outs; /* the out values, whole msgpack values, outs_len bytes */
    size_t outs_len;
    uint32_t n_outs;
} gp_reply;

/* Decodes the reply frame at *pos (before end) and steps past it; -1 when it is malformed. */
int gp_decode_reply(const char **pos, const char *end, gp_reply *out);

/*
 * A device-to-host reply's data: its one out value must be a bin. Copies min(its length, cap) bytes
 * to dst; -1 when the reply is not that.
 */
int gp_reply_copy_bin(const gp_reply *r, void *dst, size_t cap);

/* An output frame (seq 0: no call's reply), device printf for the job's stdout: written there
 * (devprintf.c); -1 when it is malformed. */
int gp_output_frame(const gp_reply *r);

/* Reads the out values of a reply in order; a value of another type reads as 0 / nothing. */
typedef struct gp_reader {
    const char *pos, *end;
} gp_reader;

int64_t gp_read_int(gp_reader *r);
uint64_t gp_read_uint(gp_reader *r);
double gp_read_float(gp_reader *r);
/* Copies min(the bin's length, n) bytes to dst (NULL: skips it). */
void gp_read_bin(gp_reader *r, void *dst, size_t n);
/* Copies the string, cut to n - 1 bytes and NUL-terminated (n > 0). */
void gp_read_str(gp_reader *r, char *dst, size_t n);

/*
 * WELCOME: the session id and the daemon's devices, each marked as served by `server`. Devices past
 * `max` are dropped. 0, or -1 when the message is not one msgpack map (then nothing is set).
 */
int gp_decode_welcome(const uint8_t *msg, size_t len, int server, uint64_t *session, gp_device *devices, int max, int *count);

/* A handshake notice (docs/protocol.md, "Handshake"): a map with a `notice` key, before WELCOME or a close. */
typedef struct gp_notice {
    char kind[GP_KEY_NOTICE_NOTICE_BYTES];   /* "waiting" (held for room) or "refused" (the close follows) */
    char reason[GP_KEY_NOTICE_REASON_BYTES]; /* the whole reason, with units; cut to fit, NUL-terminated */
    uint64_t waited_s;  /* waiting: seconds held so far */
    uint64_t wait_s;    /* waiting: seconds it may be held in all */
    unsigned code;      /* refused: the close code that follows (4004) */
} gp_notice;

/* 1 and *out filled: a notice; 0: a map without `notice` (WELCOME); -1: not one msgpack map. */
int gp_decode_notice(const uint8_t *msg, size_t len, gp_notice *out);

#endif
