/*
 * CPU kernels of 2_Concepts_and_Techniques/particles (see kernels.c): its integrate functor as Thrust's
 * for_each launches it (CUB's for_each static_kernel), calcHashD, reorderDataAndFindCellStartD and
 * collideD, reading the simulation's parameters from its __constant__ cudaParams. Its sort_by_key is
 * CUB's radix sort (thrust_sort.c).
 */
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { float x, y, z; } f3;
typedef struct { float x, y, z, w; } f4;

/* The sample's SimParams (particles_kernel.cuh), as its __constant__ cudaParams holds it. */
typedef struct {
    f3 colliderPos;
    float colliderRadius;
    f3 gravity;
    float globalDamping;
    float particleRadius;
    uint32_t gridSize[3];
    uint32_t numCells;
    f3 worldOrigin;
    f3 cellSize;
    uint32_t numBodies;
    uint32_t maxParticlesPerCell;
    float spring;
    float damping;
    float shear;
    float attraction;
    float boundaryDamping;
} sim_params;

static const sim_params *params_of(const gpupool_emu_launch *l)
{
    size_t bytes = 0;
    const sim_params *p = l->global(l, "cudaParams", &bytes);
    return p != NULL && bytes >= sizeof *p ? p : NULL;
}

static f3 add(f3 a, f3 b) { return (f3){ a.x + b.x, a.y + b.y, a.z + b.z }; }
static f3 sub(f3 a, f3 b) { return (f3){ a.x - b.x, a.y - b.y, a.z - b.z }; }
static f3 scale(f3 a, float s) { return (f3){ a.x * s, a.y * s, a.z * s }; }
static float dot(f3 a, f3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static f3 xyz(f4 v) { return (f3){ v.x, v.y, v.z }; }

/* A boundary: the position clamped to it and the velocity along it damped. */
static void bounce(float *pos, float *vel, float limit, int above, float damping)
{
    if (above ? *pos > limit : *pos < limit) {
        *pos = limit;
        *vel *= damping;
    }
}

/* static_kernel(num_items, op_wrapper_t{zip_iterator(pos, vel), integrate_functor{deltaTime}}). */
static int integrate(const gpupool_emu_launch *l, void **params)
{
    long long n = PARAM(long long, params, 0);
    const unsigned char *op = params[1];
    CUdeviceptr pos_ptr, vel_ptr;
    float dt;
    memcpy(&pos_ptr, op, sizeof pos_ptr);
    memcpy(&vel_ptr, op + 8, sizeof vel_ptr);
    memcpy(&dt, op + 16, sizeof dt);
    const sim_params *p = params_of(l);
    NEED(p);
    if (n <= 0)
        return CUDA_SUCCESS;
    f4 *pos = DEVICE(l, pos_ptr, n, sizeof(f4)), *vel = DEVICE(l, vel_ptr, n, sizeof(f4));
    NEED(pos);
    NEED(vel);
    float r = p->particleRadius, damp = p->boundaryDamping;
    for (long long i = 0; i < n; i++) {
        f3 v = scale(add(xyz(vel[i]), scale(p->gravity, dt)), p->globalDamping);
        f3 x = add(xyz(pos[i]), scale(v, dt));
        bounce(&x.x, &v.x, 1.0f - r, 1, damp);
        bounce(&x.x, &v.x, -1.0f + r, 0, damp);
        bounce(&x.y, &v.y, 1.0f - r, 1, damp);
        bounce(&x.z, &v.z, 1.0f - r, 1, damp);
        bounce(&x.z, &v.z, -1.0f + r, 0, damp);
        bounce(&x.y, &v.y, -1.0f + r, 0, damp);
        pos[i] = (f4){ x.x, x.y, x.z, pos[i].w };
        vel[i] = (f4){ v.x, v.y, v.z, vel[i].w };
    }
    return CUDA_SUCCESS;
}

static void grid_pos(const sim_params *p, f3 x, int g[3])
{
    g[0] = (int)floorf((x.x - p->worldOrigin.x) / p->cellSize.x);
    g[1] = (int)floorf((x.y - p->worldOrigin.y) / p->cellSize.y);
    g[2] = (int)floorf((x.z - p->worldOrigin.z) / p->cellSize.z);
}

/* calcGridHash: the cell wrapped into the grid (a power of two a side); __umul24 keeps 24 bits. */
static uint32_t grid_hash(const sim_params *p, const int g[3])
{
    uint32_t x = (uint32_t)g[0] & (p->gridSize[0] - 1), y = (uint32_t)g[1] & (p->gridSize[1] - 1),
             z = (uint32_t)g[2] & (p->gridSize[2] - 1);
#define UMUL24(a, b) (((a) & 0xffffffu) * ((b) & 0xffffffu))
    return UMUL24(UMUL24(z, p->gridSize[1]), p->gridSize[0]) + UMUL24(y, p->gridSize[0]) + x;
#undef UMUL24
}

/* calcHashD(gridParticleHash, gridParticleIndex, pos, numParticles) */
static int calc_hash(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 3);
    size_t threads = grid_threads(l);
    const sim_params *p = params_of(l);
    NEED(p);
    size_t count = threads < n ? threads : n;
    uint32_t *hash = DEVICE(l, PARAM(CUdeviceptr, params, 0), count, 4), *index = DEVICE(l, PARAM(CUdeviceptr, params, 1), count, 4);
    const f4 *pos = DEVICE(l, PARAM(CUdeviceptr, params, 2), count, sizeof(f4));
    if (count == 0)
        return CUDA_SUCCESS;
    NEED(hash);
    NEED(index);
    NEED(pos);
    for (uint32_t i = 0; i < count; i++) {
        int g[3];
        grid_pos(p, xyz(pos[i]), g);
        hash[i] = grid_hash(p, g);
        index[i] = i;
    }
    return CUDA_SUCCESS;
}

/*
 * reorderDataAndFindCellStartD(cellStart, cellEnd, sortedPos, sortedVel, gridParticleHash,
 * gridParticleIndex, oldPos, oldVel, numParticles): where each cell's run of sorted hashes starts and
 * ends, and the particles gathered into sorted order.
 */
static int reorder(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 8);
    size_t threads = grid_threads(l);
    const sim_params *p = params_of(l);
    NEED(p);
    size_t count = threads < n ? threads : n;
    if (count == 0)
        return CUDA_SUCCESS;
    uint32_t *start = DEVICE(l, PARAM(CUdeviceptr, params, 0), p->numCells, 4), *end = DEVICE(l, PARAM(CUdeviceptr, params, 1), p->numCells, 4);
    f4 *sorted_pos = DEVICE(l, PARAM(CUdeviceptr, params, 2), count, sizeof(f4)), *sorted_vel = DEVICE(l, PARAM(CUdeviceptr, params, 3), count, sizeof(f4));
    const uint32_t *hash = DEVICE(l, PARAM(CUdeviceptr, params, 4), count, 4), *index = DEVICE(l, PARAM(CUdeviceptr, params, 5), count, 4);
    const f4 *old_pos = DEVICE(l, PARAM(CUdeviceptr, params, 6), n, sizeof(f4)), *old_vel = DEVICE(l, PARAM(CUdeviceptr, params, 7), n, sizeof(f4));
    NEED(start);
    NEED(end);
    NEED(sorted_pos);
    NEED(sorted_vel);
    NEED(hash);
    NEED(index);
    NEED(old_pos);
    NEED(old_vel);
    for (uint32_t i = 0; i < count; i++) {
        if (hash[i] >= p->numCells || index[i] >= n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        if (i == 0 || hash[i] != hash[i - 1]) {
            start[hash[i]] = i;
            if (i > 0)
                end[hash[i - 1]] = i;
        }
        if (i == n - 1)
            end[hash[i]] = i + 1;
        sorted_pos[i] = old_pos[index[i]];
        sorted_vel[i] = old_vel[index[i]];
    }
    return CUDA_SUCCESS;
}

/* collideSpheres: the spring, damping, shear and attraction forces of B on A when they overlap. */
static f3 collide_spheres(const sim_params *p, f3 pos_a, f3 pos_b, f3 vel_a, f3 vel_b, float radius_a, float radius_b,
                          float attraction)
{
    f3 rel_pos = sub(pos_b, pos_a);
    float dist = sqrtf(dot(rel_pos, rel_pos)), collide_dist = radius_a + radius_b;
    f3 force = { 0, 0, 0 };
    if (dist < collide_dist) {
        f3 norm = { rel_pos.x / dist, rel_pos.y / dist, rel_pos.z / dist };
        f3 rel_vel = sub(vel_b, vel_a);
        f3 tan_vel = sub(rel_vel, scale(norm, dot(rel_vel, norm)));
        force = scale(norm, -p->spring * (collide_dist - dist));
        force = add(force, scale(rel_vel, p->damping));
        force = add(force, scale(tan_vel, p->shear));
        force = add(force, scale(rel_pos, attraction));
    }
    return force;
}

/* collideD(newVel, oldPos, oldVel, gridParticleIndex, cellStart, cellEnd, numParticles) */
static int collide(const gpupool_emu_launch *l, void **params)
{
    uint32_t n = PARAM(uint32_t, params, 6);
    size_t threads = grid_threads(l);
    const sim_params *p = params_of(l);
    NEED(p);
    size_t count = threads < n ? threads : n;
    if (count == 0)
        return CUDA_SUCCESS;
    f4 *new_vel = DEVICE(l, PARAM(CUdeviceptr, params, 0), n, sizeof(f4));
    const f4 *old_pos = DEVICE(l, PARAM(CUdeviceptr, params, 1), n, sizeof(f4)), *old_vel = DEVICE(l, PARAM(CUdeviceptr, params, 2), n, sizeof(f4));
    const uint32_t *index = DEVICE(l, PARAM(CUdeviceptr, params, 3), count, 4);
    const uint32_t *start = DEVICE(l, PARAM(CUdeviceptr, params, 4), p->numCells, 4), *end = DEVICE(l, PARAM(CUdeviceptr, params, 5), p->numCells, 4);
    NEED(new_vel);
    NEED(old_pos);
    NEED(old_vel);
    NEED(index);
    NEED(start);
    NEED(end);
    float r = p->particleRadius;
    for (uint32_t i = 0; i < count; i++) {
        f3 pos = xyz(old_pos[i]), vel = xyz(old_vel[i]), force = { 0, 0, 0 };
        int g[3];
        grid_pos(p, pos, g);
        for (int z = -1; z <= 1; z++)
            for (int y = -1; y <= 1; y++)
                for (int x = -1; x <= 1; x++) {
                    int cell[3] = { g[0] + x, g[1] + y, g[2] + z };
                    uint32_t h = grid_hash(p, cell);
                    if (h >= p->numCells)
                        return CUDA_ERROR_ILLEGAL_ADDRESS;
                    if (start[h] == 0xffffffffu)
                        continue;
                    for (uint32_t j = start[h]; j < end[h]; j++) {
                        if (j >= n)
                            return CUDA_ERROR_ILLEGAL_ADDRESS;
                        if (j != i)
                            force = add(force, collide_spheres(p, pos, xyz(old_pos[j]), vel, xyz(old_vel[j]), r, r, p->attraction));
                    }
                }
        force = add(force, collide_spheres(p, pos, p->colliderPos, vel, (f3){ 0, 0, 0 }, r, p->colliderRadius, 0.0f));
        if (index[i] >= n)
            return CUDA_ERROR_ILLEGAL_ADDRESS;
        f3 v = add(vel, force);
        new_vel[index[i]] = (f4){ v.x, v.y, v.z, 0.0f };
    }
    return CUDA_SUCCESS;
}

#define P8 sizeof(CUdeviceptr)

const gpupool_emu_kernel particles_kernels[] = {
    KERNEL("_ZN3cub17CUB_300001_SM_8006detail8for_each13static_kernelINS2_12policy_hub_t12policy_500_tElNS2_12op_wrapper_"
           "tIl17integrate_functorN6thrust23THRUST_300001_SM_800_NS12zip_iteratorIN4cuda3std3__45tupleIJNS9_10device_ptrI6"
           "float4EESH_EEEEEEEEEvT0_T1_",
           integrate, 8, 24),
    KERNEL("_Z9calcHashDPjS_P6float4j", calc_hash, P8, P8, P8, 4),
    KERNEL("_Z28reorderDataAndFindCellStartDPjS_P6float4S1_S_S_S1_S1_j", reorder, P8, P8, P8, P8, P8, P8, P8, P8, 4),
    KERNEL("_Z8collideDP6float4S0_S0_PjS1_S1_j", collide, P8, P8, P8, P8, P8, P8, 4),
};
const unsigned particles_kernel_count = COUNT(particles_kernels);
