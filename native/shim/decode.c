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

/* ---- WELCOME and notices: the generated decoders of src/protocol/frames.ts `handshake` ------------------ */

/* A str the map holds, cut to n - 1 bytes and NUL-terminated. */
static void copy_str(char *dst, size_t n, const char *s, uint32_t len)
{
    snprintf(dst, n, "%.*s", (int)(len < n ? len : n - 1), s);
}

static void read_device(const char *p, const char *end, gp_device *d)
{
    gp_map_device m;
    if (gp_map_device_decode(p, end, &m) != 0)
        return;
    if (m.has & GP_KEY_DEVICE_NAME)
        copy_str(d->name, sizeof d->name, m.name, m.name_len);
    if (m.has & GP_KEY_DEVICE_UUID)
        memcpy(d->uuid, m.uuid, m.uuid_len < sizeof d->uuid ? m.uuid_len : sizeof d->uuid);
    if (m.has & GP_KEY_DEVICE_PCIDOMAIN)
        d->pci_domain = (int)m.pciDomain;
    if (m.has & GP_KEY_DEVICE_PCIBUS)
        d->pci_bus = (int)m.pciBus;
    if (m.has & GP_KEY_DEVICE_PCIDEVICE)
        d->pci_device = (int)m.pciDevice;
    if (m.has & GP_KEY_DEVICE_TOTALMEM)
        d->total_mem = (size_t)m.totalMem;
    if (m.has & GP_KEY_DEVICE_ORDINAL)
        d->remote_ordinal = (int)m.ordinal;
    const char *pair = m.attributes;
    for (uint32_t k = 0; (m.has & GP_KEY_DEVICE_ATTRIBUTES) && k < m.attributes_count; k++) {
        int64_t attr, value;
        if (gp_map_pair_next(&pair, &attr, &value) && attr >= 0 && attr < GP_MAX_ATTRIBUTES) {
            d->attributes[attr] = (int)value;
            d->attribute_known[attr] = 1;
        }
    }
}

int gp_decode_welcome(const uint8_t *msg, size_t len, int server, uint64_t *session, gp_device *devices, int max, int *count)
{
    const char *end = (const char *)msg + len;
    gp_map_welcome w;
    if (gp_map_welcome_decode((const char *)msg, end, &w) != 0)
        return -1;
    if (w.has & GP_KEY_WELCOME_SESSION)
        *session = w.session;
    const char *item = w.devices;
    for (uint32_t k = 0; (w.has & GP_KEY_WELCOME_DEVICES) && k < w.devices_count; k++) {
        const char *one = gp_map_item(&item);
        if (*count >= max)
            continue;
        gp_device *d = &devices[(*count)++];
        memset(d, 0, sizeof *d);
        d->remote_ordinal = (int)k;
        read_device(one, end, d);
        d->server = server;
    }
    return 0;
}

int gp_decode_notice(const uint8_t *msg, size_t len, gp_notice *out)
{
    gp_map_notice m;
    if (gp_map_notice_decode((const char *)msg, (const char *)msg + len, &m) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    if (m.has & GP_KEY_NOTICE_NOTICE)
        copy_str(out->kind, sizeof out->kind, m.notice, m.notice_len);
    if (m.has & GP_KEY_NOTICE_REASON)
        copy_str(out->reason, sizeof out->reason, m.reason, m.reason_len);
    if (m.has & GP_KEY_NOTICE_WAITED)
        out->waited_s = m.waited;
    if (m.has & GP_KEY_NOTICE_WAIT)
        out->wait_s = m.wait;
    if (m.has & GP_KEY_NOTICE_CODE)
        out->code = (unsigned)m.code;
    return out->kind[0] != '\0';
}
