/*
 * MD2 against RFC 1319's test suite (appendix A.5), fed whole and byte by byte so that block
 * boundaries are crossed; HMAC-MD2 against its definition built from the plain digest.
 */
#include "../md2.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *message;
    const char *digest;
} RFC1319_SUITE[] = {
    {"", "8350e5a3e24c153df2275c9f80692773"},
    {"a", "32ec01ec4a6dac72c0ab96fb34c0b5d1"},
    {"abc", "da853b0d3f88d99b30283a69e6ded6bb"},
    {"message digest", "ab4f496bfb2a530b219ff33031fe06b0"},
    {"abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "da33def2a42df13975352846c30338cd"},
    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "d5976f79d83d3a0dc9806c3c66f3efd8"},
};

static int failures;

static void hex(const uint8_t *bytes, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void expect_digest(const char *what, const uint8_t *got, const char *want)
{
    char text[2 * GP_MD2_DIGEST_SIZE + 1];
    hex(got, GP_MD2_DIGEST_SIZE, text);
    if (strcmp(text, want) != 0) {
        printf("FAIL %s: %s, want %s\n", what, text, want);
        failures++;
    }
}

static void check_rfc_suite(void)
{
    for (size_t i = 0; i < sizeof RFC1319_SUITE / sizeof RFC1319_SUITE[0]; i++) {
        const char *m = RFC1319_SUITE[i].message;
        uint8_t d[GP_MD2_DIGEST_SIZE];
        gp_md2_digest(m, strlen(m), d);
        expect_digest(m, d, RFC1319_SUITE[i].digest);

        gp_md2 md;
        gp_md2_init(&md);
        for (const char *p = m; *p; p++)
            gp_md2_update(&md, p, 1);
        gp_md2_final(&md, d);
        expect_digest("byte by byte", d, RFC1319_SUITE[i].digest);
    }
}

/* HMAC(K, m) = MD2((K' ^ opad) | MD2((K' ^ ipad) | m)), K' = K zero-padded, or MD2(K) if longer. */
static void reference_hmac(const uint8_t *key, size_t key_len, const char *msg, uint8_t out[16])
{
    uint8_t k[16] = {0}, buf[16 + 256];
    if (key_len > 16)
        gp_md2_digest(key, key_len, k);
    else
        memcpy(k, key, key_len);
    size_t n = strlen(msg);
    for (int i = 0; i < 16; i++)
        buf[i] = k[i] ^ 0x36;
    memcpy(buf + 16, msg, n);
    uint8_t inner[16];
    gp_md2_digest(buf, 16 + n, inner);
    for (int i = 0; i < 16; i++)
        buf[i] = k[i] ^ 0x5c;
    memcpy(buf + 16, inner, 16);
    gp_md2_digest(buf, 32, out);
}

static void check_hmac(const uint8_t *key, size_t key_len, const char *msg)
{
    uint8_t want[16], got[16];
    reference_hmac(key, key_len, msg, want);

    gp_hmac_md2 h;
    gp_hmac_md2_init(&h, key, key_len);
    size_t n = strlen(msg), half = n / 2; /* in two parts, as the integrity check feeds it */
    gp_hmac_md2_update(&h, msg, half);
    gp_hmac_md2_update(&h, msg + half, n - half);
    gp_hmac_md2_final(&h, got);
    if (memcmp(want, got, 16) != 0) {
        printf("FAIL hmac key_len=%zu msg=%s\n", key_len, msg);
        failures++;
    }
}

int main(void)
{
    check_rfc_suite();

    static const uint8_t integrity_key[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                              0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};
    static const uint8_t long_key[40] = {1, 2, 3};
    check_hmac(integrity_key, sizeof integrity_key, "what do ya want for nothing?");
    check_hmac((const uint8_t *)"Jefe", 4, "");
    check_hmac(long_key, sizeof long_key, "a key longer than one MD2 block is hashed first");

    printf("md2: %s\n", failures ? "FAILED" : "ok (RFC 1319 suite, HMAC)");
    return failures != 0;
}
