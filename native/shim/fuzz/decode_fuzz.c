/*
 * libFuzzer harness of the client library's decoder (native/shim/decode.c): what a daemon sends,
 * WELCOME and reply frames, decoded exactly as the receiver and the generated stubs decode them.
 * Built with clang's -fsanitize=fuzzer,address,undefined by `make -C native fuzz`; run by
 * test/compute/decode-fuzz.test.ts (briefly) and bench/fuzz.js (longer). The first input byte picks
 * what the rest is and how it is read, so one corpus covers both messages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t how = data[0];
    if (how & 1)
        welcome(data + 1, size - 1);
    else
        replies(how >> 1, data + 1, size - 1);
    return 0;
}
