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
    wslay_frame_context_ptr tx;    /* separate contexts: the sender and receiver threads never share one */
    wslay_frame_context_ptr rx;
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

/* Refills the input buffer; waits with poll so that a silent peer is noticed (silence_ms), not waited on for ever. */
static int fill_in(gp_ws *ws)
{
    int timeout = ws->silence_ms > 0 ? ws->silence_ms : -1;
    if (ws->tls) {
        ssize_t r = gp_tls_read(ws->tls, ws->in, sizeof ws->in, timeout);
        if (r <= 0)
            return -1;
        ws->in_pos = 0;
        ws->in_len = (size_t)r;
        return 0;
    }
    for (;;) {
        struct pollfd p = { .fd = ws->fd, .events = POLLIN };
        int ready = poll(&p, 1, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t r = recv(ws->fd, ws->in, sizeof ws->in, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ws->in_pos = 0;
        ws->in_len = (size_t)r;
        return 0;
    }
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
        wslay_frame_context_init(&ws->tx, &callbacks, ws) != 0 || wslay_frame_context_init(&ws->rx, &callbacks, ws) != 0) {
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

int gp_ws_send(gp_ws *ws, const struct iovec *parts, int count)
{
    int rc = 0;
    pthread_mutex_lock(&ws->send_lock);
    for (int i = 0; i < count && rc == 0; i++) {
        uint8_t opcode = i == 0 ? WSLAY_BINARY_FRAME : WSLAY_CONTINUATION_FRAME;
        rc = send_frame(ws, opcode, i == count - 1, parts[i].iov_base, parts[i].iov_len);
    }
    if (rc == 0)
        rc = flush_out(ws);
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

int gp_ws_recv(gp_ws *ws, uint8_t **buf, size_t *cap, size_t *len, int silence_ms)
{
    uint8_t control[125];
    size_t control_len = 0;
    uint64_t frame_got = 0;
    int in_message = 0;
    ws->silence_ms = silence_ms;
    *len = 0;
    for (;;) {
        struct wslay_frame_iocb iocb;
        memset(&iocb, 0, sizeof iocb);
        if (wslay_frame_recv(ws->rx, &iocb) < 0)
            return -1;
        /* wslay hands a frame over in pieces: it is whole once the pieces add up to its length. */
        frame_got += iocb.data_length;
        int frame_done = frame_got == iocb.payload_length;
        if (iocb.opcode >= WSLAY_CONNECTION_CLOSE) {
            if (control_len + iocb.data_length <= sizeof control) {
                memcpy(control + control_len, iocb.data, iocb.data_length);
                control_len += iocb.data_length;
            }
            if (frame_done) {
                if (iocb.opcode == WSLAY_CONNECTION_CLOSE) {
                    if (control_len >= 2)
                        snprintf(ws->close_reason, sizeof ws->close_reason, "%u %.*s", (unsigned)(control[0] << 8 | control[1]),
                                 (int)(control_len - 2), (const char *)control + 2);
                    /* Answer with a Close echoing the status code (RFC 6455, section 5.5.1), so the
                     * daemon's closing handshake completes now rather than at its timeout. */
                    send_control(ws, WSLAY_CONNECTION_CLOSE, control, control_len >= 2 ? 2 : 0);
                    return -1;
                }
                if (iocb.opcode == WSLAY_PING && send_control(ws, WSLAY_PONG, control, control_len) != 0)
                    return -1;
                control_len = 0;
                frame_got = 0;
            }
            continue;
        }
        if (iocb.opcode == WSLAY_BINARY_FRAME || iocb.opcode == WSLAY_TEXT_FRAME)
            in_message = 1;
        if (in_message && iocb.data_length > 0) {
            if (grow(buf, cap, *len + iocb.data_length) != 0)
                return -1;
            memcpy(*buf + *len, iocb.data, iocb.data_length);
            *len += iocb.data_length;
        }
        if (frame_done) {
            frame_got = 0;
            if (iocb.fin && in_message)
                return 0;
        }
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
    if (ws->rx)
        wslay_frame_context_free(ws->rx);
    gp_tls_free(ws->tls);
    if (ws->fd >= 0)
        close(ws->fd);
    pthread_mutex_destroy(&ws->send_lock);
    free(ws->out);
    free(ws);
}
