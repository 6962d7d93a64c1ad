#include "mp_check.h"

#include <stddef.h>
#include <stdint.h>

/* A big-endian length of `width` bytes at *p; 1 when the buffer is too short. */
static int load_length(const unsigned char **p, const unsigned char *end, int width, uint64_t *out)
{
    if ((size_t)(end - *p) < (size_t)width)
        return 1;
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = (v << 8) | (*p)[i];
    *p += width;
    *out = v;
    return 0;
}

/* Steps over n bytes of payload; 1 when fewer are left. */
static int skip(const unsigned char **p, const unsigned char *end, uint64_t n)
{
    if (n > (uint64_t)(end - *p))
        return 1;
    *p += n;
    return 0;
}

int gp_mp_check(const char **data, const char *end_)
{
    const unsigned char *p = (const unsigned char *)*data, *end = (const unsigned char *)end_;
    uint64_t pending = 1; /* values still expected */
    int rc = 0;
    while (pending > 0 && rc == 0) {
        if (p >= end) {
            rc = 1;
            break;
        }
        unsigned char c = *p++;
        pending--;
        uint64_t n = 0, more = 0; /* n: payload bytes to skip; more: values a container adds */
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool: the byte is the value */
        } else if (c <= 0x8f) {
            more = 2 * (uint64_t)(c & 0x0f);
        } else if (c <= 0x9f) {
            more = c & 0x0f;
        } else if (c <= 0xbf) {
            n = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: rc = load_length(&p, end, 1, &n); break;   /* bin8, str8 */
            case 0xc5: case 0xda: rc = load_length(&p, end, 2, &n); break;   /* bin16, str16 */
            case 0xc6: case 0xdb: rc = load_length(&p, end, 4, &n); break;   /* bin32, str32 */
            case 0xc7: rc = load_length(&p, end, 1, &n); n += 1; break;      /* ext8: length, type */
            case 0xc8: rc = load_length(&p, end, 2, &n); n += 1; break;      /* ext16 */
            case 0xc9: rc = load_length(&p, end, 4, &n); n += 1; break;      /* ext32 */
            case 0xca: n = 4; break;                                          /* float32 */
            case 0xcb: n = 8; break;                                          /* float64 */
            case 0xcc: case 0xd0: n = 1; break;                               /* uint8, int8 */
            case 0xcd: case 0xd1: n = 2; break;
            case 0xce: case 0xd2: n = 4; break;
            case 0xcf: case 0xd3: n = 8; break;
            case 0xd4: n = 2; break;                                          /* fixext 1, 2, 4, 8, 16 (+ type) */
            case 0xd5: n = 3; break;
            case 0xd6: n = 5; break;
            case 0xd7: n = 9; break;
            case 0xd8: n = 17; break;
            case 0xdc: rc = load_length(&p, end, 2, &more); break;            /* array16 */
            case 0xdd: rc = load_length(&p, end, 4, &more); break;            /* array32 */
            case 0xde: rc = load_length(&p, end, 2, &more); more *= 2; break; /* map16 */
            case 0xdf: rc = load_length(&p, end, 4, &more); more *= 2; break; /* map32 */
            default: rc = 1; /* 0xc1: never used */
            }
        }
        if (rc == 0)
            rc = skip(&p, end, n);
        /* Every value takes a byte at least: more values expected than bytes left cannot be true.
         * (This also keeps `pending` below the buffer's size: it cannot overflow.) */
        if (rc == 0 && pending + more > (uint64_t)(end - p))
            rc = 1;
        pending += more;
    }
    *data = (const char *)p;
    return rc;
}
