/*
 * The figures of a job's card that only the daemon serving it measures (utilization, temperature,
 * power, health), for the client side of NVML. They come from that daemon's Prometheus endpoint
 * (GET /metrics on the address the job connects to, over TLS when the connection is; docs/operations.md):
 * a card is found there by its UUID, and the daemon is the card's own, so two daemons reporting the
 * same UUIDs never mix. Read at most once a second per card: nvidia-smi and monitors ask in bursts.
 */
#define _GNU_SOURCE
#include "figures.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "shim.h"
#include "tls.h"
#include "ws.h"

#define FIGURES_TTL_NS 1000000000LL
#define FIGURES_TIMEOUT_MS 2000
#define METRICS_MAX ((size_t)4 << 20)

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    long long at_ns; /* 0: never read */
    int ok;
    gpupool_figures figures;
} g_cache[256];

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The whole answer to GET path (HTTP/1.0: no chunks, the daemon closes when done); NULL on failure. */
static char *http_get(const gp_conn *conn, const char *path, size_t *len)
{
    char why[256] = "";
    if (conn->tls && gp_tls_ready(why, sizeof why) != 0)
        return NULL;
    int fd = gp_dial(conn->host, conn->port, FIGURES_TIMEOUT_MS, why, sizeof why);
    if (fd < 0)
        return NULL;
    gp_tls *tls = conn->tls ? gp_tls_connect(fd, conn->host, conn->port, FIGURES_TIMEOUT_MS, why, sizeof why) : NULL;
    char request[512], host_header[192];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: text/plain\r\n\r\n", path,
                     gp_host_header(conn->host, conn->port, host_header, sizeof host_header));
    char *buf = malloc(METRICS_MAX + 1);
    size_t got = 0;
    int ok = buf != NULL && (!conn->tls || tls != NULL) && n > 0 && (size_t)n < sizeof request;
    if (ok)
        ok = tls ? gp_tls_write(tls, (const uint8_t *)request, (size_t)n) == 0 : write(fd, request, (size_t)n) == n;
    while (ok && got < METRICS_MAX) {
        ssize_t r = tls ? gp_tls_read(tls, (uint8_t *)buf + got, METRICS_MAX - got, FIGURES_TIMEOUT_MS) : read(fd, buf + got, METRICS_MAX - got);
        if (r <= 0)
            break; /* the end of the answer (or a failure, which the status line then shows) */
        got += (size_t)r;
    }
    if (tls != NULL) {
        gp_tls_shutdown(tls);
        gp_tls_free(tls);
    }
    close(fd);
    if (!ok || got == 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Prometheus text: `name{labels} value`, a card's lines carry UUID="...". */
static void take_metrics(const char *text, const char *uuid, gpupool_figures *f)
{
    char label[80];
    snprintf(label, sizeof label, "UUID=\"%s\"", uuid);
    static const struct {
        const char *name;
        size_t offset;
    } wanted[] = {
        {"gpupool_gpu_utilization_percent{", offsetof(gpupool_figures, gpu_percent)},
        {"gpupool_gpu_memory_utilization_percent{", offsetof(gpupool_figures, memory_percent)},
        {"gpupool_gpu_temperature_celsius{", offsetof(gpupool_figures, temperature_c)},
        {"gpupool_gpu_power_watts{", offsetof(gpupool_figures, power_w)},
    };
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *close = memchr(line, '}', len);
        const char *at = close ? memmem(line, (size_t)(close - line), label, strlen(label)) : NULL;
        if (at != NULL) {
            double value = strtod(close + 1, NULL);
            for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
                if (strncmp(line, wanted[i].name, strlen(wanted[i].name)) == 0)
                    *(double *)((char *)f + wanted[i].offset) = value;
            if (strncmp(line, "gpupool_gpu_healthy{", 20) == 0)
                f->healthy = value != 0;
        }
        line = end ? end + 1 : NULL;
    }
}

static int read_figures(const gp_device *d, gpupool_figures *f)
{
    *f = (gpupool_figures){NAN, NAN, NAN, NAN, -1};
    const gp_conn *conn = gp_server(d->server);
    size_t len = 0;
    char *answer = conn ? http_get(conn, "/metrics", &len) : NULL;
    if (answer == NULL)
        return -1;
    char *body = strstr(answer, "\r\n\r\n");
    int ok = strncmp(answer, "HTTP/1.", 7) == 0 && strncmp(answer + 8, " 200", 4) == 0 && body != NULL;
    if (ok) {
        const unsigned char *u = d->uuid;
        char uuid[48];
        snprintf(uuid, sizeof uuid, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
                 u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        take_metrics(body + 4, uuid, f);
    }
    free(answer);
    return ok ? 0 : -1;
}

GP_EXPORT int gpupoolDeviceFigures(int dev, gpupool_figures *out)
{
    const gp_device *d = gp_device_get(dev);
    if (out == NULL || d == NULL || dev >= (int)(sizeof g_cache / sizeof g_cache[0]))
        return -1;
    pthread_mutex_lock(&g_lock);
    long long now = now_ns();
    if (g_cache[dev].at_ns == 0 || now - g_cache[dev].at_ns > FIGURES_TTL_NS) {
        g_cache[dev].ok = read_figures(d, &g_cache[dev].figures) == 0;
        g_cache[dev].at_ns = now;
    }
    int ok = g_cache[dev].ok;
    *out = g_cache[dev].figures;
    pthread_mutex_unlock(&g_lock);
    return ok ? 0 : -1;
}
