/*
 * libFuzzer harness of the client library's decoder (native/shim/decode.c): what a daemon sends,
 * WELCOME and reply frames, decoded exactly as the receiver and the generated stubs decode them; and
 * of the frame codec both ends link (build/gen/gp_frames.c, from src/protocol/frames.ts): call
 * frames as the daemon reads them, each decoded frame encoded again and read back the same.
 * Built with clang's -fsanitize=fuzzer,address,undefined by `make -C native fuzz`; run by
 * test/compute/decode-fuzz.test.ts (briefly) and bench/fuzz.js (longer). The first input byte picks
 * what the rest is and how it is read (odd: WELCOME; low bits 00: replies; 10: call frames), so one
 * corpus covers them all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "gp_frames.h"
#include "mp_check.h"

/* Few slots, so that a WELCOME with more devices takes the path that drops them. */
#define DEVICES 4

static void welcome(const uint8_t *data, size_t size)
{
    gp_device devices[DEVICES];
    int count = 0;
    uint64_t session = 0;
    if (gp_decode_welcome(data, size, 1, &session, devices, DEVICES, &count) == 0 && (count < 0 || count > DEVICES))
        abort();
    /* The same first message may be a handshake notice: its strings always end inside their buffers. */
    gp_notice notice;
    if (gp_decode_notice(data, size, &notice) == 1 && (memchr(notice.kind, 0, sizeof notice.kind) == NULL || memchr(notice.reason, 0, sizeof notice.reason) == NULL))
        abort();
}

/* Every reply of a message, its outs read with the getters a stub would use, in an order the input picks. */
static void replies(uint8_t how, const uint8_t *data, size_t size)
{
    const char *pos = (const char *)data, *end = pos + size;
    unsigned char out[64];
    char text[32];
    while (pos < end) {
        gp_reply r;
        if (gp_decode_reply(&pos, end, &r) != 0)
            return;
        if (r.outs < (const char *)data || r.outs + r.outs_len > end)
            abort();
        (void)gp_reply_copy_bin(&r, out, (size_t)(how >> 2) % (sizeof out + 1));
        gp_reader rd = { r.outs, r.outs + r.outs_len };
        for (uint32_t i = 0; i <= r.n_outs; i++) {
            switch ((how + i) % 5) {
            case 0: (void)gp_read_int(&rd); break;
            case 1: (void)gp_read_uint(&rd); break;
            case 2: (void)gp_read_float(&rd); break;
            case 3: gp_read_bin(&rd, (i & 1) ? out : NULL, sizeof out); break;
            default: gp_read_str(&rd, text, (size_t)(how % sizeof text)); break;
            }
            if (rd.pos > rd.end)
                abort();
        }
    }
}

/*
 * One argument frame: decoded as the daemon decodes it; what decodes is encoded into a buffer of the
 * size its bound promises, and that encoding must decode to the same bytes again (the encoder and
 * the decoder agree, and the bound holds).
 */
#define ROUNDTRIP(name)                                                                                  \
    static void roundtrip_##name(gp_in *in)                                                              \
    {                                                                                                    \
        gp_frame_##name f;                                                                               \
        if (gp_frame_##name##_decode(in, &f) != 0) {                                                     \
            if (memchr(in->err, 0, sizeof in->err) == NULL || in->err[0] == '\0')                       \
                abort(); /* a failure always says why */                                                 \
            return;                                                                                      \
        }                                                                                                \
        size_t bound = gp_frame_##name##_bound(&f);                                                      \
        char *buf = malloc(bound), *again = malloc(bound);                                               \
        char *end = gp_frame_##name##_encode(buf, &f);                                                   \
        if ((size_t)(end - buf) > bound)                                                                 \
            abort();                                                                                     \
        gp_in back;                                                                                      \
        gp_in_init(&back, buf, end, gp_frame_##name##_values(&f));                                       \
        gp_frame_##name g;                                                                               \
        if (gp_frame_##name##_decode(&back, &g) != 0 || back.left != 0 || back.p != end)                 \
            abort();                                                                                     \
        char *end2 = gp_frame_##name##_encode(again, &g);                                                \
        if (end2 - again != end - buf || memcmp(buf, again, (size_t)(end - buf)) != 0)                   \
            abort();                                                                                     \
        free(buf);                                                                                       \
        free(again);                                                                                     \
    }
GP_ARGUMENT_FRAMES(ROUNDTRIP)

#define ENTRY(name) roundtrip_##name,
static void (*const roundtrips[])(gp_in *) = { GP_ARGUMENT_FRAMES(ENTRY) };

/* Call frames [op, seq, ctx, args...], each head read by the codec, its arguments as the frame `how` picks. */
static void calls(uint8_t how, const uint8_t *data, size_t size)
{
    const char *pos = (const char *)data, *end = pos + size;
    unsigned which = how % (unsigned)(sizeof roundtrips / sizeof roundtrips[0]);
    while (pos < end) {
        const char *frame_end = pos;
        if (gp_mp_check(&frame_end, end) != 0)
            return;
        gp_in in;
        gp_frame_call head;
        if (gp_in_open(&in, pos, frame_end) != 0 || gp_frame_call_decode(&in, &head) != 0)
            return;
        if (in.p < pos || in.p > frame_end)
            abort();
        roundtrips[which](&in);
        if (in.p > frame_end)
            abort();
        (void)gp_in_finish(&in);
        pos = frame_end;
        which = (which + 1) % (unsigned)(sizeof roundtrips / sizeof roundtrips[0]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t how = data[0];
    if (how & 1)
        welcome(data + 1, size - 1);
    else if (how & 2)
        calls(how >> 2, data + 1, size - 1);
    else
        replies(how >> 2, data + 1, size - 1);
    return 0;
}
