/*
 * MD2 as RFC 1319 section 3 describes it: pad to a multiple of 16 bytes, append a 16-byte checksum,
 * then run every block through an 18-round permutation of a 48-byte state. Written from the RFC's
 * prose; the RFC's own test suite is checked by test/md2_test.c.
 */
#include "md2.h"

#include <string.h>

/*
 * The RFC's 256-byte permutation "constructed from the digits of pi". test/gen_md2_sbox.py derives it
 * again from pi (a digit-driven shuffle), so the numbers below are checkable rather than transcribed.
 */
static const uint8_t PI_SUBST[256] = {
     41,  46,  67, 201, 162, 216, 124,   1,  61,  54,  84, 161, 236, 240,   6,  19,
     98, 167,   5, 243, 192, 199, 115, 140, 152, 147,  43, 217, 188,  76, 130, 202,
     30, 155,  87,  60, 253, 212, 224,  22, 103,  66, 111,  24, 138,  23, 229,  18,
    190,  78, 196, 214, 218, 158, 222,  73, 160, 251, 245, 142, 187,  47, 238, 122,
    169, 104, 121, 145,  21, 178,   7,  63, 148, 194,  16, 137,  11,  34,  95,  33,
    128, 127,  93, 154,  90, 144,  50,  39,  53,  62, 204, 231, 191, 247, 151,   3,
    255,  25,  48, 179,  72, 165, 181, 209, 215,  94, 146,  42, 172,  86, 170, 198,
     79, 184,  56, 210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116,   4, 241,
     69, 157, 112,  89, 100, 113, 135,  32, 134,  91, 207, 101, 230,  45, 168,   2,
     27,  96,  37, 173, 174, 176, 185, 246,  28,  70,  97, 105,  52,  64, 126,  15,
     85,  71, 163,  35, 221,  81, 175,  58, 195,  92, 249, 206, 186, 197, 234,  38,
     44,  83,  13, 110, 133,  40, 132,   9, 211, 223, 205, 244,  65, 129,  77,  82,
    106, 220,  55, 200, 108, 193, 171, 250,  36, 225, 123,   8,  12, 189, 177,  74,
    120, 136, 149, 139, 227,  99, 232, 109, 233, 203, 213, 254,  59,   0,  29,  57,
    242, 239, 183,  14, 102,  88, 208, 228, 166, 119, 114, 248, 235, 117,  75,  10,
     49,  68,  80, 180, 143, 237,  31,  26, 219, 153, 141,  51, 159,  17, 131,  20,
};

#define MD2_ROUNDS 18

/*
 * RFC step 3.2, one block. The RFC's L carries over between blocks and always equals the last
 * checksum byte written, so it is read back from checksum[15] instead of being stored. (The RFC's
 * text says "set C[j] to S[c xor L]"; its errata and reference code XOR into C[j], as done here.)
 */
static void update_checksum(uint8_t checksum[GP_MD2_BLOCK_SIZE], const uint8_t *block)
{
    uint8_t l = checksum[GP_MD2_BLOCK_SIZE - 1];
    for (int j = 0; j < GP_MD2_BLOCK_SIZE; j++) {
        checksum[j] ^= PI_SUBST[block[j] ^ l];
        l = checksum[j];
    }
}

/* RFC step 3.4, one block: X = state | block | state XOR block, then 18 substitution passes. */
static void compress(uint8_t state[48], const uint8_t *block)
{
    for (int j = 0; j < GP_MD2_BLOCK_SIZE; j++) {
        state[16 + j] = block[j];
        state[32 + j] = (uint8_t)(state[j] ^ block[j]);
    }
    uint8_t t = 0;
    for (int round = 0; round < MD2_ROUNDS; round++) {
        for (int k = 0; k < 48; k++) {
            state[k] ^= PI_SUBST[t];
            t = state[k];
        }
        t = (uint8_t)(t + round);
    }
}

static void process_block(gp_md2 *md, const uint8_t *block)
{
    update_checksum(md->checksum, block);
    compress(md->state, block);
}

void gp_md2_init(gp_md2 *md)
{
    memset(md, 0, sizeof *md);
}

void gp_md2_update(gp_md2 *md, const void *data, size_t len)
{
    const uint8_t *in = data;
    while (len > 0) {
        size_t take = GP_MD2_BLOCK_SIZE - md->pending_len;
        if (take > len)
            take = len;
        memcpy(md->pending + md->pending_len, in, take);
        md->pending_len += take;
        in += take;
        len -= take;
        if (md->pending_len == GP_MD2_BLOCK_SIZE) {
            process_block(md, md->pending);
            md->pending_len = 0;
        }
    }
}

void gp_md2_final(gp_md2 *md, uint8_t digest[GP_MD2_DIGEST_SIZE])
{
    /* RFC step 3.1: always 1..16 bytes, each holding the pad's length. */
    uint8_t pad = (uint8_t)(GP_MD2_BLOCK_SIZE - md->pending_len);
    memset(md->pending + md->pending_len, pad, pad);
    process_block(md, md->pending);
    /* The checksum is the last block; it is compressed but does not feed the checksum. */
    uint8_t checksum[GP_MD2_BLOCK_SIZE];
    memcpy(checksum, md->checksum, sizeof checksum);
    compress(md->state, checksum);
    memcpy(digest, md->state, GP_MD2_DIGEST_SIZE);
}

void gp_md2_digest(const void *data, size_t len, uint8_t digest[GP_MD2_DIGEST_SIZE])
{
    gp_md2 md;
    gp_md2_init(&md);
    gp_md2_update(&md, data, len);
    gp_md2_final(&md, digest);
}

#define HMAC_IPAD 0x36
#define HMAC_OPAD 0x5c

void gp_hmac_md2_init(gp_hmac_md2 *h, const void *key, size_t key_len)
{
    /* RFC 2104: a key longer than a block is hashed first; a shorter one is padded with zeros. */
    uint8_t block_key[GP_MD2_BLOCK_SIZE] = {0};
    if (key_len > GP_MD2_BLOCK_SIZE)
        gp_md2_digest(key, key_len, block_key);
    else
        memcpy(block_key, key, key_len);

    uint8_t inner_key[GP_MD2_BLOCK_SIZE];
    for (int i = 0; i < GP_MD2_BLOCK_SIZE; i++) {
        inner_key[i] = block_key[i] ^ HMAC_IPAD;
        h->outer_key[i] = block_key[i] ^ HMAC_OPAD;
    }
    gp_md2_init(&h->inner);
    gp_md2_update(&h->inner, inner_key, sizeof inner_key);
}

void gp_hmac_md2_update(gp_hmac_md2 *h, const void *data, size_t len)
{
    gp_md2_update(&h->inner, data, len);
}

void gp_hmac_md2_final(gp_hmac_md2 *h, uint8_t mac[GP_MD2_DIGEST_SIZE])
{
    uint8_t inner_digest[GP_MD2_DIGEST_SIZE];
    gp_md2_final(&h->inner, inner_digest);

    gp_md2 outer;
    gp_md2_init(&outer);
    gp_md2_update(&outer, h->outer_key, sizeof h->outer_key);
    gp_md2_update(&outer, inner_digest, sizeof inner_digest);
    gp_md2_final(&outer, mac);
}
