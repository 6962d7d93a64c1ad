/* Fixture reader shared by the fake vendor libraries; contract in docs/simulation.md. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FX_ENV "GPUPOOL_SIM_FIXTURE"
/* A fixture is a few KiB; the cap only stops a wrong path (a disk image) from eating memory. */
#define FX_MAX_BYTES (16L * 1024 * 1024)

typedef struct {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} fx_identity;

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static cJSON *g_tree;          /* last good parse; survives a later bad rewrite */
static char *g_path;           /* path g_seen belongs to */
static fx_identity g_seen;     /* identity of the last file read, good or bad */
static fx_state g_state = FX_NO_ENV;
static char g_problem[512] = "GPUPOOL_SIM_FIXTURE is not set";
static char g_reported[512];

void fx_lock(void) { pthread_mutex_lock(&g_mutex); }

void fx_unlock(void) { pthread_mutex_unlock(&g_mutex); }

__attribute__((format(printf, 2, 3))) static void set_problem(fx_state state, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    g_state = state;
    vsnprintf(g_problem, sizeof g_problem, fmt, args);
    va_end(args);
}

static void set_errno_problem(const char *path, int err)
{
    char buf[128];
    /* XSI strerror_r: the plain strerror buffer is shared with the host process. */
    if (strerror_r(err, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", err);
    set_problem(FX_UNREADABLE, "cannot read fixture %s: %s", path, buf);
    g_seen.valid = false;
}

static bool same_identity(const char *path, const struct stat *st)
{
    return g_seen.valid && g_path != NULL && strcmp(g_path, path) == 0 && g_seen.dev == st->st_dev &&
           g_seen.ino == st->st_ino && g_seen.size == st->st_size &&
           g_seen.mtime.tv_sec == st->st_mtim.tv_sec && g_seen.mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void remember_identity(const char *path, const struct stat *st)
{
    if (g_path == NULL || strcmp(g_path, path) != 0) {
        free(g_path);
        g_path = strdup(path);
    }
    g_seen = (fx_identity){ .valid = g_path != NULL, .dev = st->st_dev, .ino = st->st_ino,
                            .size = st->st_size, .mtime = st->st_mtim };
}

/* Reads the whole file; the size is not trusted because a writer may still be appending. */
static char *slurp(int fd, size_t *len)
{
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (used == cap) {
            char *bigger = cap >= (size_t)FX_MAX_BYTES ? NULL : realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            errno = err;
            return NULL;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    *len = used;
    return buf;
}

static void parse_into_tree(const char *path, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (root == NULL) {
        size_t where = end != NULL && end >= text ? (size_t)(end - text) : 0;
        set_problem(FX_INVALID, "invalid JSON in fixture %s near byte %zu", path, where);
        return;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_problem(FX_INVALID, "fixture %s: top level is not a JSON object", path);
        return;
    }
    cJSON_Delete(g_tree);
    g_tree = root;
    g_state = FX_LOADED;
    g_problem[0] = '\0';
    g_reported[0] = '\0'; /* a problem that comes back after a recovery is news again */
}

static void load(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_errno_problem(path, errno);
        return;
    }
    struct stat st;
    size_t len = 0;
    char *text = fstat(fd, &st) == 0 ? slurp(fd, &len) : NULL;
    int err = errno;
    close(fd);
    if (text == NULL) {
        set_errno_problem(path, err);
        return;
    }
    /* fstat of the opened file: a rename racing this read is seen as a change next time. */
    remember_identity(path, &st);
    parse_into_tree(path, text, len);
    free(text);
}

fx_state fx_refresh(void)
{
    const char *path = getenv(FX_ENV);
    if (path == NULL || path[0] == '\0') {
        set_problem(FX_NO_ENV, "%s is not set", FX_ENV);
        g_seen.valid = false;
        return g_state;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        set_errno_problem(path, errno);
        return g_state;
    }
    if (!same_identity(path, &st))
        load(path);
    return g_state;
}

void fx_report(const char *lib)
{
    if (g_state == FX_LOADED || strcmp(g_problem, g_reported) == 0)
        return;
    fprintf(stderr, "fake %s: %s\n", lib, g_problem);
    memcpy(g_reported, g_problem, sizeof g_reported);
}

const cJSON *fx_section(const char *vendor)
{
    const cJSON *section = cJSON_GetObjectItemCaseSensitive(g_tree, vendor);
    return cJSON_IsObject(section) ? section : NULL;
}

static const cJSON *cards_of(const cJSON *section)
{
    const cJSON *cards = cJSON_GetObjectItemCaseSensitive(section, "cards");
    return cJSON_IsArray(cards) ? cards : NULL;
}

int fx_card_count(const cJSON *section)
{
    const cJSON *cards = cards_of(section);
    return cards != NULL ? cJSON_GetArraySize(cards) : 0;
}

const cJSON *fx_card(const cJSON *section, int index)
{
    const cJSON *cards = cards_of(section);
    return cards != NULL && index >= 0 ? cJSON_GetArrayItem(cards, index) : NULL;
}

bool fx_card_present(const cJSON *card)
{
    return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(card, "present"));
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

double fx_number(const cJSON *obj, const char *key, double dflt)
{
    const cJSON *item = member(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : dflt;
}

uint64_t fx_u64(const cJSON *obj, const char *key, uint64_t dflt)
{
    const cJSON *item = member(obj, key);
    if (!cJSON_IsNumber(item))
        return dflt;
    double v = item->valuedouble;
    if (!(v > 0))
        return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}

long long fx_int(const cJSON *obj, const char *key, long long dflt)
{
    const cJSON *item = member(obj, key);
    if (!cJSON_IsNumber(item) || isnan(item->valuedouble))
        return dflt;
    double v = item->valuedouble;
    if (v >= 9.2e18)
        return LLONG_MAX;
    if (v <= -9.2e18)
        return LLONG_MIN;
    return llround(v);
}

const char *fx_string(const cJSON *obj, const char *key, const char *dflt)
{
    const cJSON *item = member(obj, key);
    return cJSON_IsString(item) && item->valuestring != NULL ? item->valuestring : dflt;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall clock rather than process time, so every process reading the fixture agrees. */
static double triangle(double min, double max, double period)
{
    if (!(period > 0))
        return min;
    double phase = fmod(wall_seconds(), period) / period;
    double rise = phase < 0.5 ? 2.0 * phase : 2.0 - 2.0 * phase;
    return min + (max - min) * rise;
}

double fx_wave(const cJSON *obj, const char *key, double dflt)
{
    const cJSON *item = member(obj, key);
    if (cJSON_IsNumber(item))
        return item->valuedouble;
    if (!cJSON_IsObject(item))
        return dflt;
    double min = fx_number(item, "min", dflt);
    double max = fx_number(item, "max", min);
    return triangle(min, max, fx_number(item, "periodS", 60));
}

unsigned fx_percent(const cJSON *obj, const char *key)
{
    double v = fx_wave(obj, key, 0);
    if (!(v > 0))
        return 0;
    return v >= 100 ? 100 : (unsigned)lround(v);
}

int fx_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex_field(const char **p, int max_digits, unsigned long *out)
{
    int n = 0;
    unsigned long v = 0;
    for (int d; n < max_digits && (d = fx_hex_digit(**p)) >= 0; n++, (*p)++)
        v = v * 16 + (unsigned long)d;
    *out = v;
    return n > 0;
}

bool fx_pci_parse(const char *text, fx_pci *out)
{
    if (text == NULL || out == NULL)
        return false;
    const char *p = text;
    unsigned long field[3], fn;
    int n = 0;
    for (;;) {
        if (n == 3 || !hex_field(&p, 8, &field[n]))
            return false;
        n++;
        if (*p != ':')
            break;
        p++;
    }
    if (n < 2 || *p++ != '.' || !hex_field(&p, 1, &fn) || *p != '\0')
        return false;
    unsigned long domain = n == 3 ? field[0] : 0, bus = field[n - 2], device = field[n - 1];
    if (bus > 0xff || device > 0x1f || fn > 7)
        return false;
    *out = (fx_pci){ (unsigned)domain, (unsigned)bus, (unsigned)device, (unsigned)fn };
    return true;
}

fx_pci fx_card_pci(const cJSON *card, int index)
{
    fx_pci pci;
    if (fx_pci_parse(fx_string(card, "pciBusId", NULL), &pci))
        return pci;
    return (fx_pci){ 0, (unsigned)(index + 1) & 0xff, 0, 0 };
}

unsigned fx_card_device_id(const cJSON *card, unsigned dflt)
{
    const cJSON *item = member(card, "pciDeviceId");
    if (!cJSON_IsNumber(item))
        return dflt;
    return (unsigned)((uint32_t)fx_u64(card, "pciDeviceId", 0) >> 16);
}

uint64_t fx_card_memory_total(const cJSON *card)
{
    return fx_u64(card, "memoryTotal", 0);
}

uint64_t fx_card_memory_used(const cJSON *card)
{
    uint64_t total = fx_card_memory_total(card);
    uint64_t used = fx_u64(card, "memoryUsed", 0);
    int n = fx_process_count(card);
    for (int i = 0; i < n; i++) {
        uint64_t proc = 0;
        unsigned pid;
        if (fx_process(card, i, &pid, &proc))
            used = used > UINT64_MAX - proc ? UINT64_MAX : used + proc;
    }
    return used > total ? total : used;
}

static const cJSON *array_member(const cJSON *card, const char *key)
{
    const cJSON *arr = member(card, key);
    return cJSON_IsArray(arr) ? arr : NULL;
}

int fx_process_count(const cJSON *card)
{
    const cJSON *arr = array_member(card, "processes");
    return arr != NULL ? cJSON_GetArraySize(arr) : 0;
}

bool fx_process(const cJSON *card, int i, unsigned *pid, uint64_t *used)
{
    const cJSON *entry = cJSON_GetArrayItem(array_member(card, "processes"), i);
    if (!cJSON_IsObject(entry))
        return false;
    *pid = (unsigned)fx_u64(entry, "pid", 0);
    *used = fx_u64(entry, "usedMemory", 0);
    return true;
}

int fx_xid_count(const cJSON *card)
{
    const cJSON *arr = array_member(card, "xid");
    return arr != NULL ? cJSON_GetArraySize(arr) : 0;
}

bool fx_xid(const cJSON *card, int i, fx_xid_event *out)
{
    const cJSON *entry = cJSON_GetArrayItem(array_member(card, "xid"), i);
    if (!cJSON_IsNumber(member(entry, "id")))
        return false;
    out->id = fx_int(entry, "id", 0);
    out->xid = fx_int(entry, "xid", 999);
    return true;
}

bool fx_copy_string(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (dst == NULL || len >= cap)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

void fx_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

int64_t fx_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees the tree on dlclose so leak checkers see a clean unload. */
__attribute__((destructor)) static void fx_unload(void)
{
    pthread_mutex_lock(&g_mutex);
    cJSON_Delete(g_tree);
    g_tree = NULL;
    free(g_path);
    g_path = NULL;
    pthread_mutex_unlock(&g_mutex);
}

bool fx_init(const char *vendor, const char *lib, long long *error)
{
    fx_lock();
    fx_state state = fx_refresh();
    const cJSON *section = fx_section(vendor);
    long long delay = fx_int(section, "initDelayMs", 0);
    *error = fx_int(section, "initError", 0);
    bool crash = cJSON_IsTrue(member(section, "initCrash"));
    if (state != FX_LOADED)
        fx_report(lib);
    fx_unlock();
    if (state != FX_LOADED)
        return false;
    fx_sleep_ms(delay > LONG_MAX ? LONG_MAX : (long)delay);
    if (crash) {
        /* A real fault, as a broken driver makes: raise(SIGSEGV) could be swallowed by a handler that
         * only forwards genuine faults (V8's trap handler). The pointer is read through a volatile so
         * the compiler cannot see it is NULL and turn the store into a trap instruction. */
        volatile int *volatile nowhere = NULL;
        *nowhere = 0;
    }
    return true;
}
