/*
 * Box copies (cuMemcpy3D, cuMemcpy3DAsync, and the cuMemcpy2D* that name a CUDA array) as hand-encoded
 * frames (docs/protocol.md, "Hand-encoded calls"). Each side is decided here: host memory of this
 * process (HOST, or UNIFIED that is no allocation of this client's), device memory on a daemon (DEVICE,
 * or UNIFIED that is one) or an array (ARRAY, on the daemon that made it). Host bytes travel packed,
 * WidthInBytes per row, Height rows per plane, in frames of at most COPY3D_SLICE bytes (whole planes,
 * or whole rows of one plane when a plane is larger); a device or array side's y and z advance with
 * each frame. Device and array sides on two daemons (or in two contexts of one) are staged through
 * this process. With a daemon on this host (its Unix socket) the host box moves through shared memory
 * instead (shared_box): named in place when it lies in pinned memory, else packed into staging slots.
 */
#include <stdlib.h>
#include <string.h>

#include "box_offset.h"
#include "call.h"
#include "client.h"
#include "conn.h"
#include "custom.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "memcpy2d_as_3d.h"
#include "shim.h"
#include "shm.h"

enum { TO_DEVICE = 0, TO_HOST = 1, ON_DEVICE = 2 };
enum { SIDE_HOST = 0, SIDE_DEVICE = 1, SIDE_ARRAY = 2 };
#define COPY3D_SLICE ((size_t)64 << 20)

typedef struct {
    int type;
    unsigned char *host;        /* host: the first byte copied (x, y, z applied) */
    uint64_t where;             /* device pointer, or the array handle */
    size_t x, y, z, pitch, height;
    int server;                 /* device or array: its daemon, -1 when none of this client's */
    CUcontext ctx;              /* device: the context it was allocated in */
} side3d;

static CUresult side_of(CUmemorytype type, const void *host, CUdeviceptr device, CUarray array, size_t x, size_t y, size_t z,
                        size_t pitch, size_t height, size_t w, size_t h, size_t d, side3d *out)
{
    memset(out, 0, sizeof *out);
    out->server = -1;
    uint64_t offset;
    if (!gp_box_offset(x, y, z, pitch, height, &offset))
        return CUDA_ERROR_INVALID_VALUE;
    switch (type) {
    case CU_MEMORYTYPE_HOST:
        out->type = SIDE_HOST;
        break;
    case CU_MEMORYTYPE_DEVICE:
        out->type = SIDE_DEVICE;
        break;
    case CU_MEMORYTYPE_UNIFIED: {
        CUdeviceptr at;
        out->type = __builtin_add_overflow(device, offset, &at) || gp_alloc_server(at, 1) < 0 ? SIDE_HOST : SIDE_DEVICE;
        host = (const void *)(uintptr_t)device;
        break;
    }
    case CU_MEMORYTYPE_ARRAY:
        if (array == NULL)
            return CUDA_ERROR_INVALID_VALUE;
        out->type = SIDE_ARRAY;
        out->where = (uint64_t)(uintptr_t)array;
        out->server = gp_handle_server(array);
        out->x = x, out->y = y, out->z = z;
        return out->server < 0 ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    out->pitch = pitch;
    out->height = height;
    if (out->type == SIDE_HOST) {
        uintptr_t first;
        /* Rows (and planes) may not overlap, as the driver requires. */
        if (host == NULL || (pitch < w && (h > 1 || d > 1)) || (height < h && d > 1) ||
            __builtin_add_overflow((uintptr_t)host, (uintptr_t)offset, &first))
            return CUDA_ERROR_INVALID_VALUE;
        out->host = (unsigned char *)first;
        return CUDA_SUCCESS;
    }
    CUdeviceptr start;
    out->where = device;
    out->x = x, out->y = y, out->z = z;
    if (__builtin_add_overflow(device, offset, &start))
        return CUDA_ERROR_INVALID_VALUE;
    out->server = gp_alloc_lookup(start, 1, &out->ctx);
    return CUDA_SUCCESS;
}

/* A host side's row (plane, row) of the copy. */
static unsigned char *host_row(const side3d *s, size_t plane, size_t row)
{
    return s->host + (plane * s->height + row) * s->pitch;
}

/* A side's seven fields of the frame (gp_frames.h): zeros for a host side, whose bytes are packed. */
#define SIDE_FIELDS(F_, SIDE_, S_, ROW_, PLANE_)                                                                     \
    do {                                                                                                             \
        int host_ = (S_)->type == SIDE_HOST;                                                                         \
        (F_).SIDE_##_type = (uint32_t)(S_)->type;                                                                    \
        (F_).SIDE_##_where = (S_)->type == SIDE_ARRAY ? gp_handle_id((const void *)(uintptr_t)(S_)->where)          \
                             : host_                 ? 0                                                             \
                                                     : (S_)->where;                                                  \
        (F_).SIDE_##_x = host_ ? 0 : (S_)->x;                                                                        \
        (F_).SIDE_##_y = host_ ? 0 : (S_)->y + (ROW_);                                                               \
        (F_).SIDE_##_z = host_ ? 0 : (S_)->z + (PLANE_);                                                             \
        (F_).SIDE_##_pitch = host_ ? 0 : (S_)->pitch;                                                                \
        (F_).SIDE_##_height = host_ ? 0 : (S_)->height;                                                              \
    } while (0)

/* The fields the sync and async frames share (all but the stream). */
#define BOX_FIELDS(F_, KIND_, DST_, SRC_, ROW_, PLANE_, W_, ROWS_, PLANES_, BYTES_, N_)                               \
    do {                                                                                                             \
        (F_).kind = (uint32_t)(KIND_);                                                                               \
        SIDE_FIELDS(F_, dst, DST_, ROW_, PLANE_);                                                                    \
        SIDE_FIELDS(F_, src, SRC_, ROW_, PLANE_);                                                                    \
        (F_).width = (W_);                                                                                           \
        (F_).height = (ROWS_);                                                                                       \
        (F_).depth = (PLANES_);                                                                                      \
        (F_).bytes = (KIND_) == TO_DEVICE ? (BYTES_) : NULL;                                                         \
        (F_).bytes_len = (KIND_) == TO_DEVICE ? (uint32_t)(N_) : 0;                                                  \
    } while (0)

static void route_side(gp_call *c, const side3d *s)
{
    if (s->type == SIDE_DEVICE)
        gp_route_dptr(c, s->where + (s->z * s->height + s->y) * s->pitch + s->x);
    else if (s->type == SIDE_ARRAY)
        gp_route_handle(c, (const void *)(uintptr_t)s->where);
}

/* A call routed by its device or array sides (and its stream); *rc says whether the stream could be. */
static gp_call *box_call(uint32_t op, int mode, const side3d *dst, const side3d *src, int with_stream, CUstream stream, CUresult *rc)
{
    gp_call *c = gp_call_begin(op, mode);
    route_side(c, dst);
    route_side(c, src);
    *rc = with_stream ? gp_route_handle(c, stream) : CUDA_SUCCESS;
    return c;
}

/* One frame: `planes` planes of `rows` rows from (row, plane) on; host bytes packed in `bytes`. */
static CUresult frame(uint32_t op, int mode, int kind, int with_stream, CUstream stream, const side3d *dst, const side3d *src,
                      size_t row, size_t plane, size_t rows, size_t planes, size_t w, void *bytes)
{
    if (kind == TO_HOST)
        mode = GP_MODE_SYNC;
    CUresult rc;
    gp_call *c = box_call(op, mode, dst, src, with_stream, stream, &rc);
    if (rc == CUDA_SUCCESS) {
        size_t n = rows * planes * w;
        if (kind == TO_HOST)
            gp_expect_out(c, bytes, n);
        if (with_stream) {
            gp_frame_memcpy_3d_async f;
            BOX_FIELDS(f, kind, dst, src, row, plane, w, rows, planes, bytes, n);
            f.stream = gp_handle_id(stream);
            GP_PUT_FRAME(c, memcpy_3d_async, &f);
        } else {
            gp_frame_memcpy_3d f;
            BOX_FIELDS(f, kind, dst, src, row, plane, w, rows, planes, bytes, n);
            GP_PUT_FRAME(c, memcpy_3d, &f);
        }
        rc = gp_call_finish(c);
    }
    gp_call_end(c);
    return rc;
}

/* Host rows packed into tmp (to_device) or scattered from it, for the frame at (row, plane). */
static void pack(const side3d *host, unsigned char *tmp, size_t row, size_t plane, size_t rows, size_t planes, size_t w, int gather)
{
    for (size_t p = 0; p < planes; p++)
        for (size_t r = 0; r < rows; r++) {
            unsigned char *at = host_row(host, plane + p, row + r), *packed = tmp + (p * rows + r) * w;
            if (gather)
                memcpy(packed, at, w);
            else
                memcpy(at, packed, w);
        }
}

/*
 * The copy frame by frame: kind TO_DEVICE or TO_HOST with `host` the host side, or (staged, host
 * NULL) each frame read to the host from src and written from it to dst, synchronously with op.
 */
static CUresult run(uint32_t op, int mode, int kind, int with_stream, CUstream stream, const side3d *dst, const side3d *src, size_t w,
                    size_t h, size_t d)
{
    const side3d *host = kind == TO_DEVICE ? src : kind == TO_HOST ? dst : NULL;
    size_t plane_bytes = w * h, per_planes = 1, per_rows = h;
    if (plane_bytes <= COPY3D_SLICE)
        per_planes = COPY3D_SLICE / plane_bytes < d ? COPY3D_SLICE / plane_bytes : d;
    else
        per_rows = w >= COPY3D_SLICE ? 1 : COPY3D_SLICE / w;
    unsigned char *tmp = malloc(per_planes * per_rows * w);
    if (tmp == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    side3d packed = { .type = SIDE_HOST, .server = -1 };
    CUresult rc = CUDA_SUCCESS;
    for (size_t plane = 0; plane < d && rc == CUDA_SUCCESS; plane += per_planes) {
        size_t planes = d - plane < per_planes ? d - plane : per_planes;
        for (size_t row = 0; row < h && rc == CUDA_SUCCESS; row += per_rows) {
            size_t rows = h - row < per_rows ? h - row : per_rows;
            if (host == NULL) {
                rc = frame(op, GP_MODE_SYNC, TO_HOST, 0, NULL, &packed, src, row, plane, rows, planes, w, tmp);
                if (rc == CUDA_SUCCESS)
                    rc = frame(op, GP_MODE_SYNC, TO_DEVICE, 0, NULL, dst, &packed, row, plane, rows, planes, w, tmp);
            } else if (kind == TO_DEVICE) {
                pack(host, tmp, row, plane, rows, planes, w, 1);
                rc = frame(op, mode, kind, with_stream, stream, dst, &packed, row, plane, rows, planes, w, tmp);
            } else {
                rc = frame(op, mode, kind, with_stream, stream, &packed, src, row, plane, rows, planes, w, tmp);
                if (rc == CUDA_SUCCESS)
                    pack(host, tmp, row, plane, rows, planes, w, 0);
            }
            /* An async frame's bytes are copied into the call: tmp may be reused at once. */
        }
    }
    free(tmp);
    return rc;
}

/* One shm_copy_3d frame: `planes` planes of `rows` rows from (row, plane) on, the host box at (region, offset). */
static CUresult shared_frame(int mode, int kind, int per_thread, int async, CUstream stream, const side3d *dst, const side3d *src,
                             size_t row, size_t plane, size_t rows, size_t planes, size_t w, uint32_t region, uint64_t offset,
                             size_t host_pitch, size_t host_height, uint64_t signal, uint32_t value)
{
    CUresult rc;
    gp_call *c = box_call(GP_OP_SHM_COPY_3D, mode, dst, src, async, stream, &rc);
    if (rc == CUDA_SUCCESS) {
        gp_frame_shm_copy_3d f;
        memset(&f, 0, sizeof f);
        f.kind = (uint32_t)kind;
        SIDE_FIELDS(f, dst, dst, row, plane);
        SIDE_FIELDS(f, src, src, row, plane);
        f.width = w;
        f.height = rows;
        f.depth = planes;
        f.per_thread = (uint32_t)per_thread;
        f.async = (uint32_t)(async != 0);
        f.stream = async ? gp_handle_id(stream) : 0;
        f.region = region;
        f.offset = offset;
        f.host_pitch = host_pitch;
        f.host_height = host_height;
        f.signal = signal;
        f.signal_value = value;
        GP_PUT_FRAME(c, shm_copy_3d, &f);
        rc = gp_call_finish(c);
    }
    gp_call_end(c);
    return rc;
}

/*
 * A copy between the host and a device or array side of a local daemon through shared memory: 1 with
 * its result in *rc, or 0 (the socket path runs). A pinned host box goes in one frame, its pitch kept;
 * a pageable one is packed into staging slots, whole planes or whole rows per slot, as run() slices.
 */
static int shared_box(uint32_t op, int mode, int kind, int async, CUstream stream, const side3d *dst, const side3d *src, size_t w, size_t h,
                      size_t d, CUresult *rc)
{
    const side3d *host = kind == TO_DEVICE ? src : dst, *card = kind == TO_DEVICE ? dst : src;
    /* The daemon the frame goes to: the stream's, before the memory's (gp_route_handle). */
    int server = async && gp_handle_server(stream) >= 0 ? gp_handle_server(stream) : card->server;
    if (server < 0 || !gp_shm_local(server))
        return 0;
    int per_thread = op == GP_OP_cuMemcpy3D_v7000_ptsz || op == GP_OP_cuMemcpy3DAsync_v7000_ptsz;
    /* One row needs no pitch, one plane no height (side_of); the daemon is sent ones that hold the box. */
    size_t pitch = h == 1 && d == 1 ? w : host->pitch, height = d == 1 ? h : host->height;
    uint64_t span;
    if (!gp_box_offset(w, h - 1, d - 1, pitch, height, &span))
        return 0;
    uint32_t region;
    uint64_t offset;
    if (gp_shm_pinned(server, host->host, span, &region, &offset)) {
        *rc = shared_frame(mode, kind, per_thread, async, stream, dst, src, 0, 0, h, d, w, region, offset, pitch, height, 0, 0);
        return 1;
    }
    if (w > GP_SHM_STAGE_SLOT)
        return 0;
    gp_shm_stage *st = gp_shm_stage_begin(server);
    if (st == NULL)
        return 0;
    size_t plane_bytes = w * h, per_planes = 1, per_rows = h;
    if (plane_bytes <= GP_SHM_STAGE_SLOT)
        per_planes = GP_SHM_STAGE_SLOT / plane_bytes < d ? GP_SHM_STAGE_SLOT / plane_bytes : d;
    else
        per_rows = GP_SHM_STAGE_SLOT / w;
    *rc = CUDA_SUCCESS;
    size_t k = 0;
    for (size_t plane = 0; plane < d && *rc == CUDA_SUCCESS; plane += per_planes) {
        size_t planes = d - plane < per_planes ? d - plane : per_planes;
        for (size_t row = 0; row < h && *rc == CUDA_SUCCESS; row += per_rows, k++) {
            size_t rows = h - row < per_rows ? h - row : per_rows;
            uint64_t signal;
            uint32_t value;
            unsigned char *slot = gp_shm_stage_slot(st, k, &region, &offset, &signal, &value, rc);
            if (slot == NULL)
                break;
            int last = plane + planes == d && row + rows == h;
            /* To the card, slices go ahead and a synchronous copy answers with its last; to the host, each is waited for. */
            int slice_mode = kind == TO_HOST || (last && mode == GP_MODE_SYNC) ? GP_MODE_SYNC : GP_MODE_ASYNC;
            if (kind == TO_DEVICE)
                pack(host, slot, row, plane, rows, planes, w, 1);
            *rc = shared_frame(slice_mode, kind, per_thread, async, stream, dst, src, row, plane, rows, planes, w, region, offset, w, rows,
                               signal, value);
            if (slice_mode == GP_MODE_SYNC)
                gp_shm_stage_synced(st);
            else if (*rc == CUDA_SUCCESS)
                gp_conn_flush(gp_server(server));
            if (*rc == CUDA_SUCCESS && kind == TO_HOST)
                pack(host, slot, row, plane, rows, planes, w, 0);
        }
    }
    gp_shm_stage_end(st);
    return 1;
}

/*
 * op: the call's own op; sync_op: the synchronous 3D op of the same default-stream kind, for what
 * cannot ride the stream (staged copies, a stream on another daemon than the memory).
 */
static CUresult copy3d(uint32_t op, uint32_t sync_op, const CUDA_MEMCPY3D *p, int async, CUstream stream)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    /* Mipmap levels travel in no frame: a level is an array of its own (cuMipmappedArrayGetLevel). */
    if (p->srcLOD != 0 || p->dstLOD != 0 || p->reserved0 != NULL || p->reserved1 != NULL)
        return CUDA_ERROR_INVALID_VALUE;
    if (async && p->srcMemoryType != CU_MEMORYTYPE_ARRAY && p->dstMemoryType != CU_MEMORYTYPE_ARRAY) {
        int taken = 0;
        gp_capture_op op = { .call = "cuMemcpy3DAsync", .type = CU_GRAPH_NODE_TYPE_MEMCPY, .copy = *p };
        CUresult rc = gp_capture_take(stream, &op, &taken);
        if (rc != CUDA_SUCCESS || taken)
            return rc;
    }
    size_t w = p->WidthInBytes, h = p->Height, d = p->Depth;
    side3d dst, src;
    CUresult rc = side_of(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes, p->dstY, p->dstZ, p->dstPitch,
                          p->dstHeight, w, h, d, &dst);
    if (rc == CUDA_SUCCESS)
        rc = side_of(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes, p->srcY, p->srcZ, p->srcPitch,
                     p->srcHeight, w, h, d, &src);
    size_t box;
    if (rc != CUDA_SUCCESS || w == 0 || h == 0 || d == 0)
        return rc;
    if (__builtin_mul_overflow(w, h, &box) || __builtin_mul_overflow(box, d, &box))
        return CUDA_ERROR_INVALID_VALUE;
    if (dst.type == SIDE_HOST && src.type == SIDE_HOST) {
        for (size_t z = 0; z < d; z++)
            for (size_t y = 0; y < h; y++)
                memmove(host_row(&dst, z, y), host_row(&src, z, y), w);
        return CUDA_SUCCESS;
    }
    if (dst.type != SIDE_HOST && src.type != SIDE_HOST && dst.server >= 0 && src.server >= 0 &&
        (dst.server != src.server || (dst.type == SIDE_DEVICE && src.type == SIDE_DEVICE && dst.ctx != src.ctx)))
        return run(sync_op, GP_MODE_SYNC, ON_DEVICE, 0, NULL, &dst, &src, w, h, d);
    /* No stream spans two daemons: a stream elsewhere than the memory means a synchronous copy. */
    int server = dst.type != SIDE_HOST && dst.server >= 0 ? dst.server : src.server;
    if (async && server >= 0 && gp_handle_server(stream) >= 0 && gp_handle_server(stream) != server) {
        op = sync_op;
        async = 0;
    }
    int mode = async ? GP_MODE_ASYNC : GP_MODE_SYNC;
    if (dst.type != SIDE_HOST && src.type != SIDE_HOST)
        return frame(op, mode, ON_DEVICE, async, stream, &dst, &src, 0, 0, h, d, w, NULL);
    int kind = src.type == SIDE_HOST ? TO_DEVICE : TO_HOST;
    CUresult shared_rc;
    if (shared_box(op, mode, kind, async, stream, &dst, &src, w, h, d, &shared_rc))
        return shared_rc;
    return run(op, mode, kind, async, stream, &dst, &src, w, h, d);
}

CUresult gp_fwd_cuMemcpy3D_v3020(const CUDA_MEMCPY3D *p) { return copy3d(GP_OP_cuMemcpy3D_v3020, GP_OP_cuMemcpy3D_v3020, p, 0, NULL); }
CUresult gp_fwd_cuMemcpy3D_v7000_ptsz(const CUDA_MEMCPY3D *p)
{
    return copy3d(GP_OP_cuMemcpy3D_v7000_ptsz, GP_OP_cuMemcpy3D_v7000_ptsz, p, 0, NULL);
}
CUresult gp_fwd_cuMemcpy3DAsync_v3020(const CUDA_MEMCPY3D *p, CUstream s)
{
    return copy3d(GP_OP_cuMemcpy3DAsync_v3020, GP_OP_cuMemcpy3D_v3020, p, 1, s);
}
CUresult gp_fwd_cuMemcpy3DAsync_v7000_ptsz(const CUDA_MEMCPY3D *p, CUstream s)
{
    return copy3d(GP_OP_cuMemcpy3DAsync_v7000_ptsz, GP_OP_cuMemcpy3D_v7000_ptsz, p, 1, s);
}

/* A pitched copy that names an array: the box copy of depth 1, with the 3D op of the same kind. */
CUresult gp_copy2d_as_3d(const CUDA_MEMCPY2D *p, int per_thread, int async, CUstream stream)
{
    if (p == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    CUDA_MEMCPY3D m = gp_memcpy2d_as_3d(p);
    uint32_t sync_op = per_thread ? GP_OP_cuMemcpy3D_v7000_ptsz : GP_OP_cuMemcpy3D_v3020;
    uint32_t op = !async ? sync_op : per_thread ? GP_OP_cuMemcpy3DAsync_v7000_ptsz : GP_OP_cuMemcpy3DAsync_v3020;
    return copy3d(op, sync_op, &m, async, stream);
}
