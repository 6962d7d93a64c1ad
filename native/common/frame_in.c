#include "frame_in.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <msgpuck.h>

static const char *type_name(enum mp_type t)
{
    switch (t) {
    case MP_NIL: return "nil";
    case MP_UINT: return "uint";
    case MP_INT: return "int";
    case MP_STR: return "str";
    case MP_BIN: return "bin";
    case MP_ARRAY: return "array";
    case MP_MAP: return "map";
    case MP_BOOL: return "bool";
    case MP_FLOAT: return "float";
    case MP_DOUBLE: return "double";
    case MP_EXT: return "ext";
    default: return "unknown";
    }
}

void gp_in_init(gp_in *in, const char *p, const char *end, uint32_t count)
{
    in->p = p;
    in->end = end;
    in->left = count;
    in->err[0] = '\0';
}

int gp_in_open(gp_in *in, const char *p, const char *end)
{
    gp_in_init(in, p, end, 0);
    if (p >= end || mp_typeof(*p) != MP_ARRAY)
        return gp_in_fail(in, "a frame must be an array");
    in->left = mp_decode_array(&in->p);
    return 0;
}

int gp_in_fail(gp_in *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->err, sizeof in->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* The type of the next value, which is taken as read; -1 when none is left. */
static int next_type(gp_in *in, const char *want)
{
    if (in->left == 0 || in->p >= in->end)
        return gp_in_fail(in, "missing argument (expected %s)", want);
    in->left--;
    return (int)mp_typeof(*in->p);
}

static int wrong_type(gp_in *in, const char *want, int got)
{
    return gp_in_fail(in, "expected %s, got %s", want, type_name((enum mp_type)got));
}

int gp_in_u64_any(gp_in *in, uint64_t *out)
{
    int t = next_type(in, "uint");
    if (t == MP_UINT) {
        *out = mp_decode_uint(&in->p);
        return 0;
    }
    if (t < 0)
        return -1;
    if (t != MP_INT)
        return wrong_type(in, "uint", t);
    /* A signed format holding a non-negative value is still that value (msgpackr writes BigInts so). */
    int64_t v = mp_decode_int(&in->p);
    if (v < 0)
        return gp_in_fail(in, "expected uint, got a negative int");
    *out = (uint64_t)v;
    return 0;
}

int gp_in_u32_any(gp_in *in, uint32_t *out)
{
    uint64_t v;
    if (gp_in_u64_any(in, &v) != 0)
        return -1;
    if (v > UINT32_MAX)
        return gp_in_fail(in, "integer out of range for 32 bits");
    *out = (uint32_t)v;
    return 0;
}

int gp_in_i64(gp_in *in, int64_t *out)
{
    int t = next_type(in, "int");
    if (t == MP_UINT) {
        uint64_t v = mp_decode_uint(&in->p);
        if (v > (uint64_t)INT64_MAX)
            return gp_in_fail(in, "integer out of range");
        *out = (int64_t)v;
        return 0;
    }
    if (t == MP_INT) {
        *out = mp_decode_int(&in->p);
        return 0;
    }
    return t < 0 ? -1 : wrong_type(in, "int", t);
}

int gp_in_f64(gp_in *in, double *out)
{
    int t = next_type(in, "float");
    switch (t) {
    case MP_FLOAT: *out = mp_decode_float(&in->p); return 0;
    case MP_DOUBLE: *out = mp_decode_double(&in->p); return 0;
    case MP_UINT: *out = (double)mp_decode_uint(&in->p); return 0;
    case MP_INT: *out = (double)mp_decode_int(&in->p); return 0;
    default: return t < 0 ? -1 : wrong_type(in, "float", t);
    }
}

int gp_in_bool(gp_in *in, int *out)
{
    int t = next_type(in, "bool");
    if (t != MP_BOOL)
        return t < 0 ? -1 : wrong_type(in, "bool", t);
    *out = mp_decode_bool(&in->p);
    return 0;
}

int gp_in_bin(gp_in *in, const void **data, uint32_t *len)
{
    int t = next_type(in, "bin");
    if (t != MP_BIN)
        return t < 0 ? -1 : wrong_type(in, "bin", t);
    *data = mp_decode_bin(&in->p, len);
    return 0;
}

int gp_in_str(gp_in *in, const char **data, uint32_t *len)
{
    int t = next_type(in, "str");
    if (t != MP_STR)
        return t < 0 ? -1 : wrong_type(in, "str", t);
    *data = mp_decode_str(&in->p, len);
    if (memchr(*data, '\0', *len) != NULL)
        return gp_in_fail(in, "string holds a NUL byte");
    return 0;
}

int gp_in_array(gp_in *in, uint32_t *count)
{
    int t = next_type(in, "array");
    if (t != MP_ARRAY)
        return t < 0 ? -1 : wrong_type(in, "array", t);
    *count = mp_decode_array(&in->p);
    /* gp_mp_check proved the frame holds all the elements, so the count cannot exceed what is there. */
    in->left += *count;
    return 0;
}

int gp_in_finish(gp_in *in)
{
    return in->left == 0 ? 0 : gp_in_fail(in, "%" PRIu32 " argument(s) too many", in->left);
}

int gp_in_skip_rest(gp_in *in)
{
    while (in->left > 0) {
        if (in->p >= in->end)
            return gp_in_fail(in, "a call frame is shorter than its count");
        mp_next(&in->p);
        in->left--;
    }
    return 0;
}
