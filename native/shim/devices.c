/*
 * The pool's devices, as the daemons described them when the client connected, and the driver calls
 * that only read that description: they are answered here, without a round trip.
 *
 * Compiled under cuda.h, so its macros give each definition the versioned name the real driver
 * exports (cuDeviceTotalMem is cuDeviceTotalMem_v2, cuDeviceGetUuid is cuDeviceGetUuid_v2).
 */
#include "shim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the registry ---------------------------------------------------------------------------- */

static gp_device *devices;
static int device_count;

static void set_attribute(gp_device *d, CUdevice_attribute attrib, int value)
{
    d->attributes[attrib] = value;
    d->attribute_known[attrib] = 1;
}

void gp_devices_set(const gp_device *devs, int n)
{
    gp_device *copy = NULL;
    if (n > 0) {
        copy = malloc((size_t)n * sizeof *copy);
        if (!copy) {
            gp_debug("no memory for %d devices; reporting none", n);
            n = 0;
        }
    }
    for (int i = 0; i < n; i++) {
        copy[i] = devs[i];
        /* One source for the PCI location: cudart hashes the attributes into the integrity check. */
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, copy[i].pci_domain);
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, copy[i].pci_bus);
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, copy[i].pci_device);
        /*
         * The card sits in the daemon's host: it cannot map this process's memory, so
         * cuMemHostGetDevicePointer is not carried and no attribute may promise it (cuda-samples
         * then take their copy path instead of zero-copy).
         */
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, 0);
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM, 0);
        /* One grid over several cards (cuLaunchCooperativeKernelMultiDevice, deprecated) is not carried:
         * a job's cards may sit behind different daemons. Single-card cooperative launches are. */
        set_attribute(&copy[i], CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH, 0);
    }
    free(devices);
    devices = copy;
    device_count = n;
}

int gp_device_count(void)
{
    return device_count;
}

const gp_device *gp_device_get(int ordinal)
{
    if (ordinal < 0 || ordinal >= device_count)
        return NULL;
    return &devices[ordinal];
}

/* ---- device queries -------------------------------------------------------------------------- */

/* The checks every device query starts with, in the driver's order: initialised, output, device. */
static CUresult query_start(const void *out, CUdevice dev, const gp_device **d)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    *d = gp_device_get(dev);
    return *d ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

/* 1 and the value when the daemon reported the attribute, 0 otherwise. */
static int attribute_of(const gp_device *d, int attrib, int *value)
{
    if (attrib < 0 || attrib >= GP_MAX_ATTRIBUTES || !d->attribute_known[attrib])
        return 0;
    *value = d->attributes[attrib];
    return 1;
}

/* Not gated on cuInit: cudart asks for the version before it calls cuInit, as the driver allows. */
GP_EXPORT CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = GP_DRIVER_VERSION;
    gp_debug("cuDriverGetVersion -> %d", GP_DRIVER_VERSION);
    return CUDA_SUCCESS;
}

GP_EXPORT CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
    const gp_device *d;
    CUresult r = query_start(device, ordinal, &d);
    if (r == CUDA_SUCCESS)
        *device = ordinal;
    gp_debug("cuDeviceGet(%d) -> %d", ordinal, r);
    return r;
}

GP_EXPORT CUresult CUDAAPI cuDeviceGetCount(int *count)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    *count = gp_device_count();
    gp_debug("cuDeviceGetCount -> %d devices", *count);
    return CUDA_SUCCESS;
}

GP_EXPORT CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(name, dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    if (len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", d->name); /* truncated to len - 1 characters, as the driver does */
    gp_debug("cuDeviceGetName(%d) -> %s", dev, name);
    return CUDA_SUCCESS;
}

GP_EXPORT CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(bytes, dev, &d);
    if (r == CUDA_SUCCESS)
        *bytes = d->total_mem;
    gp_debug("cuDeviceTotalMem(%d) -> %d", dev, r);
    return r;
}

GP_EXPORT CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(pi, dev, &d);
    if (r == CUDA_SUCCESS && !attribute_of(d, (int)attrib, pi))
        r = CUDA_ERROR_INVALID_VALUE;
    gp_debug("cuDeviceGetAttribute(%d, %d) -> %d, %d", (int)attrib, dev, r, r ? 0 : *pi);
    return r;
}

static CUresult get_uuid(CUuuid *uuid, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(uuid, dev, &d);
    if (r == CUDA_SUCCESS)
        memcpy(uuid->bytes, d->uuid, sizeof uuid->bytes);
    gp_debug("cuDeviceGetUuid(%d) -> %d", dev, r);
    return r;
}

/* The _v2 variant differs from the first only for MIG instances, which the pool does not hand out. */
GP_EXPORT CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    return get_uuid(uuid, dev);
}

/* cuda.h maps cuDeviceGetUuid onto _v2; the original entry point is still exported by the driver. */
#undef cuDeviceGetUuid
GP_EXPORT CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
GP_EXPORT CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
    return get_uuid(uuid, dev);
}

GP_EXPORT CUresult CUDAAPI cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(pciBusId, dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    if (len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    /* The CUDA driver's form has a 4-digit domain ("0000:41:00.0"; NVML's has 8). Like the driver,
     * a buffer too short gets what fits, and CUDA_ERROR_INVALID_VALUE. */
    int needed = snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", (unsigned)d->pci_domain,
                          (unsigned)d->pci_bus, (unsigned)d->pci_device);
    gp_debug("cuDeviceGetPCIBusId(%d) -> %s", dev, pciBusId);
    return needed < len ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Reads up to max_digits hex digits at *p, advancing it; returns how many (0: none there). */
static int read_hex(const char **p, int max_digits, unsigned *value)
{
    int digits = 0;
    unsigned v = 0;
    while (digits < max_digits && isxdigit((unsigned char)**p)) {
        char c = (char)tolower((unsigned char)**p);
        v = v * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : c - 'a' + 10);
        (*p)++;
        digits++;
    }
    *value = v;
    return digits;
}

/*
 * The forms cuDeviceGetByPCIBusId documents: domain:bus:device.function, domain:bus:device and
 * bus:device.function, hex fields of any width up to their size, as the real driver accepts them
 * ("00000000:41:00.0" as NVML writes it, "0000:41:00.0", "0:41:0.0"); nothing may follow.
 */
static int parse_pci_bus_id(const char *s, unsigned *domain, unsigned *bus, unsigned *device,
                            unsigned *function)
{
    const char *p = s;
    unsigned first, second, third;
    int first_digits = read_hex(&p, 8, &first);
    if (!first_digits || *p++ != ':' || !read_hex(&p, 2, &second))
        return 0;
    if (*p == ':') {
        p++;
        if (!read_hex(&p, 2, &third))
            return 0;
        *domain = first;
        *bus = second;
        *device = third;
    } else {
        if (first_digits > 2) /* "0001:c1" is a domain and a bus, not a bus and a device */
            return 0;
        *domain = 0;
        *bus = first;
        *device = second;
    }
    *function = 0;
    if (*p == '.') {
        p++;
        if (!read_hex(&p, 1, function))
            return 0;
    }
    return *p == '\0';
}

GP_EXPORT CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    unsigned domain, bus, device, function;
    if (!dev || !pciBusId || !parse_pci_bus_id(pciBusId, &domain, &bus, &device, &function))
        return CUDA_ERROR_INVALID_VALUE;
    for (int i = 0; function == 0 && i < gp_device_count(); i++) { /* GPUs are function 0 */
        const gp_device *d = gp_device_get(i);
        if ((unsigned)d->pci_domain == domain && (unsigned)d->pci_bus == bus &&
            (unsigned)d->pci_device == device) {
            *dev = i;
            gp_debug("cuDeviceGetByPCIBusId(%s) -> device %d", pciBusId, i);
            return CUDA_SUCCESS;
        }
    }
    gp_debug("cuDeviceGetByPCIBusId(%s) -> no such device", pciBusId);
    return CUDA_ERROR_INVALID_DEVICE;
}

GP_EXPORT CUresult CUDAAPI cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(major, dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    if (!minor || !attribute_of(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, major) ||
        !attribute_of(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, minor))
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

/* The legacy property block, field by field from the attributes it mirrors. */
GP_EXPORT CUresult CUDAAPI cuDeviceGetProperties(CUdevprop *prop, CUdevice dev)
{
    const gp_device *d;
    CUresult r = query_start(prop, dev, &d);
    if (r != CUDA_SUCCESS)
        return r;
    const struct {
        int *field;
        CUdevice_attribute attrib;
    } fields[] = {
        {&prop->maxThreadsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK},
        {&prop->maxThreadsDim[0], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X},
        {&prop->maxThreadsDim[1], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y},
        {&prop->maxThreadsDim[2], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z},
        {&prop->maxGridSize[0], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X},
        {&prop->maxGridSize[1], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y},
        {&prop->maxGridSize[2], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z},
        {&prop->sharedMemPerBlock, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK},
        {&prop->totalConstantMemory, CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY},
        {&prop->SIMDWidth, CU_DEVICE_ATTRIBUTE_WARP_SIZE},
        {&prop->memPitch, CU_DEVICE_ATTRIBUTE_MAX_PITCH},
        {&prop->regsPerBlock, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK},
        {&prop->clockRate, CU_DEVICE_ATTRIBUTE_CLOCK_RATE},
        {&prop->textureAlign, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!attribute_of(d, (int)fields[i].attrib, fields[i].field))
            return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

