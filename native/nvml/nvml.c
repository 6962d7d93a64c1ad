/*
 * The client side of NVML: the libnvidia-ml.so.1 that `gpupool run` puts in the job's library path
 * beside gpupool's libcuda.so.1 (docs/operations.md, "NVML inside the job"). Jobs ask NVML as well as
 * CUDA (PyTorch counts devices through it, vLLM detects CUDA with nvmlInit, people type nvidia-smi),
 * and the host's own NVML, if any, describes cards the job was not given. This one answers from the
 * client library: the job's pool cards only, in its device order, with the real cards' names, UUIDs
 * and PCI locations; total memory is the job's quota and used memory what the job holds; the running
 * processes are the job's own. Figures only the daemon's NVML knows (utilization, temperature, power,
 * health) come from that daemon (native/shim/card_figures.c), or are NVML_ERROR_NOT_SUPPORTED rather
 * than made up.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "../fakes/nvml_api.h"

#define NVML_EXPORT __attribute__((visibility("default")))
#define MAX_DEVICES 256

/* In the client library (native/shim/client.c, card_figures.c). */
int gpupoolDeviceMemoryHeld(int dev, unsigned long long *bytes);
#include "../shim/figures.h"

struct nvmlDevice_st {
    int index;
};

static struct nvmlDevice_st g_devices[MAX_DEVICES];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_inits; /* nvmlInit nests: each needs its nvmlShutdown */
static int g_count;

static nvmlReturn_t init(void)
{
    pthread_mutex_lock(&g_lock);
    nvmlReturn_t r = NVML_SUCCESS;
    if (g_inits == 0) {
        int count = 0;
        /* The client library connects to the job's daemons here, as it would for the job's first CUDA call. */
        if (cuInit(0) != CUDA_SUCCESS || cuDeviceGetCount(&count) != CUDA_SUCCESS)
            r = NVML_ERROR_DRIVER_NOT_LOADED;
        else
            g_count = count > MAX_DEVICES ? MAX_DEVICES : count;
        for (int i = 0; i < g_count; i++)
            g_devices[i].index = i;
    }
    if (r == NVML_SUCCESS)
        g_inits++;
    pthread_mutex_unlock(&g_lock);
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlInit_v2(void) { return init(); }
NVML_EXPORT nvmlReturn_t nvmlInit(void) { return init(); }
NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return init();
}

NVML_EXPORT nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&g_lock);
    nvmlReturn_t r = g_inits > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
    if (g_inits > 0)
        g_inits--;
    pthread_mutex_unlock(&g_lock);
    return r;
}

static int initialized(void)
{
    pthread_mutex_lock(&g_lock);
    int ok = g_inits > 0;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

NVML_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

/* The device behind a handle: one of ours, while initialised. */
static nvmlReturn_t device_of(nvmlDevice_t device, int *index)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || device < g_devices || device >= g_devices + g_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *index = device->index;
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src)
{
    if (dst == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (deviceCount == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = (unsigned)g_count;
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount) { return nvmlDeviceGetCount_v2(deviceCount); }

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || index >= (unsigned)g_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_devices[index];
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    int i;
    nvmlReturn_t r = device_of(device, &i);
    if (r == NVML_SUCCESS && index == NULL)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *index = (unsigned)i;
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    int i;
    char buf[256];
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (cuDeviceGetName(buf, sizeof buf, i) != CUDA_SUCCESS)
        return NVML_ERROR_UNKNOWN;
    return copy_string(name, length, buf);
}

/* NVML's form of a UUID: "GPU-" and the 16 bytes as 8-4-4-4-12 hex digits. */
static int uuid_text(int i, char out[41])
{
    CUuuid id;
    if (cuDeviceGetUuid_v2(&id, i) != CUDA_SUCCESS)
        return 0;
    const unsigned char *b = (const unsigned char *)id.bytes;
    snprintf(out, 41, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 1;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    int i;
    char text[41];
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (!uuid_text(i, text))
        return NVML_ERROR_UNKNOWN;
    return copy_string(uuid, length, text);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (uuid == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    char text[41];
    for (int i = 0; i < g_count; i++) {
        if (uuid_text(i, text) && strcasecmp(text, uuid) == 0) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

static int attribute(int i, CUdevice_attribute a)
{
    int v = 0;
    return cuDeviceGetAttribute(&v, a, i) == CUDA_SUCCESS ? v : 0;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    int i;
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    pci->domain = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
    pci->bus = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
    pci->device = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
    pci->pciDeviceId = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID);
    pci->pciSubSystemId = (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_GPU_PCI_SUBSYSTEM_ID);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.0", pci->domain & 0xffffu, pci->bus, pci->device);
    snprintf(pci->busId, sizeof pci->busId, "%08x:%02x:%02x.0", pci->domain, pci->bus, pci->device);
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci) { return nvmlDeviceGetPciInfo_v3(device, pci); }

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    int i;
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (major == NULL || minor == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *major = attribute(i, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    *minor = attribute(i, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    return NVML_SUCCESS;
}

/* Total: the job's quota on the card (what cuDeviceTotalMem reports under gpupool); used: the job's own. */
static nvmlReturn_t memory(nvmlDevice_t device, unsigned long long *total, unsigned long long *used)
{
    int i;
    size_t bytes = 0;
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (cuDeviceTotalMem_v2(&bytes, i) != CUDA_SUCCESS || gpupoolDeviceMemoryHeld(i, used) != 0)
        return NVML_ERROR_UNKNOWN;
    *total = bytes;
    if (*used > *total)
        *used = *total;
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *mem)
{
    if (mem == NULL)
        return initialized() ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
    unsigned long long total = 0, used = 0;
    nvmlReturn_t r = memory(device, &total, &used);
    if (r == NVML_SUCCESS)
        *mem = (nvmlMemory_t){ total, total - used, used };
    return r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *mem)
{
    if (mem == NULL)
        return initialized() ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_UNINITIALIZED;
    if (mem->version != NVML_MEMORY_V2_VERSION)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    unsigned long long total = 0, used = 0;
    nvmlReturn_t r = memory(device, &total, &used);
    if (r == NVML_SUCCESS) {
        mem->total = total;
        mem->reserved = 0;
        mem->used = used;
        mem->free = total - used;
    }
    return r;
}

/* The job's own process, with what it holds on the card, when it holds anything there. */
static nvmlReturn_t processes(nvmlDevice_t device, unsigned int *count, void *infos, size_t size)
{
    unsigned long long total = 0, used = 0;
    nvmlReturn_t r = count == NULL ? NVML_ERROR_INVALID_ARGUMENT : memory(device, &total, &used);
    if (r != NVML_SUCCESS)
        return r;
    unsigned need = used > 0 ? 1 : 0, room = *count;
    *count = need;
    if (need > room)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    if (need == 1) {
        if (infos == NULL)
            return NVML_ERROR_INVALID_ARGUMENT;
        nvmlProcessInfo_t p = { (unsigned)getpid(), used, NVML_INSTANCE_ID_NONE, NVML_INSTANCE_ID_NONE };
        memcpy(infos, &p, size);
    }
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    return processes(device, infoCount, infos, sizeof *infos);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
    return processes(device, infoCount, infos, sizeof *infos);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_v1_t *infos)
{
    return processes(device, infoCount, infos, sizeof *infos);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    if (cudaDriverVersion == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return cuDriverGetVersion(cudaDriverVersion) == CUDA_SUCCESS ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) { return nvmlSystemGetCudaDriverVersion(cudaDriverVersion); }

/*
 * Figures of the serving daemon's own NVML, as its /metrics last showed them (native/shim/card_figures.c):
 * NOT_SUPPORTED when that daemon has no such figure (or could not be read), never made up. A card the
 * daemon marks unhealthy is NVML's lost card: the job's work on it fails too.
 */
static nvmlReturn_t figures_of(nvmlDevice_t device, gpupool_figures *f)
{
    int i;
    nvmlReturn_t r = device_of(device, &i);
    if (r != NVML_SUCCESS)
        return r;
    if (gpupoolDeviceFigures(i, f) != 0)
        return NVML_ERROR_NOT_SUPPORTED;
    return f->healthy == 0 ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    gpupool_figures f;
    nvmlReturn_t r = figures_of(device, &f);
    if (r == NVML_SUCCESS && utilization == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (r != NVML_SUCCESS || isnan(f.gpu_percent) || isnan(f.memory_percent))
        return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
    utilization->gpu = (unsigned)lround(f.gpu_percent);
    utilization->memory = (unsigned)lround(f.memory_percent);
    return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType, unsigned int *temp)
{
    gpupool_figures f;
    nvmlReturn_t r = figures_of(device, &f);
    if (r == NVML_SUCCESS && (temp == NULL || sensorType != NVML_TEMPERATURE_GPU))
        return NVML_ERROR_INVALID_ARGUMENT;
    if (r != NVML_SUCCESS || isnan(f.temperature_c))
        return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
    *temp = (unsigned)lround(f.temperature_c);
    return NVML_SUCCESS;
}

/* NVML reports milliwatts. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    gpupool_figures f;
    nvmlReturn_t r = figures_of(device, &f);
    if (r == NVML_SUCCESS && power == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (r != NVML_SUCCESS || isnan(f.power_w))
        return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
    *power = (unsigned)lround(f.power_w * 1000.0);
    return NVML_SUCCESS;
}

/* The pool hands out whole cards, never MIG instances. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    int i;
    (void)currentMode, (void)pendingMode;
    nvmlReturn_t r = device_of(device, &i);
    return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}

/* PyTorch finds a card by its PCI location (its report of who uses memory when an allocation fails). */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    if (!initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (pciBusId == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned domain = 0, bus = 0, dev = 0, fn = 0;
    if (sscanf(pciBusId, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < g_count; i++) {
        if ((unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID) == domain && (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID) == bus &&
            (unsigned)attribute(i, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID) == dev) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

/* A job's cards are linked to nothing it can see: no NVLink, no fabric. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t device, unsigned int link, int *type)
{
    int i;
    (void)link, (void)type;
    nvmlReturn_t r = device_of(device, &i);
    return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    int i;
    (void)link, (void)pci;
    nvmlReturn_t r = device_of(device, &i);
    return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuFabricInfoV(nvmlDevice_t device, void *info)
{
    int i;
    (void)info;
    nvmlReturn_t r = device_of(device, &i);
    return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}
