/* A blocking WebSocket client connection (RFC 6455): wslay does the framing, this file the rest. */
#ifndef GPUPOOL_SHIM_WS_H
#define GPUPOOL_SHIM_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct gp_ws gp_ws;

/*
 * Connects to ws://host:port/path (wss:// when tls: see tls.h) and completes the opening handshake;
 * NULL with *why set on failure.
 */
gp_ws *gp_ws_connect(const char *host, const char *port, const char *path, int tls, int timeout_ms, char *why, size_t why_len);

/*
 * A TCP connection to host:port (the daemon's address: HTTP requests use it too), or a Unix-socket
 * one when host is a path (unix://, port empty); the fd, or -1 with *why.
 */
int gp_dial(const char *host, const char *port, int timeout_ms, char *why, size_t why_len);

/* What an HTTP request's Host header says for host and port ("localhost" for a Unix socket). */
const char *gp_host_header(const char *host, const char *port, char *buf, size_t cap);

/*
 * Sends one binary message made of these pieces (fragmented as WebSocket allows), masking them in
 * place: the pieces' bytes are not the caller's afterwards. 0, or -1 on error.
 */
int gp_ws_send(gp_ws *ws, const struct iovec *parts, int count);
/*
 * Sends a ping whose bytes carry fd (SCM_RIGHTS; a Unix socket's connection only): how shared memory
 * reaches the daemon (native/shim/shm.c). 0, or -1.
 */
int gp_ws_send_fd(gp_ws *ws, int fd);
/*
 * Client frames are masked (RFC 6455, section 5.3). A caller that moves its bytes anyway masks them
 * on the way (gp_ws_mask_copy: dst[i] = src[i] ^ mask[(offset + i) % 4], a word at a time, dst may be
 * src) and sends them as they are: one pass over a copy's bytes rather than two.
 */
int gp_ws_new_mask(uint8_t mask[4]);
void gp_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], size_t offset);
/* Sends one binary message of these pieces (at most 8) as they are, with a zero masking key (why: ws.c). 0, or -1. */
int gp_ws_send_unmasked(gp_ws *ws, const struct iovec *parts, int count);
/* Sends one binary message of len bytes already masked with mask. 0, or -1 on error. */
int gp_ws_send_masked(gp_ws *ws, const uint8_t *data, size_t len, const uint8_t mask[4]);
/* Sends a ping; used by the sender thread to keep an idle connection checked. */
int gp_ws_ping(gp_ws *ws);

/*
 * Receives the next data message into *buf (grown as needed; the caller owns it) and sets *len.
 * Answers pings and skips pongs on the way. 0 on success, -1 when the connection is gone or has
 * been silent for longer than silence_ms (0: wait for ever).
 */
int gp_ws_recv(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, int silence_ms);

/* A message of a single frame of at least this many bytes may be placed (gp_ws_recv_placed). */
#define GP_WS_PLACE_MIN ((uint64_t)256 << 10)
/*
 * Given the first `got` bytes of such a message of `total` bytes (in head), says where its remaining
 * total - got bytes go, having set *len to the bytes of head to deliver as a message; or NULL: the
 * message is read whole into the buffer as gp_ws_recv does.
 */
typedef uint8_t *(*gp_ws_place)(void *user, uint8_t *head, size_t got, uint64_t total, size_t *len);
/* gp_ws_recv that asks `place` where a large message's bytes go. */
int gp_ws_recv_placed(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, int silence_ms, gp_ws_place place, void *user);

/* Starts the closing handshake with this status code (1000: normal). 0, or -1 on error. */
int gp_ws_close(gp_ws *ws, unsigned code);

/* The status code and reason of the Close the peer sent, or NULL. */
const char *gp_ws_close_reason(const gp_ws *ws);

/* Shuts the socket down so that blocked senders and receivers return; the memory stays valid. */
void gp_ws_shutdown(gp_ws *ws);
void gp_ws_free(gp_ws *ws);

#endif
