#define _GNU_SOURCE
#include "ws.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "tls.h"

#define RECV_BUFFER 65536
#define SEND_BUFFER 65536
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455, section 1.3 */

struct gp_ws {
    int fd;
    gp_tls *tls;                   /* wss://: every byte goes through it; NULL: the plain socket */
    pthread_mutex_t send_lock;     /* one sender at a time: frames of one message must not interleave */
    wslay_frame_context_ptr tx;    /* control frames; data frames and all reading are framed here */
    uint8_t *out;                  /* small writes are gathered here; large ones go straight out */
    size_t out_len;
    uint8_t in[RECV_BUFFER];
    size_t in_pos, in_len;
    int silence_ms;
    int pass_fd;                   /* a descriptor the next write carries (SCM_RIGHTS), or -1 */
    int dead;
    char close_reason[160]; /* the peer's Close: "4003 authentication refused" */
};

/* send() whose first byte carries fd (SCM_RIGHTS): the daemon's reader takes it with that byte. */
static ssize_t send_passing(int sock, const uint8_t *p, size_t n, int fd)
{
    struct iovec iov = { (void *)p, n };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static int write_all(gp_ws *ws, const uint8_t *p, size_t n)
{
    if (ws->tls)
        return gp_tls_write(ws->tls, p, n);
    while (n > 0) {
        ssize_t w = ws->pass_fd >= 0 ? send_passing(ws->fd, p, n, ws->pass_fd) : send(ws->fd, p, n, MSG_NOSIGNAL);
        if (w > 0)
            ws->pass_fd = -1;
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_out(gp_ws *ws)
{
    if (ws->out_len == 0)
        return 0;
    int rc = write_all(ws, ws->out, ws->out_len);
    ws->out_len = 0;
    return rc;
}

static ssize_t on_send(const uint8_t *data, size_t len, int flags, void *user)
{
    gp_ws *ws = user;
    (void)flags;
    if (len >= SEND_BUFFER / 2) {
        if (flush_out(ws) != 0 || write_all(ws, data, len) != 0)
            return -1;
        return (ssize_t)len;
    }
    if (ws->out_len + len > SEND_BUFFER && flush_out(ws) != 0)
        return -1;
    memcpy(ws->out + ws->out_len, data, len);
    ws->out_len += len;
    return (ssize_t)len;
}

/* Some bytes into buf; waits with poll so that a silent peer is noticed (silence_ms), not waited on for ever. */
static ssize_t read_some(gp_ws *ws, uint8_t *buf, size_t cap)
{
    int timeout = ws->silence_ms > 0 ? ws->silence_ms : -1;
    if (ws->tls) {
        ssize_t r = gp_tls_read(ws->tls, buf, cap, timeout);
        return r > 0 ? r : -1;
    }
    for (;;) {
        struct pollfd p = { .fd = ws->fd, .events = POLLIN };
        int ready = poll(&p, 1, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t r = recv(ws->fd, buf, cap, 0);
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0 ? r : -1;
    }
}

/* Refills the input buffer. */
static int fill_in(gp_ws *ws)
{
    ssize_t r = read_some(ws, ws->in, sizeof ws->in);
    if (r < 0)
        return -1;
    ws->in_pos = 0;
    ws->in_len = (size_t)r;
    return 0;
}

static ssize_t on_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    gp_ws *ws = user;
    (void)flags;
    if (ws->in_pos == ws->in_len && fill_in(ws) != 0)
        return -1;
    size_t n = ws->in_len - ws->in_pos;
    if (n > len)
        n = len;
    memcpy(buf, ws->in + ws->in_pos, n);
    ws->in_pos += n;
    return (ssize_t)n;
}

static int on_genmask(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static int dial_unix(const char *path, int timeout_ms, char *why, size_t why_len)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(why, why_len, "the socket path %s is too long", path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, why_len, "cannot create a Unix socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        snprintf(why, why_len, "cannot connect to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

const char *gp_host_header(const char *host, const char *port, char *buf, size_t cap)
{
    if (host[0] == '/')
        snprintf(buf, cap, "localhost");
    else
        snprintf(buf, cap, "%s:%s", host, port);
    return buf;
}

int gp_dial(const char *host, const char *port, int timeout_ms, char *why, size_t why_len)
{
    if (host[0] == '/')
        return dial_unix(host, timeout_ms, why, why_len);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        snprintf(why, why_len, "cannot resolve %s: %s", host, gai_strerror(err));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            snprintf(why, why_len, "cannot connect to %s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        /* Calls are small and latency-bound: never let Nagle hold one back. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static void base64(const uint8_t *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Reads the HTTP response head (up to the blank line), leaving anything after it buffered. */
static int read_head(gp_ws *ws, char *head, size_t cap)
{
    size_t n = 0;
    ws->silence_ms = 10000;
    while (n + 1 < cap) {
        uint8_t c;
        if (on_recv(&c, 1, 0, ws) != 1)
            return -1;
        head[n++] = (char)c;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) {
            head[n] = '\0';
            return 0;
        }
    }
    return -1;
}

static int handshake(gp_ws *ws, const char *host, const char *port, const char *path, char *why, size_t why_len)
{
    uint8_t nonce[16];
    char key[32], expect[64], request[1024], head[4096], host_header[192];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        return -1;
    base64(nonce, sizeof nonce, key);
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, gp_host_header(host, port, host_header, sizeof host_header), key);
    if (write_all(ws, (const uint8_t *)request, (size_t)n) != 0 || read_head(ws, head, sizeof head) != 0) {
        const char *tls_error = gp_tls_error(ws->tls);
        if (tls_error)
            snprintf(why, why_len, "no WebSocket handshake answer from %s:%s: TLS: %s", host, port, tls_error);
        else
            snprintf(why, why_len, "no WebSocket handshake answer from %s:%s%s", host, port,
                     ws->tls ? "" : " (if it serves TLS, its address is wss://)");
        return -1;
    }
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(head, "\r\n");
        if (eol)
            *eol = '\0';
        snprintf(why, why_len, "%s:%s%s refused the WebSocket upgrade: %s", host, port, path, head);
        return -1;
    }
    char accept_src[128];
    snprintf(accept_src, sizeof accept_src, "%s%s", key, WS_GUID);
    EVP_Digest(accept_src, strlen(accept_src), digest, &digest_len, EVP_sha1(), NULL);
    base64(digest, digest_len, expect);
    char *line = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (line == NULL || strstr(line, expect) == NULL) {
        snprintf(why, why_len, "%s:%s answered the upgrade with a wrong Sec-WebSocket-Accept", host, port);
        return -1;
    }
    return 0;
}

gp_ws *gp_ws_connect(const char *host, const char *port, const char *path, int tls, int timeout_ms, char *why, size_t why_len)
{
    gp_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL || (ws->out = malloc(SEND_BUFFER)) == NULL) {
        snprintf(why, why_len, "out of memory");
        free(ws);
        return NULL;
    }
    pthread_mutex_init(&ws->send_lock, NULL);
    ws->pass_fd = -1;
    /* A bad GPUPOOL_TLS_* is said before anything reaches the daemon. */
    ws->fd = tls && gp_tls_ready(why, why_len) != 0 ? -1 : gp_dial(host, port, timeout_ms, why, why_len);
    if (ws->fd >= 0 && tls && (ws->tls = gp_tls_connect(ws->fd, host, port, timeout_ms, why, why_len)) == NULL) {
        gp_ws_free(ws);
        return NULL;
    }
    struct wslay_frame_callbacks callbacks = { on_send, on_recv, on_genmask };
    if (ws->fd < 0 || handshake(ws, host, port, path, why, why_len) != 0 ||
        wslay_frame_context_init(&ws->tx, &callbacks, ws) != 0) {
        gp_ws_free(ws);
        return NULL;
    }
    return ws;
}

static int send_frame(gp_ws *ws, uint8_t opcode, int fin, const uint8_t *data, size_t len)
{
    struct wslay_frame_iocb iocb = { .fin = (uint8_t)fin, .opcode = opcode, .payload_length = len, .mask = 1, .data = data, .data_length = len };
    size_t sent = 0;
    do {
        iocb.data = data + sent;
        iocb.data_length = len - sent;
        ssize_t r = wslay_frame_send(ws->tx, &iocb);
        if (r < 0)
            return -1;
        sent += (size_t)r;
    } while (sent < len);
    return 0;
}

void gp_ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], size_t offset)
{
    /* The mask turned so that its first byte lines up with dst[0], then eight bytes a step. */
    uint8_t m[8];
    for (int i = 0; i < 8; i++)
        m[i] = mask[(offset + (size_t)i) & 3];
    uint64_t word;
    memcpy(&word, m, sizeof word);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, sizeof v);
        v ^= word;
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m[i & 3];
}

int gp_ws_new_mask(uint8_t mask[4])
{
    return getrandom(mask, 4, 0) == 4 ? 0 : -1;
}

/* The pieces in order, whole: sendmsg while the socket takes them (TLS: through the session). iov is used up. */
static int write_iov(gp_ws *ws, struct iovec *iov, int count)
{
    if (ws->tls) {
        for (int i = 0; i < count; i++)
            if (iov[i].iov_len > 0 && gp_tls_write(ws->tls, iov[i].iov_base, iov[i].iov_len) != 0)
                return -1;
        return 0;
    }
    int first = 0;
    while (first < count && iov[first].iov_len == 0)
        first++;
    while (first < count) {
        struct msghdr msg = { .msg_iov = iov + first, .msg_iovlen = (size_t)(count - first) };
        ssize_t w = sendmsg(ws->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (first < count && left >= iov[first].iov_len)
            left -= iov[first++].iov_len;
        if (first < count) {
            iov[first].iov_base = (uint8_t *)iov[first].iov_base + left;
            iov[first].iov_len -= left;
        }
    }
    return 0;
}

/* head then payload, whole: one sendmsg when the socket takes it all. */
static int write_two(gp_ws *ws, const uint8_t *head, size_t head_len, const uint8_t *data, size_t len)
{
    struct iovec iov[2] = { { (void *)head, head_len }, { (void *)data, len } };
    return write_iov(ws, iov, 2);
}

/*
 * A data frame framed here rather than by wslay, which masks through a 4 KiB buffer a byte at a time
 * and hands each piece to on_send: a copy's 16 MiB slice paid for that twice over. The payload is
 * masked with `mask` already; it goes out with its head in one write.
 */
static size_t masked_head(uint8_t head[14], uint8_t opcode, int fin, uint64_t len, const uint8_t mask[4])
{
    size_t n = 0;
    head[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        head[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        head[n++] = 0x80 | 126;
        head[n++] = (uint8_t)(len >> 8);
        head[n++] = (uint8_t)len;
    } else {
        head[n++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            head[n++] = (uint8_t)(len >> (56 - 8 * i));
    }
    memcpy(head + n, mask, 4);
    return n + 4;
}

static int send_masked_frame(gp_ws *ws, uint8_t opcode, int fin, const uint8_t *data, size_t len, const uint8_t mask[4])
{
    uint8_t head[14];
    return write_two(ws, head, masked_head(head, opcode, fin, len, mask), data, len);
}

/*
 * One binary frame of these pieces with a zero masking key (RFC 6455, section 5.3, keeps the mask bit
 * and asks for an unpredictable key). The key exists so that a script in a browser, which chooses a
 * frame's bytes but not the socket, cannot make an intermediary that misreads the stream as HTTP
 * cache bytes of its choosing. A program linked with this library writes any bytes to any socket of
 * its own already: a key hides nothing from it, and nobody else chooses a copy's bytes. So a copy's
 * payload goes from the program's memory to the socket as it is, with no pass to mask it (issue 13);
 * the daemon skips unmasking a zero key. Small calls keep a random key (gp_conn_append).
 */
int gp_ws_send_unmasked(gp_ws *ws, const struct iovec *parts, int count)
{
    enum { MAX_PARTS = 8 };
    if (count > MAX_PARTS)
        return -1;
    uint64_t len = 0;
    for (int i = 0; i < count; i++)
        len += parts[i].iov_len;
    static const uint8_t zero[4];
    uint8_t head[14];
    struct iovec iov[MAX_PARTS + 1] = { { head, masked_head(head, WSLAY_BINARY_FRAME, 1, len, zero) } };
    memcpy(iov + 1, parts, (size_t)count * sizeof *parts);
    pthread_mutex_lock(&ws->send_lock);
    int rc = flush_out(ws);
    if (rc == 0)
        rc = write_iov(ws, iov, count + 1);
    if (rc != 0)
        ws->dead = 1;
    pthread_mutex_unlock(&ws->send_lock);
    return rc;
}

int gp_ws_send_masked(gp_ws *ws, const uint8_t *data, size_t len, const uint8_t mask[4])
{
    pthread_mutex_lock(&ws->send_lock);
    int rc = flush_out(ws);
    if (rc == 0)
        rc = send_masked_frame(ws, WSLAY_BINARY_FRAME, 1, data, len, mask);
    if (rc != 0)
        ws->dead = 1;
    pthread_mutex_unlock(&ws->send_lock);
    return rc;
}

int gp_ws_send(gp_ws *ws, const struct iovec *parts, int count)
{
    pthread_mutex_lock(&ws->send_lock);
    int rc = flush_out(ws);
    for (int i = 0; i < count && rc == 0; i++) {
        uint8_t opcode = i == 0 ? WSLAY_BINARY_FRAME : WSLAY_CONTINUATION_FRAME;
        uint8_t mask[4];
        rc = gp_ws_new_mask(mask);
        if (rc == 0) {
            gp_ws_mask_copy(parts[i].iov_base, parts[i].iov_base, parts[i].iov_len, mask, 0);
            rc = send_masked_frame(ws, opcode, i == count - 1, parts[i].iov_base, parts[i].iov_len, mask);
        }
    }
    if (rc != 0)
        ws->dead = 1;
    pthread_mutex_unlock(&ws->send_lock);
    return rc;
}

static int send_control(gp_ws *ws, uint8_t opcode, const uint8_t *data, size_t len);

int gp_ws_ping(gp_ws *ws)
{
    return send_control(ws, WSLAY_PING, (const uint8_t *)"gp", 2);
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t next = *cap ? *cap : 65536;
    while (next < need)
        next *= 2;
    uint8_t *p = realloc(*buf, next);
    if (p == NULL)
        return -1;
    /* Faulted in now rather than inside a recv, which holds the socket's lock meanwhile: a sender
     * on loopback then overruns the socket, and each dropped segment costs a retransmission timeout. */
    for (size_t i = *cap; i < next; i += 4096)
        p[i] = 0;
    *buf = p;
    *cap = next;
    return 0;
}

static int send_control(gp_ws *ws, uint8_t opcode, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&ws->send_lock);
    int rc = send_frame(ws, opcode, 1, data, len);
    if (rc == 0)
        rc = flush_out(ws);
    pthread_mutex_unlock(&ws->send_lock);
    return rc;
}

int gp_ws_send_fd(gp_ws *ws, int fd)
{
    if (ws->tls)
        return -1;
    pthread_mutex_lock(&ws->send_lock);
    ws->pass_fd = fd;
    int rc = send_frame(ws, WSLAY_PING, 1, (const uint8_t *)"gp", 2);
    if (rc == 0)
        rc = flush_out(ws);
    if (ws->pass_fd >= 0)
        rc = -1;
    ws->pass_fd = -1;
    pthread_mutex_unlock(&ws->send_lock);
    return rc;
}

/* n bytes of the stream into dst: what the buffer holds first, then a large remainder straight off
 * the socket, so that a reply's megabytes are not moved through the buffer. */
static int read_exact(gp_ws *ws, uint8_t *dst, size_t n)
{
    while (n > 0) {
        if (ws->in_pos < ws->in_len) {
            size_t k = ws->in_len - ws->in_pos < n ? ws->in_len - ws->in_pos : n;
            memcpy(dst, ws->in + ws->in_pos, k);
            ws->in_pos += k;
            dst += k;
            n -= k;
            continue;
        }
        ssize_t r = n < RECV_BUFFER ? (fill_in(ws) == 0 ? 0 : -1) : read_some(ws, dst, n);
        if (r < 0)
            return -1;
        dst += r;
        n -= (size_t)r;
    }
    return 0;
}

/*
 * The daemon's frames (RFC 6455, section 5.2), read here rather than by wslay, which hands a payload
 * over in pieces of its own buffer: a copy's reply would be moved once more than need be. A server's
 * frames are never masked; one that is, or breaks the framing, ends the connection.
 */
int gp_ws_recv(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, int silence_ms)
{
    return gp_ws_recv_placed(ws, buf, cap, len, silence_ms, NULL, NULL);
}

/* A message's payload that the caller may place elsewhere: the bytes it reads first to decide. */
#define PLACE_PEEK ((size_t)4096)

/*
 * A large single-frame message: its first bytes into buf, then the rest where `place` says (a
 * copy's reply straight into the program's memory), or into buf after them when it says nowhere.
 */
static int read_placed(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, uint64_t length, gp_ws_place place, void *user)
{
    size_t got = length < PLACE_PEEK ? (size_t)length : PLACE_PEEK;
    if (grow(buf, cap, got) != 0 || read_exact(ws, *buf, got) != 0)
        return -1;
    uint8_t *dst = place(user, *buf, got, length, len);
    if (dst != NULL)
        return read_exact(ws, dst, (size_t)(length - got));
    if (length > SIZE_MAX || grow(buf, cap, (size_t)length) != 0 || read_exact(ws, *buf + got, (size_t)(length - got)) != 0)
        return -1;
    *len = (size_t)length;
    return 0;
}

int gp_ws_recv_placed(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, int silence_ms, gp_ws_place place, void *user)
{
    int in_message = 0;
    ws->silence_ms = silence_ms;
    *len = 0;
    for (;;) {
        uint8_t head[8];
        if (read_exact(ws, head, 2) != 0)
            return -1;
        int fin = (head[0] & 0x80) != 0;
        uint8_t opcode = head[0] & 0x0f;
        uint64_t length = head[1] & 0x7f;
        if ((head[0] & 0x70) != 0 || (head[1] & 0x80) != 0)
            return -1;
        if (length == 126 || length == 127) {
            size_t n = length == 126 ? 2 : 8;
            if (read_exact(ws, head, n) != 0)
                return -1;
            length = 0;
            for (size_t i = 0; i < n; i++)
                length = length << 8 | head[i];
        }
        if (opcode >= WSLAY_CONNECTION_CLOSE) {
            uint8_t control[125];
            if (!fin || length > sizeof control || read_exact(ws, control, (size_t)length) != 0)
                return -1;
            if (opcode == WSLAY_CONNECTION_CLOSE) {
                if (length >= 2)
                    snprintf(ws->close_reason, sizeof ws->close_reason, "%u %.*s", (unsigned)(control[0] << 8 | control[1]),
                             (int)(length - 2), (const char *)control + 2);
                /* Answer with a Close echoing the status code (RFC 6455, section 5.5.1), so the
                 * daemon's closing handshake completes now rather than at its timeout. */
                send_control(ws, WSLAY_CONNECTION_CLOSE, control, length >= 2 ? 2 : 0);
                return -1;
            }
            if (opcode == WSLAY_PING && send_control(ws, WSLAY_PONG, control, (size_t)length) != 0)
                return -1;
            continue; /* a pong: its bytes were the sign of life */
        }
        if (opcode == WSLAY_CONTINUATION_FRAME ? !in_message : (in_message || (opcode != WSLAY_BINARY_FRAME && opcode != WSLAY_TEXT_FRAME)))
            return -1;
        if (place != NULL && fin && !in_message && length >= GP_WS_PLACE_MIN)
            return read_placed(ws, buf, cap, len, length, place, user);
        in_message = 1;
        if (length > SIZE_MAX - *len || grow(buf, cap, *len + (size_t)length) != 0 || read_exact(ws, *buf + *len, (size_t)length) != 0)
            return -1;
        *len += (size_t)length;
        if (fin)
            return 0;
    }
}

int gp_ws_close(gp_ws *ws, unsigned code)
{
    const uint8_t payload[2] = { (uint8_t)(code >> 8), (uint8_t)code };
    return send_control(ws, WSLAY_CONNECTION_CLOSE, payload, sizeof payload);
}

const char *gp_ws_close_reason(const gp_ws *ws)
{
    return ws->close_reason[0] ? ws->close_reason : NULL;
}

void gp_ws_shutdown(gp_ws *ws)
{
    if (ws == NULL || ws->fd < 0)
        return;
    gp_tls_shutdown(ws->tls);
    shutdown(ws->fd, SHUT_RDWR);
}

void gp_ws_free(gp_ws *ws)
{
    if (ws == NULL)
        return;
    if (ws->tx)
        wslay_frame_context_free(ws->tx);
    gp_tls_free(ws->tls);
    if (ws->fd >= 0)
        close(ws->fd);
    pthread_mutex_destroy(&ws->send_lock);
    free(ws->out);
    free(ws);
}
