#define _GNU_SOURCE
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct gp_tls {
    int fd;
    SSL *ssl;
    pthread_mutex_t lock; /* held for every SSL call, never while waiting on the socket */
    int write_timeout_ms;
    int failed;           /* a fatal TLS or socket error: no more SSL calls but SSL_free */
    int eof;              /* the peer closed the socket (for BIO_CTRL_EOF) */
    char error[400];      /* the first failure, in words */
};

/* ---- one client context per process, from the environment ---------------------------------- */

static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;
static SSL_CTX *g_ctx;
static char g_ctx_error[600];
static char g_trust[300];    /* what the daemon's certificate is checked against, for messages */
static int g_client_cert;    /* whether a client certificate is configured */
static BIO_METHOD *g_bio;

/* The reason of the first error OpenSSL queued on this thread, or the socket's errno. */
static void openssl_reason(char *out, size_t len)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        snprintf(out, len, "%s", reason);
    else if (e)
        ERR_error_string_n(e, out, len);
    else
        snprintf(out, len, "%s", errno ? strerror(errno) : "the connection was closed");
}

/* A file the user named: unreadable is said as such, rather than as OpenSSL's "system lib". */
static int readable(const char *var, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(g_ctx_error, sizeof g_ctx_error, "%s=%s: %s", var, path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

/* An encrypted key would make OpenSSL prompt on the job's terminal: say no instead. */
static int no_password(char *buf, int size, int rwflag, void *user)
{
    (void)buf, (void)size, (void)rwflag, (void)user;
    return 0;
}

/* Socket I/O with MSG_NOSIGNAL: a daemon that went away must not kill the job with SIGPIPE. */
static int bio_write(BIO *b, const char *in, int n)
{
    gp_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t w = send(t->fd, in, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)w;
}

static int bio_read(BIO *b, char *out, int n)
{
    gp_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = recv(t->fd, out, (size_t)n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    else if (r == 0)
        t->eof = 1;
    return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num, (void)ptr;
    if (cmd == BIO_CTRL_FLUSH)
        return 1;
    if (cmd == BIO_CTRL_EOF)
        return ((gp_tls *)BIO_get_data(b))->eof;
    return 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void make_context(void)
{
    g_bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gpupool socket");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (g_bio == NULL || ctx == NULL || !BIO_meth_set_write(g_bio, bio_write) || !BIO_meth_set_read(g_bio, bio_read) ||
        !BIO_meth_set_ctrl(g_bio, bio_ctrl) || !BIO_meth_set_create(g_bio, bio_create)) {
        snprintf(g_ctx_error, sizeof g_ctx_error, "cannot set up OpenSSL");
        SSL_CTX_free(ctx);
        return;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* Writes go out record by record, from a buffer that may move between retries (ws.c's batches). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_passwd_cb(ctx, no_password);
    char reason[256];
    const char *ca = getenv("GPUPOOL_TLS_CA"), *cert = getenv("GPUPOOL_TLS_CERT"), *key = getenv("GPUPOOL_TLS_KEY");
    if (ca && *ca) {
        if (!readable("GPUPOOL_TLS_CA", ca))
            goto fail;
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            openssl_reason(reason, sizeof reason);
            snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_CA=%s: not a PEM file of CA certificates (%s)", ca, reason);
            goto fail;
        }
        snprintf(g_trust, sizeof g_trust, "GPUPOOL_TLS_CA=%s", ca);
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
        snprintf(g_trust, sizeof g_trust, "the system's CA store; set GPUPOOL_TLS_CA to the daemon's CA");
    }
    int has_cert = cert && *cert, has_key = key && *key;
    if (has_cert != has_key) {
        snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_CERT and GPUPOOL_TLS_KEY go together: set both or neither");
        goto fail;
    }
    if (has_cert) {
        if (!readable("GPUPOOL_TLS_CERT", cert) || !readable("GPUPOOL_TLS_KEY", key))
            goto fail;
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            openssl_reason(reason, sizeof reason);
            snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_CERT=%s: not a PEM certificate (%s)", cert, reason);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
                snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_KEY=%s is not the private key of GPUPOOL_TLS_CERT=%s", key, cert);
                goto fail;
            }
            openssl_reason(reason, sizeof reason);
            snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_KEY=%s: not an unencrypted PEM private key (%s)", key, reason);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(g_ctx_error, sizeof g_ctx_error, "GPUPOOL_TLS_KEY=%s is not the private key of GPUPOOL_TLS_CERT=%s", key, cert);
            goto fail;
        }
        g_client_cert = 1;
    }
    g_ctx = ctx;
    return;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
}

/* ---- one connection ------------------------------------------------------------------------- */

/* Waits until fd is ready for `events`: 1, 0 on timeout, -1 on error. timeout_ms < 0: for ever. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        return ready < 0 ? -1 : ready;
    }
}

static int elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int)((now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000);
}

/* Records the first fatal failure of t in words (lock held), with what the user can do about it. */
static void fail(gp_tls *t)
{
    if (t->failed)
        return;
    t->failed = 1;
    unsigned long e = ERR_peek_error();
    int reason = e ? ERR_GET_REASON(e) : 0;
    char text[160];
    openssl_reason(text, sizeof text);
    if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED || (!g_client_cert && reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE))
        snprintf(t->error, sizeof t->error, "the daemon requires a client certificate (%s): set GPUPOOL_TLS_CERT and GPUPOOL_TLS_KEY (gpupool run --tls-cert, --tls-key)", text);
    else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
             reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN || reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)
        snprintf(t->error, sizeof t->error, "the daemon refused the client certificate of GPUPOOL_TLS_CERT (%s): it takes those its tls.clientCa signed", text);
    else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG)
        snprintf(t->error, sizeof t->error, "%s: is the daemon serving TLS? (a plain daemon is ws://)", text);
    else if (t->eof || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        snprintf(t->error, sizeof t->error, "the daemon closed the connection%s", g_client_cert ? " (did it refuse the client certificate of GPUPOOL_TLS_CERT?)" : " (does it require a client certificate? GPUPOOL_TLS_CERT, GPUPOOL_TLS_KEY)");
    else
        snprintf(t->error, sizeof t->error, "%s", text);
}

int gp_tls_ready(char *why, size_t why_len)
{
    pthread_once(&g_ctx_once, make_context);
    if (g_ctx != NULL)
        return 0;
    snprintf(why, why_len, "TLS: %s", g_ctx_error);
    return -1;
}

gp_tls *gp_tls_connect(int fd, const char *host, const char *port, int timeout_ms, char *why, size_t why_len)
{
    if (gp_tls_ready(why, why_len) != 0)
        return NULL;
    gp_tls *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    t->fd = fd;
    t->write_timeout_ms = timeout_ms;
    pthread_mutex_init(&t->lock, NULL);
    BIO *bio = NULL;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || (t->ssl = SSL_new(g_ctx)) == NULL || (bio = BIO_new(g_bio)) == NULL) {
        snprintf(why, why_len, "%s:%s: TLS: cannot set up the connection", host, port);
        goto fail;
    }
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio);
    /* The name the certificate must carry is the one in the URL: a DNS name, or an IP address. */
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    unsigned char ip[sizeof(struct in6_addr)];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1
              : (SSL_set_tlsext_host_name(t->ssl, host) != 1 || X509_VERIFY_PARAM_set1_host(param, host, 0) != 1)) {
        snprintf(why, why_len, "%s:%s: TLS: cannot check certificates for the name %s", host, port, host);
        goto fail;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(t->ssl);
        if (r == 1)
            return t;
        int e = SSL_get_error(t->ssl, r);
        int left = timeout_ms - elapsed_ms(&start);
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && left > 0) {
            int ready = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left);
            if (ready > 0)
                continue;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            snprintf(why, why_len, "%s:%s: TLS: no handshake answer within %d ms", host, port, timeout_ms);
            goto fail;
        }
        long verify = SSL_get_verify_result(t->ssl);
        if (verify != X509_V_OK) {
            snprintf(why, why_len, "%s:%s: TLS: the daemon's certificate was not accepted: %s (checked against %s)", host, port,
                     X509_verify_cert_error_string(verify), g_trust);
        } else {
            fail(t);
            snprintf(why, why_len, "%s:%s: TLS handshake failed: %s", host, port, t->error);
        }
        goto fail;
    }
fail:
    ERR_clear_error();
    gp_tls_free(t);
    return NULL;
}

/* One SSL_write or SSL_read under the lock: its result, and in *e what SSL_get_error made of it. */
static int locked_io(gp_tls *t, int writing, void *buf, size_t n, int *e)
{
    pthread_mutex_lock(&t->lock);
    int r = -1;
    *e = SSL_ERROR_SSL;
    if (!t->failed) {
        ERR_clear_error();
        int len = n > INT_MAX ? INT_MAX : (int)n;
        r = writing ? SSL_write(t->ssl, buf, len) : SSL_read(t->ssl, buf, len);
        *e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        if (*e != SSL_ERROR_NONE && *e != SSL_ERROR_WANT_READ && *e != SSL_ERROR_WANT_WRITE)
            fail(t);
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}

/*
 * Waits, without the lock, for the socket to be ready for what the SSL call wanted: 1 when it is, 0 or
 * -1 on timeout, error, or an SSL error that no waiting mends. Without read-ahead, WANT_READ means no
 * whole record is buffered, so the socket is the thing to wait on.
 */
static int wait_wanted(gp_tls *t, int e, int timeout_ms)
{
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return -1;
    return wait_fd(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout_ms);
}

int gp_tls_write(gp_tls *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int e;
        int w = locked_io(t, 1, (void *)p, n, &e);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (wait_wanted(t, e, t->write_timeout_ms) <= 0) {
            return -1;
        }
    }
    return 0;
}

ssize_t gp_tls_read(gp_tls *t, uint8_t *buf, size_t cap, int timeout_ms)
{
    for (;;) {
        int e;
        int r = locked_io(t, 0, buf, cap, &e);
        if (r > 0)
            return r;
        if (wait_wanted(t, e, timeout_ms) <= 0)
            return -1;
    }
}

const char *gp_tls_error(const gp_tls *t)
{
    return t != NULL && t->error[0] ? t->error : NULL;
}

void gp_tls_shutdown(gp_tls *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    if (!t->failed) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
    pthread_mutex_unlock(&t->lock);
}

void gp_tls_free(gp_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* and its BIO */
    pthread_mutex_destroy(&t->lock);
    free(t);
}
