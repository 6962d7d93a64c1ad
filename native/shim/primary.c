/*
 * Devices' primary contexts as this process left them. A daemon keeps one client's primary contexts
 * apart from every other client's (docs/protocol.md), so their state is exactly what this process's
 * own retains, releases, resets and flags made it: cuDevicePrimaryCtxGetState, which cudart asks
 * before nearly every call that names a device (~170 times in a short PyTorch script), is answered
 * here instead of costing a round trip each time.
 */
#include <pthread.h>

#include "call.h"
#include "gp_shim_decls.h"
#include "shim.h"

#define MAX_PRIMARY 256

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned flags;
    int refs; /* retains not yet released; the context exists while above zero */
} g_primary[MAX_PRIMARY];

static int known(CUdevice dev) { return dev >= 0 && dev < MAX_PRIMARY && gp_device_get(dev) != NULL; }

void gp_primary_retained(CUdevice dev)
{
    if (!known(dev))
        return;
    pthread_mutex_lock(&g_lock);
    g_primary[dev].refs++;
    pthread_mutex_unlock(&g_lock);
}

void gp_primary_released(CUdevice dev)
{
    if (!known(dev))
        return;
    pthread_mutex_lock(&g_lock);
    if (g_primary[dev].refs > 0)
        g_primary[dev].refs--;
    pthread_mutex_unlock(&g_lock);
}

void gp_primary_reset(CUdevice dev)
{
    if (!known(dev))
        return;
    pthread_mutex_lock(&g_lock);
    g_primary[dev].refs = 0;
    pthread_mutex_unlock(&g_lock);
}

/* The daemon keeps the flags across a release or reset too; they apply at the next creation. */
void gp_primary_flags(CUdevice dev, unsigned flags)
{
    if (!known(dev))
        return;
    pthread_mutex_lock(&g_lock);
    g_primary[dev].flags = flags;
    pthread_mutex_unlock(&g_lock);
}

CUresult gp_local_cuDevicePrimaryCtxGetState_v7000(CUdevice dev, unsigned int *flags, int *active)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (!known(dev))
        return CUDA_ERROR_INVALID_DEVICE;
    if (flags == NULL || active == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    *flags = g_primary[dev].flags;
    *active = g_primary[dev].refs > 0;
    pthread_mutex_unlock(&g_lock);
    return CUDA_SUCCESS;
}
