#include "decode.h"

#include <stdio.h>
#include <string.h>

#include <msgpuck.h>

#include "gp_frames.h"
#include "mp_check.h"

/*
 * Every function here first proves the bytes it walks hold whole msgpack values (gp_mp_check), then
 * steps from value to value with mp_next: a value of an unexpected type is skipped whole, never half
 * read, so no later read can start outside what was checked.
 */

int gp_decode_reply(const char **pos, const char *end, gp_reply *out)
{
    const char *frame_end = *pos;
    gp_in in;
    gp_frame_reply head;
    if (gp_mp_check(&frame_end, end) != 0 || gp_in_open(&in, *pos, frame_end) != 0 || gp_frame_reply_decode(&in, &head) != 0)
        return -1;
    out->seq = head.seq;
    out->rc = (CUresult)head.result;
    out->outs = in.p;
    out->outs_len = (size_t)(frame_end - in.p);
    out->n_outs = in.left;
    *pos = frame_end;
    return 0;
}

int gp_reply_copy_bin(const gp_reply *r, void *dst, size_t cap)
{
    const char *q = r->outs;
    if (r->n_outs != 1 || r->outs_len == 0 || mp_typeof(*q) != MP_BIN)
        return -1;
    uint32_t len;
    const char *data = mp_decode_bin(&q, &len);
    if (len > 0)
        memcpy(dst, data, len < cap ? len : cap);
    return 0;
}

static int next_is(const gp_reader *r, enum mp_type t)
{
    return r->pos != NULL && r->pos < r->end && mp_typeof(*r->pos) == t;
}

/* A value of another type than the reader wanted: stepped over whole. */
static void skip_value(gp_reader *r)
{
    if (r->pos != NULL && r->pos < r->end)
        mp_next(&r->pos);
}

int64_t gp_read_int(gp_reader *r)
{
    if (next_is(r, MP_UINT))
        return (int64_t)mp_decode_uint(&r->pos);
    if (next_is(r, MP_INT))
        return mp_decode_int(&r->pos);
    skip_value(r);
    return 0;
}

uint64_t gp_read_uint(gp_reader *r)
{
    return next_is(r, MP_UINT) ? mp_decode_uint(&r->pos) : (uint64_t)gp_read_int(r);
}

double gp_read_float(gp_reader *r)
{
    if (next_is(r, MP_DOUBLE))
        return mp_decode_double(&r->pos);
    if (next_is(r, MP_FLOAT))
        return mp_decode_float(&r->pos);
    return (double)gp_read_int(r);
}

void gp_read_bin(gp_reader *r, void *dst, size_t n)
{
    if (!next_is(r, MP_BIN)) {
        skip_value(r);
        return;
    }
    uint32_t len;
    const char *data = mp_decode_bin(&r->pos, &len);
    if (dst != NULL && len > 0)
        memcpy(dst, data, len < n ? len : n);
}

void gp_read_str(gp_reader *r, char *dst, size_t n)
{
    if (!next_is(r, MP_STR) || n == 0) {
        skip_value(r);
        return;
    }
    uint32_t len;
    const char *data = mp_decode_str(&r->pos, &len);
    size_t k = len < n - 1 ? len : n - 1;
    memcpy(dst, data, k);
    dst[k] = '\0';
}

/* ---- WELCOME -------------------------------------------------------------------------------------- */

/* Whether the value at p is the string `key`. */
static int is_key(const char *p, const char *key)
{
    if (mp_typeof(*p) != MP_STR)
        return 0;
    uint32_t len;
    const char *s = mp_decode_str(&p, &len);
    return len == strlen(key) && memcmp(s, key, len) == 0;
}

/* A number as an integer (an encoder may send a large whole number as a float); 0 for anything else. */
static int64_t value_int(const char *p)
{
    switch (mp_typeof(*p)) {
    case MP_UINT:
        return (int64_t)mp_decode_uint(&p);
    case MP_INT:
        return mp_decode_int(&p);
    case MP_DOUBLE: {
        double d = mp_decode_double(&p);
        return d >= -9.2e18 && d <= 9.2e18 ? (int64_t)d : 0;
    }
    case MP_FLOAT: {
        float f = mp_decode_float(&p);
        return f >= -9.2e18f && f <= 9.2e18f ? (int64_t)f : 0;
    }
    default:
        return 0;
    }
}

/* Steps over one key and its value of a map, giving where each starts. */
static void next_field(const char **p, const char **key, const char **value)
{
    *key = *p;
    mp_next(p);
    *value = *p;
    mp_next(p);
}

/* `attributes`: an array of [attribute, value] pairs; anything else in it is skipped. */
static void read_attributes(const char *p, gp_device *d)
{
    if (mp_typeof(*p) != MP_ARRAY)
        return;
    uint32_t n = mp_decode_array(&p);
    for (uint32_t k = 0; k < n; k++) {
        const char *pair = p;
        mp_next(&p);
        if (mp_typeof(*pair) != MP_ARRAY || mp_decode_array(&pair) < 2)
            continue;
        int64_t attr = value_int(pair);
        mp_next(&pair);
        int64_t value = value_int(pair);
        if (attr >= 0 && attr < GP_MAX_ATTRIBUTES) {
            d->attributes[attr] = (int)value;
            d->attribute_known[attr] = 1;
        }
    }
}

static void read_device(const char *p, gp_device *d)
{
    if (mp_typeof(*p) != MP_MAP)
        return;
    uint32_t fields = mp_decode_map(&p);
    for (uint32_t i = 0; i < fields; i++) {
        const char *key, *value;
        next_field(&p, &key, &value); /* fields a newer daemon adds are skipped */
        if (is_key(key, "name") && mp_typeof(*value) == MP_STR) {
            uint32_t len;
            const char *s = mp_decode_str(&value, &len);
            snprintf(d->name, sizeof d->name, "%.*s", (int)(len < sizeof d->name ? len : sizeof d->name - 1), s);
        } else if (is_key(key, "uuid") && mp_typeof(*value) == MP_BIN) {
            uint32_t len;
            const char *s = mp_decode_bin(&value, &len);
            memcpy(d->uuid, s, len < 16 ? len : 16);
        } else if (is_key(key, "pciDomain")) {
            d->pci_domain = (int)value_int(value);
        } else if (is_key(key, "pciBus")) {
            d->pci_bus = (int)value_int(value);
        } else if (is_key(key, "pciDevice")) {
            d->pci_device = (int)value_int(value);
        } else if (is_key(key, "totalMem")) {
            d->total_mem = (size_t)value_int(value);
        } else if (is_key(key, "ordinal")) {
            d->remote_ordinal = (int)value_int(value);
        } else if (is_key(key, "attributes")) {
            read_attributes(value, d);
        }
    }
}

int gp_decode_welcome(const uint8_t *msg, size_t len, int server, uint64_t *session, gp_device *devices, int max, int *count)
{
    const char *p = (const char *)msg, *end = p + len, *check = p;
    if (gp_mp_check(&check, end) != 0 || mp_typeof(*p) != MP_MAP)
        return -1;
    uint32_t fields = mp_decode_map(&p);
    for (uint32_t i = 0; i < fields; i++) {
        const char *key, *value;
        next_field(&p, &key, &value);
        if (is_key(key, "session")) {
            *session = (uint64_t)value_int(value);
        } else if (is_key(key, "devices") && mp_typeof(*value) == MP_ARRAY) {
            uint32_t n = mp_decode_array(&value);
            for (uint32_t k = 0; k < n; k++) {
                const char *one = value;
                mp_next(&value);
                if (*count >= max)
                    continue;
                gp_device *d = &devices[(*count)++];
                memset(d, 0, sizeof *d);
                d->remote_ordinal = (int)k;
                read_device(one, d);
                d->server = server;
            }
        }
    }
    return 0;
}

/* ---- handshake notices ---------------------------------------------------------------------------- */

/* A str value copied into dst (cut to n - 1 bytes, NUL-terminated); anything else leaves dst as it was. */
static void value_str(const char *p, char *dst, size_t n)
{
    if (mp_typeof(*p) != MP_STR)
        return;
    uint32_t len;
    const char *s = mp_decode_str(&p, &len);
    snprintf(dst, n, "%.*s", (int)(len < n ? len : n - 1), s);
}

int gp_decode_notice(const uint8_t *msg, size_t len, gp_notice *out)
{
    const char *p = (const char *)msg, *end = p + len, *check = p;
    if (gp_mp_check(&check, end) != 0 || mp_typeof(*p) != MP_MAP)
        return -1;
    memset(out, 0, sizeof *out);
    uint32_t fields = mp_decode_map(&p);
    for (uint32_t i = 0; i < fields; i++) {
        const char *key, *value;
        next_field(&p, &key, &value);
        if (is_key(key, "notice"))
            value_str(value, out->kind, sizeof out->kind);
        else if (is_key(key, "reason"))
            value_str(value, out->reason, sizeof out->reason);
        else if (is_key(key, "waited"))
            out->waited_s = (uint64_t)value_int(value);
        else if (is_key(key, "wait"))
            out->wait_s = (uint64_t)value_int(value);
        else if (is_key(key, "code"))
            out->code = (unsigned)value_int(value);
    }
    return out->kind[0] != '\0';
}
