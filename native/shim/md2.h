/*
 * MD2 (RFC 1319) and HMAC-MD2, for the integrity check that the CUDA runtime asks of the driver
 * (export_tables.c). MD2 is long broken as a hash; here it only has to agree with cudart.
 */
#ifndef GPUPOOL_MD2_H
#define GPUPOOL_MD2_H

#include <stddef.h>
#include <stdint.h>

#define GP_MD2_BLOCK_SIZE 16
#define GP_MD2_DIGEST_SIZE 16

typedef struct gp_md2 {
    uint8_t state[48];                 /* the RFC's X buffer; the digest is its first 16 bytes */
    uint8_t checksum[GP_MD2_BLOCK_SIZE];
    uint8_t pending[GP_MD2_BLOCK_SIZE]; /* input not yet forming a whole block */
    size_t pending_len;
} gp_md2;

void gp_md2_init(gp_md2 *md);
void gp_md2_update(gp_md2 *md, const void *data, size_t len);
/* Pads, appends the checksum and writes the digest; md must be re-initialised before reuse. */
void gp_md2_final(gp_md2 *md, uint8_t digest[GP_MD2_DIGEST_SIZE]);
void gp_md2_digest(const void *data, size_t len, uint8_t digest[GP_MD2_DIGEST_SIZE]);

/* HMAC (RFC 2104) over MD2: B = 16-byte blocks, inner pad 0x36, outer pad 0x5c. */
typedef struct gp_hmac_md2 {
    gp_md2 inner;
    uint8_t outer_key[GP_MD2_BLOCK_SIZE]; /* key XOR opad, kept for the final step */
} gp_hmac_md2;

void gp_hmac_md2_init(gp_hmac_md2 *h, const void *key, size_t key_len);
void gp_hmac_md2_update(gp_hmac_md2 *h, const void *data, size_t len);
void gp_hmac_md2_final(gp_hmac_md2 *h, uint8_t mac[GP_MD2_DIGEST_SIZE]);

#endif
