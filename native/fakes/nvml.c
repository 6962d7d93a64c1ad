/* Fake NVML (libnvidia-ml.so.1) driven by the simulation fixture; see docs/simulation.md. */
#include "fixture.h"
#include "nvml_api.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIB "nvml"
#define VENDOR "nvidia"
/* Handles are fixed slots, so a handle obtained before a reload stays valid after it. */
#define NV_MAX_DEVICES 64
#define NV_SUPPORTED_EVENTS (NVML_EVENT_XID_CRITICAL | NVML_EVENT_SINGLE_BIT_ECC | NVML_EVENT_DOUBLE_BIT_ECC)
#define NV_POLL_MS 10
#define NV_DEFAULT_PCI_DEVICE_ID 0x233010DEu /* H100 SXM5 */

struct nvmlDevice_st {
    unsigned char unused; /* only the address matters */
};

typedef struct {
    unsigned index;
    long long id;
} nv_seen_event;

struct nvmlEventSet_st {
    struct nvmlEventSet_st *next;
    unsigned long long mask[NV_MAX_DEVICES];
    nv_seen_event *seen; /* (card, xid id) pairs this set already delivered */
    size_t seen_len;
    size_t seen_cap;
};

/* All of the following are guarded by the fixture lock. */
static struct nvmlDevice_st g_devices[NV_MAX_DEVICES];
static unsigned g_refcount;
static struct nvmlEventSet_st *g_sets;

static const char *const g_error_strings[] = {
    [NVML_SUCCESS] = "Success",
    [NVML_ERROR_UNINITIALIZED] = "Uninitialized",
    [NVML_ERROR_INVALID_ARGUMENT] = "Invalid Argument",
    [NVML_ERROR_NOT_SUPPORTED] = "Not Supported",
    [NVML_ERROR_NO_PERMISSION] = "Insufficient Permissions",
    [NVML_ERROR_ALREADY_INITIALIZED] = "Already Initialized",
    [NVML_ERROR_NOT_FOUND] = "Not Found",
    [NVML_ERROR_INSUFFICIENT_SIZE] = "Insufficient Size",
    [NVML_ERROR_INSUFFICIENT_POWER] = "Insufficient External Power",
    [NVML_ERROR_DRIVER_NOT_LOADED] = "Driver Not Loaded",
    [NVML_ERROR_TIMEOUT] = "Timeout",
    [NVML_ERROR_IRQ_ISSUE] = "Interrupt request issue",
    [NVML_ERROR_LIBRARY_NOT_FOUND] = "NVML Shared Library Not Found",
    [NVML_ERROR_FUNCTION_NOT_FOUND] = "Function Not Found",
    [NVML_ERROR_CORRUPTED_INFOROM] = "Corrupted infoROM",
    [NVML_ERROR_GPU_IS_LOST] = "GPU is lost",
    [NVML_ERROR_RESET_REQUIRED] = "GPU requires restart",
    [NVML_ERROR_OPERATING_SYSTEM] = "The operating system has blocked the request.",
    [NVML_ERROR_LIB_RM_VERSION_MISMATCH] = "RM has detected an NVML/RM version mismatch.",
    [NVML_ERROR_IN_USE] = "In use by another client",
    [NVML_ERROR_MEMORY] = "Insufficient Memory",
    [NVML_ERROR_NO_DATA] = "No data",
    [NVML_ERROR_VGPU_ECC_NOT_SUPPORTED] =
        "The requested vgpu operation is not available on target device, because ECC is enabled",
    [NVML_ERROR_INSUFFICIENT_RESOURCES] = "Insufficient resources",
    [NVML_ERROR_FREQ_NOT_SUPPORTED] = "Frequency not supported",
    [NVML_ERROR_ARGUMENT_VERSION_MISMATCH] = "Argument version mismatch",
    [NVML_ERROR_DEPRECATED] = "Deprecated",
    [NVML_ERROR_NOT_READY] = "Not ready",
    [NVML_ERROR_GPU_NOT_FOUND] = "GPU not found",
    [NVML_ERROR_INVALID_STATE] = "Invalid state",
    [NVML_ERROR_RESET_TYPE_NOT_SUPPORTED] = "Reset type not supported",
};

/* ---- shared plumbing ------------------------------------------------------------------------ */

static const cJSON *section(void)
{
    return fx_section(VENDOR);
}

static unsigned device_count(void)
{
    int n = fx_card_count(section());
    return n > NV_MAX_DEVICES ? NV_MAX_DEVICES : (unsigned)n;
}

static bool handle_index(nvmlDevice_t device, unsigned *index)
{
    uintptr_t p = (uintptr_t)device, base = (uintptr_t)g_devices;
    if (p < base || p >= base + sizeof g_devices || (p - base) % sizeof g_devices[0] != 0)
        return false;
    *index = (unsigned)((p - base) / sizeof g_devices[0]);
    return true;
}

static nvmlReturn_t unlock_with(nvmlReturn_t rc)
{
    fx_unlock();
    return rc;
}

/* Lock held. The init check comes first because real NVML answers UNINITIALIZED before anything. */
static nvmlReturn_t system_check(const void *out)
{
    if (g_refcount == 0)
        return NVML_ERROR_UNINITIALIZED;
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    fx_refresh();
    return NVML_SUCCESS;
}

/* Locks and validates; returns NVML_SUCCESS with the lock still held, otherwise unlocked. */
static nvmlReturn_t system_open(const void *out)
{
    fx_lock();
    nvmlReturn_t rc = system_check(out);
    return rc == NVML_SUCCESS ? rc : unlock_with(rc);
}

static nvmlReturn_t device_check(nvmlDevice_t device, const void *out, const cJSON **card, unsigned *index)
{
    unsigned idx = 0;
    if (g_refcount == 0)
        return NVML_ERROR_UNINITIALIZED;
    if (!handle_index(device, &idx) || out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    fx_refresh();
    /* A slot past the current card list is a card that left the fixture: it fell off the bus. */
    if (idx >= device_count() || !fx_card_present(fx_card(section(), (int)idx)))
        return NVML_ERROR_GPU_IS_LOST;
    *card = fx_card(section(), (int)idx);
    if (index != NULL)
        *index = idx;
    return NVML_SUCCESS;
}

/* Like system_open, for per-device calls: on success *card is valid until fx_unlock(). */
static nvmlReturn_t device_open(nvmlDevice_t device, const void *out, const cJSON **card, unsigned *index)
{
    fx_lock();
    nvmlReturn_t rc = device_check(device, out, card, index);
    return rc == NVML_SUCCESS ? rc : unlock_with(rc);
}

static nvmlReturn_t copy_out(char *buf, unsigned length, const char *text)
{
    return fx_copy_string(buf, length, text) ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
}

/* ---- init ----------------------------------------------------------------------------------- */

static void free_all_sets(void)
{
    while (g_sets != NULL) {
        struct nvmlEventSet_st *next = g_sets->next;
        free(g_sets->seen);
        free(g_sets);
        g_sets = next;
    }
}

static nvmlReturn_t init_common(void)
{
    long long error;
    if (!fx_init(VENDOR, LIB, &error))
        return NVML_ERROR_DRIVER_NOT_LOADED;
    if (error != 0)
        return (nvmlReturn_t)error;
    fx_lock();
    g_refcount++;
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlInit_v2(void)
{
    return init_common();
}

FAKE_API nvmlReturn_t nvmlInit(void)
{
    return init_common();
}

FAKE_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags; /* NO_GPUS / NO_ATTACH change nothing for a fixture */
    return init_common();
}

FAKE_API nvmlReturn_t nvmlShutdown(void)
{
    fx_lock();
    /* NVML reports no error for surplus shutdowns. */
    if (g_refcount > 0 && --g_refcount == 0)
        free_all_sets();
    return unlock_with(NVML_SUCCESS);
}

FAKE_API const char *nvmlErrorString(nvmlReturn_t result)
{
    size_t n = sizeof g_error_strings / sizeof g_error_strings[0];
    if ((unsigned)result < n && g_error_strings[result] != NULL)
        return g_error_strings[result];
    return "Unknown Error";
}

/* ---- system --------------------------------------------------------------------------------- */

static nvmlReturn_t system_string(const char *key, const char *dflt, char *buf, unsigned length)
{
    nvmlReturn_t rc = system_open(buf);
    if (rc != NVML_SUCCESS)
        return rc;
    return unlock_with(copy_out(buf, length, fx_string(section(), key, dflt)));
}

FAKE_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    return system_string("driverVersion", "580.95.05", version, length);
}

FAKE_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    return system_string("nvmlVersion", "13.580.95.05", version, length);
}

FAKE_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    nvmlReturn_t rc = system_open(cudaDriverVersion);
    if (rc != NVML_SUCCESS)
        return rc;
    *cudaDriverVersion = (int)fx_int(section(), "cudaDriverVersion", 13000);
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

/* ---- enumeration ---------------------------------------------------------------------------- */

FAKE_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    nvmlReturn_t rc = system_open(deviceCount);
    if (rc != NVML_SUCCESS)
        return rc;
    /* Absent cards still count, as cards NVML cannot open do. */
    *deviceCount = device_count();
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t rc = system_open(device);
    if (rc != NVML_SUCCESS)
        return rc;
    if (index >= device_count())
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *device = &g_devices[index];
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

FAKE_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    nvmlReturn_t rc = system_open(device);
    if (rc != NVML_SUCCESS)
        return rc;
    if (uuid == NULL)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    unsigned n = device_count();
    for (unsigned i = 0; i < n; i++) {
        const cJSON *card = fx_card(section(), (int)i);
        const char *candidate = fx_string(card, "uuid", NULL);
        if (candidate == NULL || strcmp(candidate, uuid) != 0)
            continue;
        if (!fx_card_present(card))
            return unlock_with(NVML_ERROR_GPU_IS_LOST);
        *device = &g_devices[i];
        return unlock_with(NVML_SUCCESS);
    }
    return unlock_with(NVML_ERROR_NOT_FOUND);
}

FAKE_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, index, &card, index);
    return rc == NVML_SUCCESS ? unlock_with(rc) : rc;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    /* /dev/nvidiaN numbering follows the index on a host without hidden cards. */
    return nvmlDeviceGetIndex(device, minorNumber);
}

/* ---- identity ------------------------------------------------------------------------------- */

FAKE_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, name, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    return unlock_with(copy_out(name, length, fx_string(card, "name", "NVIDIA Graphics Device")));
}

FAKE_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    const cJSON *card;
    unsigned index;
    nvmlReturn_t rc = device_open(device, uuid, &card, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    char fallback[48];
    /* A stable, well-formed UUID keeps consumers that key on it working with minimal fixtures. */
    snprintf(fallback, sizeof fallback, "GPU-00000000-0000-4000-8000-%012x", index);
    return unlock_with(copy_out(uuid, length, fx_string(card, "uuid", fallback)));
}

static void fill_pci(const cJSON *card, unsigned index, nvmlPciInfo_t *pci)
{
    fx_pci addr = fx_card_pci(card, (int)index);
    memset(pci, 0, sizeof *pci);
    pci->domain = addr.domain;
    pci->bus = addr.bus;
    pci->device = addr.device;
    pci->pciDeviceId = (unsigned)fx_u64(card, "pciDeviceId", NV_DEFAULT_PCI_DEVICE_ID);
    pci->pciSubSystemId = (unsigned)fx_u64(card, "pciSubSystemId", 0);
    snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", addr.domain, addr.bus, addr.device,
             addr.function);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", addr.domain & 0xFFFFu,
             addr.bus, addr.device, addr.function);
}

FAKE_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    const cJSON *card;
    unsigned index;
    nvmlReturn_t rc = device_open(device, pci, &card, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    fill_pci(card, index, pci);
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

FAKE_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, major != NULL && minor != NULL ? major : NULL, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(card, "computeCapability");
    const cJSON *hi = cJSON_GetArrayItem(cc, 0), *lo = cJSON_GetArrayItem(cc, 1);
    *major = cJSON_IsNumber(hi) ? hi->valueint : 8;
    *minor = cJSON_IsNumber(lo) ? lo->valueint : 0;
    return unlock_with(NVML_SUCCESS);
}

/* Lock held. */
static int compute_major(const cJSON *card)
{
    const cJSON *hi = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(card, "computeCapability"), 0);
    return cJSON_IsNumber(hi) ? hi->valueint : 8;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, currentMode != NULL && pendingMode != NULL ? currentMode : NULL,
                                  &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    /* MIG arrived with Ampere (8.x); the fake never enables it. */
    if (compute_major(card) < 8)
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    *currentMode = 0;
    *pendingMode = 0;
    return unlock_with(NVML_SUCCESS);
}

/* ---- telemetry ------------------------------------------------------------------------------ */

static unsigned clamp_unsigned(double v)
{
    if (!(v > 0))
        return 0;
    return v >= (double)UINT_MAX ? UINT_MAX : (unsigned)llround(v);
}

FAKE_API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType,
                                               unsigned int *temp)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, temp, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    if (sensorType != NVML_TEMPERATURE_GPU)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    *temp = clamp_unsigned(fx_wave(card, "temperature", 0));
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temperature)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, temperature, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    if (temperature->version != NVML_TEMPERATURE_V1_VERSION)
        return unlock_with(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    if (temperature->sensorType != NVML_TEMPERATURE_GPU)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    temperature->temperature = (int)lround(fx_wave(card, "temperature", 0));
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, power, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    *power = clamp_unsigned(fx_wave(card, "power", 0) * 1000.0); /* W -> mW */
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, utilization, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    utilization->gpu = fx_percent(card, "utilization");
    utilization->memory = fx_percent(card, "memoryUtilization");
    return unlock_with(NVML_SUCCESS);
}

typedef struct {
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long allocated;
} nv_memory;

/* memoryReserved is the driver's own share; v1 folds it into used, v2 reports it apart. */
static nv_memory memory_of(const cJSON *card)
{
    nv_memory m = { fx_card_memory_total(card), fx_u64(card, "memoryReserved", 0), fx_card_memory_used(card) };
    if (m.reserved > m.total - m.allocated)
        m.reserved = m.total - m.allocated;
    return m;
}

FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, memory, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    nv_memory m = memory_of(card);
    memory->total = m.total;
    memory->used = m.reserved + m.allocated;
    memory->free = m.total - memory->used;
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, memory, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    if (memory->version != NVML_MEMORY_V2_VERSION)
        return unlock_with(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    nv_memory m = memory_of(card);
    memory->total = m.total;
    memory->reserved = m.reserved;
    memory->used = m.allocated;
    memory->free = m.total - m.reserved - m.allocated;
    return unlock_with(NVML_SUCCESS);
}

/* ---- processes ------------------------------------------------------------------------------ */

static void put_process(void *infos, unsigned slot, bool legacy, unsigned pid, uint64_t used)
{
    if (legacy) {
        nvmlProcessInfo_v1_t *v1 = (nvmlProcessInfo_v1_t *)infos + slot;
        memset(v1, 0, sizeof *v1);
        v1->pid = pid;
        v1->usedGpuMemory = used;
        return;
    }
    nvmlProcessInfo_t *v2 = (nvmlProcessInfo_t *)infos + slot;
    memset(v2, 0, sizeof *v2);
    v2->pid = pid;
    v2->usedGpuMemory = used;
    v2->gpuInstanceId = NVML_INSTANCE_ID_NONE;
    v2->computeInstanceId = NVML_INSTANCE_ID_NONE;
}

/* Lock held. Counts entries fx_process accepts, so sizing and filling agree. */
static unsigned process_count(const cJSON *card)
{
    unsigned n = 0, pid;
    uint64_t used;
    for (int i = 0; i < fx_process_count(card); i++)
        n += fx_process(card, i, &pid, &used) ? 1 : 0;
    return n;
}

static nvmlReturn_t running_processes(nvmlDevice_t device, unsigned *infoCount, void *infos, bool legacy)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, infoCount, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned need = process_count(card);
    if (*infoCount < need) {
        *infoCount = need;
        return unlock_with(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    if (need > 0 && infos == NULL)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    unsigned slot = 0, pid;
    uint64_t used;
    for (int i = 0; i < fx_process_count(card); i++)
        if (fx_process(card, i, &pid, &used))
            put_process(infos, slot++, legacy, pid, used);
    *infoCount = slot;
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
    return running_processes(device, infoCount, infos, false);
}

FAKE_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
    return running_processes(device, infoCount, infos, false);
}

FAKE_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                           nvmlProcessInfo_v1_t *infos)
{
    return running_processes(device, infoCount, infos, true);
}

/* ---- events --------------------------------------------------------------------------------- */

/* Lock held. Sets are tracked so a stale or foreign pointer is refused instead of dereferenced. */
static bool set_is_live(nvmlEventSet_t set)
{
    for (struct nvmlEventSet_st *p = g_sets; p != NULL; p = p->next)
        if (p == set)
            return true;
    return false;
}

FAKE_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t rc = system_open(set);
    if (rc != NVML_SUCCESS)
        return rc;
    struct nvmlEventSet_st *created = calloc(1, sizeof *created);
    if (created == NULL)
        return unlock_with(NVML_ERROR_MEMORY);
    created->next = g_sets;
    g_sets = created;
    *set = created;
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    fx_lock();
    if (g_refcount == 0)
        return unlock_with(NVML_ERROR_UNINITIALIZED);
    for (struct nvmlEventSet_st **link = &g_sets; *link != NULL; link = &(*link)->next) {
        if (*link != set)
            continue;
        *link = set->next;
        free(set->seen);
        free(set);
        return unlock_with(NVML_SUCCESS);
    }
    return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
}

FAKE_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    const cJSON *card;
    nvmlReturn_t rc = device_open(device, eventTypes, &card, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    *eventTypes = NV_SUPPORTED_EVENTS;
    return unlock_with(NVML_SUCCESS);
}

FAKE_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                               nvmlEventSet_t set)
{
    const cJSON *card;
    unsigned index;
    nvmlReturn_t rc = device_open(device, set, &card, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    if (!set_is_live(set) || eventTypes == 0)
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    if ((eventTypes & ~NV_SUPPORTED_EVENTS) != 0)
        return unlock_with(NVML_ERROR_NOT_SUPPORTED);
    set->mask[index] |= eventTypes;
    return unlock_with(NVML_SUCCESS);
}

static bool already_seen(const struct nvmlEventSet_st *set, unsigned index, long long id)
{
    for (size_t i = 0; i < set->seen_len; i++)
        if (set->seen[i].index == index && set->seen[i].id == id)
            return true;
    return false;
}

static bool remember_seen(struct nvmlEventSet_st *set, unsigned index, long long id)
{
    if (set->seen_len == set->seen_cap) {
        size_t cap = set->seen_cap == 0 ? 16 : set->seen_cap * 2;
        nv_seen_event *grown = realloc(set->seen, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        set->seen = grown;
        set->seen_cap = cap;
    }
    set->seen[set->seen_len++] = (nv_seen_event){ index, id };
    return true;
}

typedef struct {
    bool found;
    unsigned index;
    fx_xid_event event;
} nv_pending;

/* Lock held. Lowest undelivered id wins; among equal ids the lower card index goes first. */
static nv_pending next_event(const struct nvmlEventSet_st *set)
{
    nv_pending best = { .found = false };
    unsigned n = device_count();
    for (unsigned idx = 0; idx < n; idx++) {
        if ((set->mask[idx] & NVML_EVENT_XID_CRITICAL) == 0)
            continue;
        const cJSON *card = fx_card(section(), (int)idx);
        for (int i = 0; i < fx_xid_count(card); i++) {
            fx_xid_event ev;
            if (!fx_xid(card, i, &ev) || already_seen(set, idx, ev.id))
                continue;
            if (!best.found || ev.id < best.event.id)
                best = (nv_pending){ true, idx, ev };
        }
    }
    return best;
}

static nvmlReturn_t poll_event(nvmlEventSet_t set, nvmlEventData_t *data, bool v2)
{
    fx_lock();
    nvmlReturn_t rc = system_check(data);
    if (rc != NVML_SUCCESS)
        return unlock_with(rc);
    if (!set_is_live(set))
        return unlock_with(NVML_ERROR_INVALID_ARGUMENT);
    nv_pending next = next_event(set);
    if (!next.found)
        return unlock_with(NVML_ERROR_TIMEOUT);
    if (!remember_seen(set, next.index, next.event.id))
        return unlock_with(NVML_ERROR_MEMORY);
    data->device = &g_devices[next.index];
    data->eventType = NVML_EVENT_XID_CRITICAL;
    data->eventData = (unsigned long long)next.event.xid;
    /* The legacy entry point predates the MIG fields: its callers pass a 24-byte struct. */
    if (v2) {
        data->gpuInstanceId = NVML_INSTANCE_ID_NONE;
        data->computeInstanceId = NVML_INSTANCE_ID_NONE;
    }
    return unlock_with(NVML_SUCCESS);
}

static nvmlReturn_t wait_event(nvmlEventSet_t set, nvmlEventData_t *data, unsigned timeoutms, bool v2)
{
    int64_t deadline = fx_monotonic_ms() + timeoutms;
    for (;;) {
        nvmlReturn_t rc = poll_event(set, data, v2);
        int64_t left = deadline - fx_monotonic_ms();
        if (rc != NVML_ERROR_TIMEOUT || left <= 0)
            return rc;
        fx_sleep_ms(left < NV_POLL_MS ? (long)left : NV_POLL_MS);
    }
}

FAKE_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return wait_event(set, data, timeoutms, true);
}

FAKE_API nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return wait_event(set, data, timeoutms, false);
}

__attribute__((destructor)) static void nvml_unload(void)
{
    fx_lock();
    free_all_sets();
    fx_unlock();
}
