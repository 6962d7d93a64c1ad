/*
 * A raw client of the daemon's Unix socket that can pass descriptors (SCM_RIGHTS), for the hostile
 * tests of shared memory (test/compute/shared-memory.test.ts): the test encodes every message, this
 * program only carries them and the descriptors it is told to make.
 *
 *   shm_raw_client SOCKET HELLO_HEX
 *
 * Then one command a line on stdin, each answered by one line on stdout:
 *   fd sealed|unsealed|file|pipe BYTES   a descriptor of that kind on a ping's bytes    -> "ok"
 *   call HEX                             a message; waits for the daemon's next one    -> "reply HEX"
 *   post HEX                             a message, no answer awaited                  -> "ok"
 *   fd ring BYTES                        a sealed memfd, kept mapped as the call ring     -> "ok"
 *   poke OFFSET HEX                      bytes into the ring's mapping, then its bell rung -> "ok"
 *   read                                 waits for the daemon's next message            -> "reply HEX"
 * A connection the daemon ended prints "closed CODE".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int g_sock;
static unsigned char *g_ring; /* the call ring's mapping (fd ring) */
static size_t g_ring_bytes;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void write_all(const void *p, size_t n, int fd_to_pass)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w;
        if (fd_to_pass >= 0) {
            struct iovec iov = { (void *)c, n };
            union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } control;
            memset(&control, 0, sizeof control);
            struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
            struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(h), &fd_to_pass, sizeof(int));
            w = sendmsg(g_sock, &msg, MSG_NOSIGNAL);
            fd_to_pass = -1;
        } else {
            w = send(g_sock, c, n, MSG_NOSIGNAL);
        }
        if (w <= 0)
            die("send");
        c += w;
        n -= (size_t)w;
    }
}

/* One masked client frame (the mask is zero: the bytes read as they are). */
static void send_frame(int opcode, const unsigned char *data, size_t n, int fd_to_pass)
{
    unsigned char head[14];
    size_t h = 0;
    head[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        head[h++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        head[h++] = 0x80 | 126;
        head[h++] = (unsigned char)(n >> 8);
        head[h++] = (unsigned char)n;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (unsigned char)((uint64_t)n >> (i * 8));
    }
    memset(head + h, 0, 4);
    h += 4;
    write_all(head, h, fd_to_pass);
    if (n > 0)
        write_all(data, n, -1);
}

static void read_all(void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = recv(g_sock, c, n, 0);
        if (r <= 0) {
            printf("closed 1006\n");
            exit(0);
        }
        c += r;
        n -= (size_t)r;
    }
}

/* The daemon's next data message (pings answered, pongs skipped), malloc'd; a close ends the program. */
static unsigned char *read_message(size_t *len)
{
    for (;;) {
        unsigned char h[2];
        read_all(h, 2);
        uint64_t n = h[1] & 0x7f;
        if (n == 126) {
            unsigned char e[2];
            read_all(e, 2);
            n = (uint64_t)e[0] << 8 | e[1];
        } else if (n == 127) {
            unsigned char e[8];
            read_all(e, 8);
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | e[i];
        }
        unsigned char *data = malloc(n ? n : 1);
        if (data == NULL)
            die("malloc");
        read_all(data, n);
        int opcode = h[0] & 0x0f;
        if (opcode == 0x8) {
            printf("closed %u\n", n >= 2 ? (unsigned)(data[0] << 8 | data[1]) : 1005u);
            exit(0);
        }
        if (opcode == 0x9)
            send_frame(0xA, data, n, -1);
        if (opcode == 0x1 || opcode == 0x2) {
            *len = n;
            return data;
        }
        free(data);
    }
}

static size_t unhex(const char *s, unsigned char *out)
{
    size_t n = 0;
    while (s[0] && s[1] && s[0] != '\n') {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1)
            break;
        out[n++] = (unsigned char)v;
        s += 2;
    }
    return n;
}

static void print_hex(const char *tag, const unsigned char *p, size_t n)
{
    printf("%s ", tag);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int make_fd(const char *kind, size_t bytes)
{
    if (strcmp(kind, "pipe") == 0) {
        int p[2];
        if (pipe(p) != 0)
            die("pipe");
        return p[0];
    }
    if (strcmp(kind, "file") == 0) {
        char path[] = "/tmp/gpupool-shm-file-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) != 0)
            die("mkstemp");
        unlink(path);
        return fd;
    }
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, (off_t)bytes) != 0)
        die("memfd_create");
    if ((strcmp(kind, "sealed") == 0 || strcmp(kind, "ring") == 0) && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
        die("F_ADD_SEALS");
    if (strcmp(kind, "ring") == 0) {
        g_ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (g_ring == MAP_FAILED)
            die("mmap");
        g_ring_bytes = bytes;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    if ((g_sock = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || connect(g_sock, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect");
    const char *upgrade = "GET /v1/compute HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    write_all(upgrade, strlen(upgrade), -1);
    /* The response's head, byte by byte up to its blank line: the frames after it are the protocol's. */
    char head[4096];
    size_t got = 0;
    while (got < 4 || memcmp(head + got - 4, "\r\n\r\n", 4) != 0) {
        if (got == sizeof head)
            die("upgrade");
        read_all(head + got, 1);
        got++;
    }
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        die("upgrade refused");
    static unsigned char buf[1 << 20];
    size_t n = unhex(argv[2], buf), len;
    send_frame(0x2, buf, n, -1);
    free(read_message(&len)); /* WELCOME */
    printf("welcome\n");
    fflush(stdout);

    static char line[1 << 21];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char kind[16];
        size_t bytes = 0;
        if (sscanf(line, "fd %15s %zu", kind, &bytes) >= 1) {
            int fd = make_fd(kind, bytes);
            send_frame(0x9, (const unsigned char *)"gp", 2, fd);
            close(fd);
            printf("ok\n");
        } else if (sscanf(line, "poke %zu", &bytes) == 1 && g_ring != NULL) {
            const char *hex = strchr(line + 5, ' ');
            unsigned char data[4096];
            size_t n = hex ? unhex(hex + 1, data) : 0;
            if (bytes > g_ring_bytes || n > g_ring_bytes - bytes)
                die("poke outside the ring");
            memcpy(g_ring + bytes, data, n);
            /* The session's bell (call_ring_layout.h GP_RING_SESSION_BELL): bumped, and the sleeper woken. */
            __atomic_fetch_add((uint32_t *)(void *)(g_ring + 256), 1, __ATOMIC_SEQ_CST);
            syscall(SYS_futex, g_ring + 256, FUTEX_WAKE, 1, NULL, NULL, 0);
            printf("ok\n");
        } else if (strncmp(line, "read", 4) == 0) {
            unsigned char *reply = read_message(&len);
            print_hex("reply", reply, len);
            free(reply);
        } else if (strncmp(line, "call ", 5) == 0 || strncmp(line, "post ", 5) == 0) {
            send_frame(0x2, buf, unhex(line + 5, buf), -1);
            if (line[0] == 'c') {
                unsigned char *reply = read_message(&len);
                print_hex("reply", reply, len);
                free(reply);
            } else {
                printf("ok\n");
            }
        }
        fflush(stdout);
    }
    return 0;
}
