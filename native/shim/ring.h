/*
 * The call ring with a daemon on this host (native/common/call_ring_layout.h; docs/protocol.md, "The
 * call ring"). Over the daemon's Unix socket the connection passes one more memfd right after the
 * handshake; once the daemon takes it, messages that fit a record go through its request ring and
 * replies come back through its reply ring: a call costs no syscall while both sides are awake. A
 * message too large for a record goes on the socket, after a record saying so, and keeps its place.
 * Anywhere else (TCP, TLS, a daemon that refuses, GPUPOOL_CALL_RING=0) conn->ring stays NULL and
 * every hook below is skipped by conn.c.
 */
#ifndef GPUPOOL_SHIM_RING_H
#define GPUPOOL_SHIM_RING_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

struct gp_conn;
struct gp_pending;
typedef struct gp_ring gp_ring;

/* After WELCOME, before the connection's threads: offers the ring; conn->ring set when taken. */
void gp_ring_open(struct gp_conn *conn);
/* Starts its reply reader (with the connection's threads). 0, or -1. */
int gp_ring_start(struct gp_conn *conn);
/* One message (the batch, unmasked) through the ring or, marked there, the socket. 0, or -1. */
int gp_ring_send(struct gp_conn *conn, const uint8_t *data, size_t len);
/* Whether fire-and-forget work of `batched` bytes goes to the ring now. When not, `first` (the batch's
 * first call) says so in the ring: the session rings the reply reader, which flushes, when it finds the ring empty. */
int gp_ring_flush_now(struct gp_conn *conn, size_t batched, int first);
/* The batch was taken to be sent (under batch_lock): nothing is held back any more. */
void gp_ring_batch_taken(struct gp_conn *conn);
/* Waits for a sync call's reply, reading the reply ring itself while it spins. */
CUresult gp_ring_wait(struct gp_conn *conn, struct gp_pending *pending);
/* The socket's receiver around each message: the ring's replies before it go first. */
void gp_ring_before_socket_message(struct gp_conn *conn);
void gp_ring_after_socket_message(struct gp_conn *conn);
/* Wakes whoever sleeps on the client's bell (callers waiting for replies, the reply reader). */
void gp_ring_poke(struct gp_conn *conn);
/* Closing: waits (briefly) for the daemon to take what the ring holds, stops the reader, unmaps. */
void gp_ring_drain(struct gp_conn *conn);
void gp_ring_stop(struct gp_conn *conn);

#endif
