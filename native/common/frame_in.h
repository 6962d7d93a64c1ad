/*
 * Typed reads of the values of one msgpack frame, for both ends of the compute protocol: the frame
 * codecs generated from src/protocol/frames.ts (build/gen/gp_frames.c) and the daemon's reader of a
 * call's arguments are built on these. The frame was checked whole first (gp_mp_check), so a read
 * never runs past it; each read checks that a value is left and that it has the type asked for, and
 * on any deviation returns -1 with the reason in `err` (the text a protocol error closes with).
 */
#ifndef GPUPOOL_COMMON_FRAME_IN_H
#define GPUPOOL_COMMON_FRAME_IN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gp_in {
    const char *p;   /* the next value */
    const char *end; /* the end of the checked frame */
    uint32_t left;   /* values still to read, nested arrays' elements included once opened */
    char err[160];   /* why the last read failed */
} gp_in;

/* p: the first value after an array header of `count` values; end: the end of the frame. */
void gp_in_init(gp_in *in, const char *p, const char *end, uint32_t count);
/* Opens the array at p (a frame checked whole up to end): in then reads its elements. */
int gp_in_open(gp_in *in, const char *p, const char *end);

int gp_in_u64_any(gp_in *in, uint64_t *out);
/* A u64 that must fit 32 bits. */
int gp_in_u32_any(gp_in *in, uint32_t *out);

/*
 * Most of a call's fields (handles, dimensions, sizes) are small unsigned integers: read inline, as
 * a call decodes several per frame; any other form (and every error) takes the general read. The
 * frame was checked whole, so a value that starts before `end` ends there too.
 */
static inline int gp_in_uint_fast(gp_in *in, uint64_t *out)
{
    if (in->left == 0 || in->p >= in->end)
        return -1;
    const unsigned char *b = (const unsigned char *)in->p;
    uint64_t v;
    int n;
    switch (b[0]) {
    case 0xcc: v = b[1], n = 2; break;
    case 0xcd: v = (uint64_t)b[1] << 8 | b[2], n = 3; break;
    case 0xce: v = (uint64_t)b[1] << 24 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 8 | b[4], n = 5; break;
    default:
        if (b[0] >= 0x80)
            return -1;
        v = b[0], n = 1;
    }
    in->p += n;
    in->left--;
    *out = v;
    return 0;
}

static inline int gp_in_u64(gp_in *in, uint64_t *out)
{
    return gp_in_uint_fast(in, out) == 0 ? 0 : gp_in_u64_any(in, out);
}

static inline int gp_in_u32(gp_in *in, uint32_t *out)
{
    uint64_t v;
    if (gp_in_uint_fast(in, &v) == 0) {
        *out = (uint32_t)v; /* at most four bytes: always fits */
        return 0;
    }
    return gp_in_u32_any(in, out);
}
int gp_in_i64(gp_in *in, int64_t *out);
/* float, double, or an integer (msgpack writers shorten integral floats). */
int gp_in_f64(gp_in *in, double *out);
int gp_in_bool(gp_in *in, int *out);
/* A bin, pointing into the frame. */
int gp_in_bin(gp_in *in, const void **data, uint32_t *len);
/* A str, pointing into the frame (not NUL-terminated); one holding a NUL byte is refused. */
int gp_in_str(gp_in *in, const char **data, uint32_t *len);
/* A nested array's header: its elements become values still to read, in place. */
int gp_in_array(gp_in *in, uint32_t *count);
/* -1 when values are left: the reader took fewer than the frame holds. */
int gp_in_finish(gp_in *in);
/* Steps over whatever is left (a call that is not run). */
int gp_in_skip_rest(gp_in *in);
/* Sets err (printf-style) and returns -1: for the bounds a codec checks after reading. */
int gp_in_fail(gp_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
