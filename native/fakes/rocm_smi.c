/* Fake ROCm SMI (librocm_smi64.so) driven by the simulation fixture; see docs/simulation.md. */
#include "fixture.h"
#include "rocm_smi_api.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIB "rocm_smi"
#define VENDOR "amd"
#define RSMI_DEFAULT_DEVICE_ID 0x740Fu /* MI210 */
#define RSMI_DEFAULT_VERSION "7.8.0"

/* Guarded by the fixture lock. */
static unsigned g_refcount;
/* rsmi_version_t.build must outlive the call, and the fixture tree may be freed by a reload. */
static char g_build[64];

static const char *const g_status_strings[] = {
    [RSMI_STATUS_SUCCESS] = "RSMI_STATUS_SUCCESS: The function has been executed successfully.",
    [RSMI_STATUS_INVALID_ARGS] = "RSMI_STATUS_INVALID_ARGS: The provided arguments do not meet the preconditions "
                                 "required for calling this function.",
    [RSMI_STATUS_NOT_SUPPORTED] = "RSMI_STATUS_NOT_SUPPORTED: This function is not supported in the current "
                                  "environment.",
    [RSMI_STATUS_FILE_ERROR] = "RSMI_STATUS_FILE_ERROR: There was an error in finding or opening a file or "
                               "directory.",
    [RSMI_STATUS_PERMISSION] = "RSMI_STATUS_PERMISSION: The user ID of the calling process does not have "
                               "sufficient permission to execute a command.",
    [RSMI_STATUS_OUT_OF_RESOURCES] = "RSMI_STATUS_OUT_OF_RESOURCES: Unable to acquire memory or other resource",
    [RSMI_STATUS_INTERNAL_EXCEPTION] = "RSMI_STATUS_INTERNAL_EXCEPTION: An internal exception was caught",
    [RSMI_STATUS_INPUT_OUT_OF_BOUNDS] = "RSMI_STATUS_INPUT_OUT_OF_BOUNDS: The provided input is out of allowable "
                                        "or safe range",
    [RSMI_STATUS_INIT_ERROR] = "RSMI_STATUS_INIT_ERROR: An error occurred during initialization, during "
                               "monitor discovery or when when initializing internal data structures",
    [RSMI_STATUS_NOT_YET_IMPLEMENTED] = "RSMI_STATUS_NOT_YET_IMPLEMENTED: The called function has not been "
                                        "implemented in this system for this device type",
    [RSMI_STATUS_NOT_FOUND] = "RSMI_STATUS_NOT_FOUND: An item required to complete the call was not found",
    [RSMI_STATUS_INSUFFICIENT_SIZE] = "RSMI_STATUS_INSUFFICIENT_SIZE: Not enough resources were available to "
                                      "fully execute the call",
    [RSMI_STATUS_INTERRUPT] = "RSMI_STATUS_INTERRUPT: An interrupt occurred while executing the function",
    [RSMI_STATUS_UNEXPECTED_SIZE] = "RSMI_STATUS_UNEXPECTED_SIZE: Data (usually from reading a file) was out "
                                    "of range from what was expected",
    [RSMI_STATUS_NO_DATA] = "RSMI_STATUS_NO_DATA: No data was found for given input",
    [RSMI_STATUS_UNEXPECTED_DATA] = "RSMI_STATUS_UNEXPECTED_DATA: The data read or provided was not what was "
                                    "expected",
    [RSMI_STATUS_BUSY] = "RSMI_STATUS_BUSY: A resource or mutex could not be acquired because it is already "
                         "being used",
    [RSMI_STATUS_REFCOUNT_OVERFLOW] = "RSMI_STATUS_REFCOUNT_OVERFLOW: An internal reference counter exceeded "
                                      "INT32_MAX",
    [RSMI_STATUS_SETTING_UNAVAILABLE] = "RSMI_STATUS_SETTING_UNAVAILABLE: Requested setting is unavailable for "
                                        "the current device",
    [RSMI_STATUS_AMDGPU_RESTART_ERR] = "RSMI_STATUS_AMDGPU_RESTART_ERR: Could not successfully restart the "
                                       "amdgpu driver",
    [RSMI_STATUS_DRM_ERROR] = "RSMI_STATUS_DRM_ERROR: Error when calling libdrm",
    [RSMI_STATUS_FAIL_LOAD_MODULE] = "RSMI_STATUS_FAIL_LOAD_MODULE: Failed to load a library module",
    [RSMI_STATUS_FAIL_LOAD_SYMBOL] = "RSMI_STATUS_FAIL_LOAD_SYMBOL: Failed to load a library symbol",
};

/* ---- shared plumbing ------------------------------------------------------------------------ */

static const cJSON *section(void)
{
    return fx_section(VENDOR);
}

static rsmi_status_t unlock_with(rsmi_status_t rc)
{
    fx_unlock();
    return rc;
}

static rsmi_status_t system_check(const void *out)
{
    if (g_refcount == 0)
        return RSMI_STATUS_INIT_ERROR;
    if (out == NULL)
        return RSMI_STATUS_INVALID_ARGS;
    fx_refresh();
    return RSMI_STATUS_SUCCESS;
}

/* Locks and validates; returns SUCCESS with the lock still held, otherwise unlocked. */
static rsmi_status_t system_open(const void *out)
{
    fx_lock();
    rsmi_status_t rc = system_check(out);
    return rc == RSMI_STATUS_SUCCESS ? rc : unlock_with(rc);
}

static rsmi_status_t device_check(uint32_t dv_ind, const void *out, const cJSON **card)
{
    rsmi_status_t rc = system_check(out);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    if (dv_ind >= (uint32_t)fx_card_count(section()))
        return RSMI_STATUS_INVALID_ARGS;
    *card = fx_card(section(), (int)dv_ind);
    return fx_card_present(*card) ? RSMI_STATUS_SUCCESS : RSMI_STATUS_NOT_FOUND;
}

/* Like system_open for per-device calls: on success *card is valid until fx_unlock(). */
static rsmi_status_t device_open(uint32_t dv_ind, const void *out, const cJSON **card)
{
    fx_lock();
    rsmi_status_t rc = device_check(dv_ind, out, card);
    return rc == RSMI_STATUS_SUCCESS ? rc : unlock_with(rc);
}

static uint64_t clamp_u64(double v)
{
    if (!(v > 0))
        return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)llround(v);
}

/* ---- init ----------------------------------------------------------------------------------- */

FAKE_API rsmi_status_t rsmi_init(uint64_t init_flags)
{
    (void)init_flags; /* ALL_GPUS changes nothing: the fixture lists only AMD cards */
    long long error;
    if (!fx_init(VENDOR, LIB, &error))
        return RSMI_STATUS_INIT_ERROR;
    if (error != 0)
        return (rsmi_status_t)error;
    fx_lock();
    g_refcount++;
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_shut_down(void)
{
    fx_lock();
    /* Unlike NVML, ROCm SMI refuses a shutdown it has no init for. */
    if (g_refcount == 0)
        return unlock_with(RSMI_STATUS_INIT_ERROR);
    g_refcount--;
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_status_string(rsmi_status_t status, const char **status_string)
{
    if (status_string == NULL)
        return RSMI_STATUS_INVALID_ARGS;
    size_t n = sizeof g_status_strings / sizeof g_status_strings[0];
    *status_string = (unsigned)status < n && g_status_strings[status] != NULL
                         ? g_status_strings[status]
                         : "RSMI_STATUS_UNKNOWN_ERROR: An unknown error occurred";
    return RSMI_STATUS_SUCCESS;
}

static void parse_version(const char *text, rsmi_version_t *version)
{
    unsigned parts[3] = { 0, 0, 0 };
    const char *p = text;
    for (int i = 0; i < 3 && *p >= '0' && *p <= '9'; i++) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        parts[i] = v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
        p = *end == '.' ? end + 1 : end;
    }
    version->major = parts[0];
    version->minor = parts[1];
    version->patch = parts[2];
}

/* The library version needs no init in ROCm SMI, so this one reads the fixture directly. */
FAKE_API rsmi_status_t rsmi_version_get(rsmi_version_t *version)
{
    if (version == NULL)
        return RSMI_STATUS_INVALID_ARGS;
    fx_lock();
    fx_refresh();
    snprintf(g_build, sizeof g_build, "%s", fx_string(section(), "version", RSMI_DEFAULT_VERSION));
    parse_version(g_build, version);
    version->build = g_build;
    return unlock_with(RSMI_STATUS_SUCCESS);
}

/* ---- enumeration and identity --------------------------------------------------------------- */

FAKE_API rsmi_status_t rsmi_num_monitor_devices(uint32_t *num_devices)
{
    rsmi_status_t rc = system_open(num_devices);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    *num_devices = (uint32_t)fx_card_count(section());
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_id_get(uint32_t dv_ind, uint16_t *id)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, id, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    *id = (uint16_t)fx_card_device_id(card, RSMI_DEFAULT_DEVICE_ID);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_vendor_id_get(uint32_t dv_ind, uint16_t *id)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, id, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    *id = RSMI_AMD_VENDOR_ID;
    return unlock_with(RSMI_STATUS_SUCCESS);
}

/* ROCm SMI truncates into a short buffer and says so, rather than leaving it untouched. */
static rsmi_status_t copy_truncating(char *dst, size_t len, const char *src)
{
    if (len == 0)
        return RSMI_STATUS_INVALID_ARGS;
    if (fx_copy_string(dst, len, src))
        return RSMI_STATUS_SUCCESS;
    memcpy(dst, src, len - 1);
    dst[len - 1] = '\0';
    return RSMI_STATUS_INSUFFICIENT_SIZE;
}

static rsmi_status_t name_into(uint32_t dv_ind, char *buf, size_t len)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, buf, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    return unlock_with(copy_truncating(buf, len, fx_string(card, "name", "AMD Radeon Graphics")));
}

FAKE_API rsmi_status_t rsmi_dev_name_get(uint32_t dv_ind, char *name, size_t len)
{
    return name_into(dv_ind, name, len);
}

FAKE_API rsmi_status_t rsmi_dev_market_name_get(uint32_t dv_ind, char *market_name, uint32_t len)
{
    return name_into(dv_ind, market_name, len);
}

static bool parse_unique_id(const char *text, uint64_t *id)
{
    if (text == NULL)
        return false;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text += 2;
    size_t n = strspn(text, "0123456789abcdefABCDEF");
    if (n == 0 || n > 16 || text[n] != '\0')
        return false;
    *id = strtoull(text, NULL, 16);
    return true;
}

FAKE_API rsmi_status_t rsmi_dev_unique_id_get(uint32_t dv_ind, uint64_t *id)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, id, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    /* Cards without a unique id (no sysfs unique_id) answer NOT_SUPPORTED in the real library. */
    bool ok = parse_unique_id(fx_string(card, "uuid", NULL), id);
    return unlock_with(ok ? RSMI_STATUS_SUCCESS : RSMI_STATUS_NOT_SUPPORTED);
}

FAKE_API rsmi_status_t rsmi_dev_pci_id_get(uint32_t dv_ind, uint64_t *bdfid)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, bdfid, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    fx_pci pci = fx_card_pci(card, (int)dv_ind);
    /* Partition bits (28..31) stay 0: the fake has no compute partitions. */
    *bdfid = ((uint64_t)pci.domain << 32) | ((uint64_t)(pci.bus & 0xFF) << 8) |
             ((uint64_t)(pci.device & 0x1F) << 3) | (uint64_t)(pci.function & 0x7);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

/* ---- memory and load ------------------------------------------------------------------------ */

static rsmi_status_t vram_figure(uint32_t dv_ind, rsmi_memory_type_t mem_type, uint64_t *out, bool used)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, out, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    if (mem_type == RSMI_MEM_TYPE_GTT)
        return unlock_with(RSMI_STATUS_NOT_SUPPORTED);
    if (mem_type != RSMI_MEM_TYPE_VRAM && mem_type != RSMI_MEM_TYPE_VIS_VRAM)
        return unlock_with(RSMI_STATUS_INVALID_ARGS);
    /* Large-BAR parts expose all VRAM to the CPU, so visible VRAM equals VRAM. */
    *out = used ? fx_card_memory_used(card) : fx_card_memory_total(card);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_memory_total_get(uint32_t dv_ind, rsmi_memory_type_t mem_type, uint64_t *total)
{
    return vram_figure(dv_ind, mem_type, total, false);
}

FAKE_API rsmi_status_t rsmi_dev_memory_usage_get(uint32_t dv_ind, rsmi_memory_type_t mem_type, uint64_t *used)
{
    return vram_figure(dv_ind, mem_type, used, true);
}

static rsmi_status_t percent_of(uint32_t dv_ind, const char *key, uint32_t *out)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, out, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    *out = fx_percent(card, key);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_memory_busy_percent_get(uint32_t dv_ind, uint32_t *busy_percent)
{
    return percent_of(dv_ind, "memoryUtilization", busy_percent);
}

FAKE_API rsmi_status_t rsmi_dev_busy_percent_get(uint32_t dv_ind, uint32_t *busy_percent)
{
    return percent_of(dv_ind, "utilization", busy_percent);
}

/* ---- temperature and power ------------------------------------------------------------------ */

FAKE_API rsmi_status_t rsmi_dev_temp_metric_get(uint32_t dv_ind, uint32_t sensor_type,
                                                rsmi_temperature_metric_t metric, int64_t *temperature)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, temperature, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    if (sensor_type > RSMI_TEMP_TYPE_MEMORY || metric != RSMI_TEMP_CURRENT)
        return unlock_with(RSMI_STATUS_NOT_SUPPORTED);
    /* One fixture figure feeds edge, junction and memory alike. */
    *temperature = llround(fx_wave(card, "temperature", 0) * 1000.0); /* degC -> millidegrees */
    return unlock_with(RSMI_STATUS_SUCCESS);
}

static uint64_t power_uw(const cJSON *card)
{
    return clamp_u64(fx_wave(card, "power", 0) * 1e6); /* W -> uW */
}

FAKE_API rsmi_status_t rsmi_dev_power_ave_get(uint32_t dv_ind, uint32_t sensor_ind, uint64_t *power)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, power, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    /* The fixture models one power sensor per card. */
    if (sensor_ind != 0)
        return unlock_with(RSMI_STATUS_NOT_SUPPORTED);
    *power = power_uw(card);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_current_socket_power_get(uint32_t dv_ind, uint64_t *socket_power)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, socket_power, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    *socket_power = power_uw(card);
    return unlock_with(RSMI_STATUS_SUCCESS);
}

FAKE_API rsmi_status_t rsmi_dev_power_get(uint32_t dv_ind, uint64_t *power, RSMI_POWER_TYPE *type)
{
    const cJSON *card;
    rsmi_status_t rc = device_open(dv_ind, power != NULL && type != NULL ? power : NULL, &card);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    /* Newer ASICs report current socket power, which is what the real call tries first. */
    *power = power_uw(card);
    *type = RSMI_CURRENT_POWER;
    return unlock_with(RSMI_STATUS_SUCCESS);
}

/* ---- processes ------------------------------------------------------------------------------ */

typedef struct {
    rsmi_process_info_t *items;
    uint32_t len;
    uint32_t cap;
} proc_list;

static bool add_usage(proc_list *list, unsigned pid, uint64_t used)
{
    for (uint32_t i = 0; i < list->len; i++) {
        if (list->items[i].process_id == pid) {
            list->items[i].vram_usage += used;
            return true;
        }
    }
    if (list->len == list->cap) {
        uint32_t cap = list->cap == 0 ? 8 : list->cap * 2;
        rsmi_process_info_t *grown = realloc(list->items, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->len++] = (rsmi_process_info_t){ .process_id = pid, .vram_usage = used };
    return true;
}

/* Lock held. The real call is system-wide: one entry per pid, VRAM summed over the cards it uses. */
static bool collect_processes(proc_list *list)
{
    int cards = fx_card_count(section());
    for (int c = 0; c < cards; c++) {
        const cJSON *card = fx_card(section(), c);
        if (!fx_card_present(card))
            continue;
        for (int i = 0; i < fx_process_count(card); i++) {
            unsigned pid;
            uint64_t used;
            if (fx_process(card, i, &pid, &used) && !add_usage(list, pid, used))
                return false;
        }
    }
    return true;
}

FAKE_API rsmi_status_t rsmi_compute_process_info_get(rsmi_process_info_t *procs, uint32_t *num_items)
{
    rsmi_status_t rc = system_open(num_items);
    if (rc != RSMI_STATUS_SUCCESS)
        return rc;
    proc_list list = { NULL, 0, 0 };
    if (!collect_processes(&list)) {
        free(list.items);
        return unlock_with(RSMI_STATUS_OUT_OF_RESOURCES);
    }
    fx_unlock();
    if (procs == NULL) {
        *num_items = list.len;
        free(list.items);
        return RSMI_STATUS_SUCCESS;
    }
    uint32_t written = list.len < *num_items ? list.len : *num_items;
    if (written > 0)
        memcpy(procs, list.items, written * sizeof *procs);
    free(list.items);
    rc = written < list.len ? RSMI_STATUS_INSUFFICIENT_SIZE : RSMI_STATUS_SUCCESS;
    *num_items = written;
    return rc;
}
