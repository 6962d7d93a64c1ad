/* Device enumeration and identity: the NVIDIA cards of the fixture, in the fake NVML's order. */
#include "emu.h"

#include <stdio.h>
#include <string.h>

CUresult emu_device_get(CUdevice dev, emu_device **out)
{
    if (dev < 0 || dev >= emu_g.device_count)
        return CUDA_ERROR_INVALID_DEVICE;
    *out = &emu_g.devices[dev];
    return CUDA_SUCCESS;
}

/* Locks, checks the out pointer and the device: locked with *device set on success. */
CUresult emu_enter_device(CUdevice dev, const void *out, emu_device **device)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (out == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    rc = emu_device_get(dev, device);
    return rc == CUDA_SUCCESS ? rc : emu_leave(rc);
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (device == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (ordinal < 0 || ordinal >= emu_g.device_count)
        return emu_leave(CUDA_ERROR_INVALID_DEVICE);
    *device = ordinal;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDeviceGetCount(int *count)
{
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (count == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    *count = emu_g.device_count;
    return emu_leave(CUDA_SUCCESS);
}

/* Truncates to len - 1 characters, as the real driver does with a short buffer. */
CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, name, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (len <= 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    snprintf(name, (size_t)len, "%s", device->name);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, bytes, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    *bytes = (size_t)device->total_mem;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, uuid, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    memcpy(uuid->bytes, device->uuid, sizeof uuid->bytes);
    return emu_leave(CUDA_SUCCESS);
}

/* The pre-11.4 variant differs only for MIG instances, which the emulator does not have. */
CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
    return cuDeviceGetUuid_v2(uuid, dev);
}

CUresult CUDAAPI cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, pciBusId, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (len <= 0)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    /* CUDA's form: 4-digit domain, lower-case hex ("0000:17:00.0"), unlike NVML's 8 digits. */
    snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.%x", device->pci.domain & 0xffffu, device->pci.bus,
             device->pci.device, device->pci.function);
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
    fx_pci want;
    CUresult rc = emu_enter();
    if (rc != CUDA_SUCCESS)
        return rc;
    if (dev == NULL || pciBusId == NULL)
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    if (!fx_pci_parse(pciBusId, &want))
        return emu_leave(CUDA_ERROR_INVALID_VALUE);
    for (int i = 0; i < emu_g.device_count; i++) {
        const fx_pci *have = &emu_g.devices[i].pci;
        if (have->domain == want.domain && have->bus == want.bus && have->device == want.device &&
            have->function == want.function) {
            *dev = i;
            return emu_leave(CUDA_SUCCESS);
        }
    }
    return emu_leave(CUDA_ERROR_INVALID_DEVICE);
}

CUresult CUDAAPI cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
    emu_device *device;
    CUresult rc = emu_enter_device(dev, major != NULL && minor != NULL ? major : NULL, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    *major = device->cc_major;
    *minor = device->cc_minor;
    return emu_leave(CUDA_SUCCESS);
}

CUresult CUDAAPI cuDeviceGetProperties(CUdevprop *prop, CUdevice dev)
{
    emu_device *d;
    CUresult rc = emu_enter_device(dev, prop, &d);
    if (rc != CUDA_SUCCESS)
        return rc;
    prop->maxThreadsPerBlock = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
    prop->maxThreadsDim[0] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
    prop->maxThreadsDim[1] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y);
    prop->maxThreadsDim[2] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z);
    prop->maxGridSize[0] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X);
    prop->maxGridSize[1] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y);
    prop->maxGridSize[2] = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z);
    prop->sharedMemPerBlock = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
    prop->totalConstantMemory = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY);
    prop->SIMDWidth = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
    prop->memPitch = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_PITCH);
    prop->regsPerBlock = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
    prop->clockRate = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
    prop->textureAlign = emu_device_attribute(d, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT);
    return emu_leave(CUDA_SUCCESS);
}

/* Peer access is not modelled: every pair answers "no", as cards without P2P do. */
CUresult CUDAAPI cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev)
{
    emu_device *device, *peer;
    CUresult rc = emu_enter_device(dev, canAccessPeer, &device);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = emu_device_get(peerDev, &peer);
    if (rc == CUDA_SUCCESS)
        *canAccessPeer = 0;
    return emu_leave(rc);
}
