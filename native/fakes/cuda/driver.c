/* Process-wide state of the emulated driver: the lock, cuInit, versions and the counters. */
#include "emu.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMU_DEFAULT_KERNEL_NS 5000ULL
#define EMU_DEFAULT_COPY_BYTES_PER_NS 25.0

emu_state emu_g = {
    .contexts = { &emu_g.contexts, &emu_g.contexts },
    .libraries = { &emu_g.libraries, &emu_g.libraries },
    .pools = { &emu_g.pools, &emu_g.pools },
    .physicals = { &emu_g.physicals, &emu_g.physicals },
};

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

void emu_lock(void)
{
    pthread_mutex_lock(&g_mutex);
}

void emu_unlock(void)
{
    pthread_mutex_unlock(&g_mutex);
}

CUresult emu_enter(void)
{
    emu_lock();
    return emu_g.initialized ? CUDA_SUCCESS : emu_leave(CUDA_ERROR_NOT_INITIALIZED);
}

unsigned long long emu_new_id(void)
{
    return ++emu_g.next_id;
}

/* ---- configuration from the environment ----------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *text = getenv(name);
    char *end = NULL;
    if (text == NULL || *text == '\0')
        return dflt;
    unsigned long long v = strtoull(text, &end, 10);
    return end != NULL && *end == '\0' ? (uint64_t)v : dflt;
}

static double env_positive(const char *name, double dflt)
{
    const char *text = getenv(name);
    char *end = NULL;
    if (text == NULL || *text == '\0')
        return dflt;
    double v = strtod(text, &end);
    return end != NULL && *end == '\0' && v > 0 ? v : dflt;
}

/* ---- devices from the fixture (fixture lock held) -------------------------------------------- */

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx": 32 hex digits after the prefix, dashes ignored. */
static bool parse_uuid(const char *text, unsigned char out[16])
{
    if (text == NULL || strncmp(text, "GPU-", 4) != 0)
        return false;
    int digits = 0;
    for (const char *p = text + 4; *p != '\0'; p++) {
        int v = fx_hex_digit(*p);
        if (*p == '-')
            continue;
        if (v < 0 || digits == 32)
            return false;
        out[digits / 2] = (unsigned char)(digits % 2 == 0 ? v << 4 : out[digits / 2] | v);
        digits++;
    }
    return digits == 32;
}

/* The UUID the fake NVML synthesises for a card without one, so both libraries agree. */
static void card_uuid(const cJSON *card, int index, unsigned char out[16])
{
    char fallback[48];
    snprintf(fallback, sizeof fallback, "GPU-00000000-0000-4000-8000-%012x", (unsigned)index);
    if (!parse_uuid(fx_string(card, "uuid", NULL), out))
        parse_uuid(fallback, out);
}

static void card_compute_capability(const cJSON *card, emu_device *dev)
{
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(card, "computeCapability");
    const cJSON *hi = cJSON_GetArrayItem(cc, 0), *lo = cJSON_GetArrayItem(cc, 1);
    /* Same default as the fake NVML: an A100-class card. */
    dev->cc_major = cJSON_IsNumber(hi) ? hi->valueint : 8;
    dev->cc_minor = cJSON_IsNumber(lo) ? lo->valueint : 0;
}

static int clamp_int(double v)
{
    if (!(v > INT_MIN))
        return INT_MIN;
    return v >= INT_MAX ? INT_MAX : (int)v;
}

static void card_overrides(const cJSON *card, emu_device *dev)
{
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(card, "attributes");
    const cJSON *item;
    size_t n = 0;
    if (!cJSON_IsObject(attrs))
        return;
    dev->overrides = calloc((size_t)cJSON_GetArraySize(attrs) + 1, sizeof *dev->overrides);
    if (dev->overrides == NULL)
        return;
    cJSON_ArrayForEach(item, attrs) {
        int attr = emu_attribute_by_name(item->string);
        if (attr < 0 || !cJSON_IsNumber(item)) {
            fprintf(stderr, "fake " EMU_LIB ": card %d: ignoring attribute override \"%s\"\n", dev->ordinal,
                    item->string != NULL ? item->string : "");
            continue;
        }
        dev->overrides[n++] = (emu_attr_override){ attr, clamp_int(item->valuedouble) };
    }
    dev->override_count = n;
}

static void load_card(const cJSON *card, int index, emu_device *dev)
{
    memset(dev, 0, sizeof *dev);
    dev->ordinal = index;
    snprintf(dev->name, sizeof dev->name, "%s", fx_string(card, "name", "NVIDIA Graphics Device"));
    card_uuid(card, index, dev->uuid);
    dev->pci = fx_card_pci(card, index);
    dev->pci_device_id = (unsigned)fx_u64(card, "pciDeviceId", 0x233010DEu);
    dev->pci_subsystem_id = (unsigned)fx_u64(card, "pciSubSystemId", 0);
    dev->total_mem = fx_card_memory_total(card);
    dev->reserved_mem = fx_u64(card, "memoryReserved", 0);
    if (dev->reserved_mem > dev->total_mem)
        dev->reserved_mem = dev->total_mem;
    card_compute_capability(card, dev);
    card_overrides(card, dev);
}

static void unload_devices(void)
{
    for (int i = 0; i < emu_g.device_count; i++) {
        emu_device *dev = &emu_g.devices[i];
        free(dev->overrides);
        emu_map_free(&dev->allocs);
        emu_release_device_space(dev);
        free(dev->primary);
    }
    emu_g.device_count = 0;
}

/* Fixture lock held. */
static CUresult load_devices(void)
{
    if (fx_refresh() != FX_LOADED) {
        fx_report(EMU_LIB);
        return CUDA_ERROR_NO_DEVICE;
    }
    const cJSON *section = fx_section(EMU_VENDOR);
    int n = fx_card_count(section);
    if (n <= 0)
        return CUDA_ERROR_NO_DEVICE;
    emu_g.address_salt = env_u64("GPUPOOL_EMU_ADDRESS_SALT", 0);
    if (n > EMU_MAX_DEVICES)
        n = EMU_MAX_DEVICES;
    for (int i = 0; i < n; i++) {
        load_card(fx_card(section, i), i, &emu_g.devices[i]);
        emu_g.device_count = i + 1;
        if (!emu_reserve_device_space(&emu_g.devices[i])) {
            unload_devices();
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    if (!emu_reserve_vmm_space()) {
        unload_devices();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

/* ---- entry points --------------------------------------------------------------------------- */

CUresult CUDAAPI cuInit(unsigned int Flags)
{
    if (Flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    if (emu_g.initialized)
        return emu_leave(CUDA_SUCCESS);
    /* Devices are read once: a real driver does not change its devices after initialisation. */
    fx_lock();
    CUresult rc = load_devices();
    fx_unlock();
    if (rc != CUDA_SUCCESS)
        return emu_leave(rc);
    emu_g.kernel_ns = env_u64("GPUPOOL_EMU_KERNEL_NS", EMU_DEFAULT_KERNEL_NS);
    emu_g.copy_bytes_per_ns = env_positive("GPUPOOL_EMU_COPY_BYTES_PER_NS", EMU_DEFAULT_COPY_BYTES_PER_NS);
    /* Opt-in: kernels no kernel library implements run as timed no-ops (docs/emulator.md). */
    emu_g.stats.noop_kernels = env_u64("GPUPOOL_EMU_NOOP_KERNELS", 0) != 0;
    emu_registry_load();
    emu_g.initialized = true;
    return emu_leave(CUDA_SUCCESS);
}

/* Follows the fixture like the fake NVML's nvmlSystemGetCudaDriverVersion. */
int emu_driver_version(void)
{
    fx_lock();
    long long version = EMU_DRIVER_VERSION;
    if (fx_refresh() == FX_LOADED)
        version = fx_int(fx_section(EMU_VENDOR), "cudaDriverVersion", EMU_DRIVER_VERSION);
    fx_unlock();
    return version > INT_MAX || version < 0 ? EMU_DRIVER_VERSION : (int)version;
}

/* Works before cuInit, as the real one does. */
CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
    if (driverVersion == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = emu_driver_version();
    return CUDA_SUCCESS;
}

CUresult gpupoolEmuStats(gpupool_emu_stats *out)
{
    if (out == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    *out = emu_g.stats;
    return emu_leave(CUDA_SUCCESS);
}

unsigned gpupoolEmuCounters(const char **names, unsigned long long *values, unsigned max)
{
    gpupool_emu_stats s;
    (void)gpupoolEmuStats(&s);
    const struct {
        const char *name;
        unsigned long long value;
    } all[] = {
        { "contexts", s.contexts },
        { "allocations", s.allocations },
        { "allocatedBytes", s.allocated_bytes },
        { "hostAllocations", s.host_allocations },
        { "hostBytes", s.host_bytes },
        { "modules", s.modules },
        { "libraries", s.libraries },
        { "streams", s.streams },
        { "events", s.events },
        { "kernelsLaunched", s.kernels_launched },
        { "arrays", s.arrays },
        { "mipmappedArrays", s.mipmapped_arrays },
        { "arrayBytes", s.array_bytes },
        { "memPools", s.mem_pools },
        { "poolAllocations", s.pool_allocations },
        { "poolBytes", s.pool_bytes },
        { "poolCachedBytes", s.pool_cached_bytes },
        { "vmmAllocations", s.vmm_allocations },
        { "vmmBytes", s.vmm_bytes },
        { "vmmReservations", s.vmm_reservations },
        { "vmmMappings", s.vmm_mappings },
        { "noopKernels", s.noop_kernels },
        { "noopLaunches", s.noop_launches },
    };
    unsigned n = (unsigned)(sizeof all / sizeof all[0]);
    for (unsigned i = 0; i < n && i < max; i++) {
        if (names != NULL)
            names[i] = all[i].name;
        if (values != NULL)
            values[i] = all[i].value;
    }
    return n;
}

/* Frees everything on dlclose/exit so leak checkers see a clean unload. */
__attribute__((destructor)) static void emu_unload(void)
{
    emu_lock();
    EMU_FOR_EACH_SAFE (pos, &emu_g.contexts)
        emu_ctx_release_all(EMU_CONTAINER(pos, struct CUctx_st, link));
    emu_free_libraries();
    emu_free_pools();
    emu_release_vmm_space();
    unload_devices();
    emu_map_free(&emu_g.host_allocs);
    emu_handles_clear();
    emu_registry_unload();
    emu_g.initialized = false;
    emu_unlock();
}

/* No profiler is ever attached to the emulator: the markers succeed and do nothing, as the driver's do then. */
CUresult CUDAAPI cuProfilerStart(void)
{
    return emu_g.initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult CUDAAPI cuProfilerStop(void)
{
    return emu_g.initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}
