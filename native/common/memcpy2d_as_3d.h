/*
 * A pitched 2D copy as the 3D copy of depth 1 it is: what the emulated driver runs every 2D copy as,
 * and what the client library sends a 2D copy naming a CUDA array as. Header-only (C).
 */
#ifndef GPUPOOL_MEMCPY2D_AS_3D_H
#define GPUPOOL_MEMCPY2D_AS_3D_H

#include <cuda.h>

static inline CUDA_MEMCPY3D gp_memcpy2d_as_3d(const CUDA_MEMCPY2D *p)
{
    CUDA_MEMCPY3D m = {
        .srcXInBytes = p->srcXInBytes, .srcY = p->srcY, .srcMemoryType = p->srcMemoryType, .srcHost = p->srcHost,
        .srcDevice = p->srcDevice, .srcArray = p->srcArray, .srcPitch = p->srcPitch, .srcHeight = p->Height,
        .dstXInBytes = p->dstXInBytes, .dstY = p->dstY, .dstMemoryType = p->dstMemoryType, .dstHost = p->dstHost,
        .dstDevice = p->dstDevice, .dstArray = p->dstArray, .dstPitch = p->dstPitch, .dstHeight = p->Height,
        .WidthInBytes = p->WidthInBytes, .Height = p->Height, .Depth = 1,
    };
    return m;
}

#endif
