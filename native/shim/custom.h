/* What custom.c and library.c share. */
#ifndef GPUPOOL_SHIM_CUSTOM_H
#define GPUPOOL_SHIM_CUSTOM_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

#include "gp_frames.h"

/* The bytes of a fatbin (or its wrapper), cubin or PTX image; *image moves to the image itself. */
size_t gp_image_size(const void **image);
/* Loads an image of `size` bytes on one daemon with op (a library or module load); *out: its handle. */
CUresult gp_load_image_on(uint32_t op, int server, void **out, const void *image, size_t size);
/* A CUkernel of library.c made real on that daemon; any other handle comes back as it is. */
CUresult gp_kernel_for_server(const void *handle, int server, const void **real);

/* A launch's parameters packed as the CUDA ABI lays them out, copied into *buf (the caller frees it). */
CUresult gp_pack_launch_params(CUfunction f, void **kernelParams, void **extra, unsigned char **buf, size_t *len);
/* A launch configuration's attributes as a frame's pairs (n at most GP_FRAME_LAUNCH_EX_ATTRS_MAX). */
void gp_attrs_to_frame(const CUlaunchAttribute *attrs, unsigned n, gp_frame_pair *pairs, uint32_t *count);
/* A cuMemcpy2D* naming a CUDA array, sent as the cuMemcpy3D* of depth 1 of the same kind (copy3d.c). */
CUresult gp_copy2d_as_3d(const CUDA_MEMCPY2D *p, int per_thread, int async, CUstream stream);

#endif
