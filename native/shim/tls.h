/*
 * TLS for a daemon connection (wss://), with OpenSSL over the socket ws.c dialled. The daemon's
 * certificate is verified against GPUPOOL_TLS_CA (a PEM file) or the system's CA store, for the host
 * the URL names (a DNS name or an IP address); GPUPOOL_TLS_CERT and GPUPOOL_TLS_KEY give a client
 * certificate to daemons that ask for one (docs/security.md).
 *
 * One connection is used by two threads at once, the sender writing and the receiver reading, and
 * an SSL object must not be: every SSL call holds the connection's lock, on a non-blocking socket,
 * and waits for the socket (poll) with the lock released. So neither thread ever waits on the other.
 */
#ifndef GPUPOOL_SHIM_TLS_H
#define GPUPOOL_SHIM_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct gp_tls gp_tls;

/* Reads the environment's CA and client certificate once per process. 0, or -1 with *why (naming the variable and file). */
int gp_tls_ready(char *why, size_t why_len);

/*
 * Makes the connected socket fd non-blocking and completes the TLS handshake with host:port within
 * timeout_ms. NULL with *why set ("host:port: TLS: ...") on failure; the caller still owns fd.
 */
gp_tls *gp_tls_connect(int fd, const char *host, const char *port, int timeout_ms, char *why, size_t why_len);

/* Writes all n bytes; a socket that takes nothing for the connect timeout fails it. 0, or -1. */
int gp_tls_write(gp_tls *t, const uint8_t *p, size_t n);

/* Reads what is there, up to cap bytes, waiting up to timeout_ms for it (-1: for ever). >0, or -1. */
ssize_t gp_tls_read(gp_tls *t, uint8_t *buf, size_t cap, int timeout_ms);

/* Why the connection failed, in words ("the daemon requires a client certificate ..."), or NULL. */
const char *gp_tls_error(const gp_tls *t);

/* Sends close_notify if the connection is still sound; the caller then shuts the socket down. */
void gp_tls_shutdown(gp_tls *t);
/* Frees the TLS state; the socket stays the caller's to close. */
void gp_tls_free(gp_tls *t);

#endif
