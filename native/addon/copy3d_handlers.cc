// cuMemcpy3D and cuMemcpy3DAsync (and the client's cuMemcpy2D* that name an array), as hand-encoded
// frames (docs/protocol.md, "Hand-encoded calls"): each side is host memory (its bytes packed in the
// frame's bin or the reply's), device memory of the session (its whole pitched box checked against
// the session's allocations) or a CUDA array of the session (its box checked against the array's
// descriptor), all before the driver is called. The local transport's shm_copy_3d runs here too: its
// host box lies in a shared region, checked to hold every row, and no bytes travel.
#include <cudaTypedefs.h>

#include <vector>

#include "../common/array_bytes.h"
#include "../common/box_offset.h"
#include "dispatch.h"
#include "extent.h"
#include "gp_ops.h"
#include "handlers.h"

namespace gp {
namespace handlers {

namespace {

enum Copy3DKind : uint32_t { kToDevice = 0, kToHost = 1, kOnDevice = 2 };
enum SideType : uint32_t { kHost = 0, kDevice = 1, kArray = 2 };

struct Side3D {
  uint32_t type;
  uint64_t where;  // device pointer or array id
  size_t x, y, z, pitch, height;
  CUarray array = nullptr;
};

struct Copy3D {
  uint32_t kind;
  Side3D dst, src;
  size_t width, height, depth;
  size_t host_pitch = 0, host_height = 0;  // the host box's layout when not packed (a shared region)
};

// From a memcpy_3d or memcpy_3d_async frame (gp_frames.h; kinds and side types bounded by its codec).
static_assert(GP_FRAME_MEMCPY_3D_KIND_MAX == kOnDevice && GP_FRAME_MEMCPY_3D_DST_TYPE_MAX == kArray, "the kinds of frames.ts");
template <typename Frame>
Copy3D copy_3d_of(const Frame &f) {
  Copy3D c{};
  c.kind = f.kind;
  c.dst = Side3D{f.dst_type, f.dst_where, f.dst_x, f.dst_y, f.dst_z, f.dst_pitch, f.dst_height};
  c.src = Side3D{f.src_type, f.src_where, f.src_x, f.src_y, f.src_z, f.src_pitch, f.src_height};
  c.width = f.width;
  c.height = f.height;
  c.depth = f.depth;
  return c;
}

// The host side is where the kind says, and only there. A well-formed frame that says otherwise is
// the caller's mistake, answered as the driver answers a bad descriptor.
bool sides_match(const Copy3D &c) {
  bool host_dst = c.kind == kToHost, host_src = c.kind == kToDevice;
  return (c.dst.type == kHost) == host_dst && (c.src.type == kHost) == host_src;
}

// A device side: its box, from (z*height + y)*pitch + x to the last byte of its last row, in one
// allocation of the session.
CUresult check_device_box(Session &s, uint32_t op, const char *param, const Side3D &d, const Copy3D &c) {
  Extent first_row = Extent(d.z) * Extent(d.height) + Extent(d.y);
  Extent start = Extent(d.where) + first_row * Extent(d.pitch) + Extent(d.x);
  Extent rows = Extent(c.depth - 1) * Extent(d.height) + Extent(c.height);
  Extent extent = start.exact() ? Extent::rows(d.pitch, c.width, rows) : start;
  return s.check_device(op, param, start.exact() ? (CUdeviceptr)start.bytes() : d.where, extent, CUDA_ERROR_INVALID_VALUE);
}

// An array side: an array of the session's whose elements hold the box.
CUresult check_array_box(Session &s, Side3D &a, const Copy3D &c) {
  void *ptr = nullptr;
  if (!s.lookup(a.where, GP_HANDLE_CUarray, &ptr)) return CUDA_ERROR_INVALID_HANDLE;
  a.array = (CUarray)ptr;
  CUDA_ARRAY3D_DESCRIPTOR desc{};
  CUresult rc = s.driver().fn<PFN_cuArray3DGetDescriptor_v3020>(GP_OP_cuArray3DGetDescriptor_v3020)(&desc, a.array);
  if (rc != CUDA_SUCCESS) return rc;
  int block = 0;
  size_t elem = gp_array_element_bytes(desc.Format, desc.NumChannels, &block), row = 0;
  if (elem == 0 || block || __builtin_mul_overflow(desc.Width, elem, &row)) return CUDA_ERROR_INVALID_VALUE;
  size_t rows = desc.Height == 0 ? 1 : desc.Height, planes = desc.Depth == 0 ? 1 : desc.Depth;
  bool inside = a.x <= row && c.width <= row - a.x && a.y <= rows && c.height <= rows - a.y && a.z <= planes && c.depth <= planes - a.z;
  return inside ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

void fill_side(const Side3D &side, const void *host, const Copy3D &c, CUmemorytype *type, const void **host_out, CUdeviceptr *device,
               CUarray *array, size_t *x, size_t *y, size_t *z, size_t *pitch, size_t *height) {
  if (side.type == kHost) {
    *type = CU_MEMORYTYPE_HOST;
    *host_out = host;
    *pitch = c.host_pitch != 0 ? c.host_pitch : c.width;
    *height = c.host_height != 0 ? c.host_height : c.height;
    return;
  }
  *x = side.x;
  *y = side.y;
  *z = side.z;
  if (side.type == kArray) {
    *type = CU_MEMORYTYPE_ARRAY;
    *array = side.array;
  } else {
    *type = CU_MEMORYTYPE_DEVICE;
    *device = side.where;
    *pitch = side.pitch;
    *height = side.height;
  }
}

// The driver's descriptor: device and array sides as sent, the host side over `host`, packed.
CUDA_MEMCPY3D rebuild_3d(const Copy3D &c, void *host) {
  CUDA_MEMCPY3D m{};
  m.WidthInBytes = c.width;
  m.Height = c.height;
  m.Depth = c.depth;
  fill_side(c.src, host, c, &m.srcMemoryType, &m.srcHost, &m.srcDevice, &m.srcArray, &m.srcXInBytes, &m.srcY, &m.srcZ, &m.srcPitch, &m.srcHeight);
  const void *dst_host = nullptr;
  fill_side(c.dst, host, c, &m.dstMemoryType, &dst_host, &m.dstDevice, &m.dstArray, &m.dstXInBytes, &m.dstY, &m.dstZ, &m.dstPitch, &m.dstHeight);
  m.dstHost = const_cast<void *>(dst_host);
  return m;
}

CUresult check_side(Session &s, uint32_t op, const char *param, Side3D &side, const Copy3D &c) {
  if (side.type == kDevice) return check_device_box(s, op, param, side, c);
  if (side.type == kArray) return check_array_box(s, side, c);
  return CUDA_SUCCESS;
}

template <typename Run>
void copy_3d(Session &s, Bin data, Writer &w, const Call &call, uint32_t op, Copy3D &c, CUresult rc, CUstream stream, Run run) {
  if (c.kind == kToHost && call.seq == 0) throw ProtocolError("a 3D copy to the host needs a reply (seq != 0)");
  size_t bytes = 0;
  if (c.kind != kOnDevice) {
    if (__builtin_mul_overflow(c.width, c.height, &bytes) || __builtin_mul_overflow(bytes, c.depth, &bytes)) throw ProtocolError("a 3D copy's size overflows");
    bytes = s.checked_size(bytes);
  }
  if (c.kind == kToDevice && data.size != bytes) throw ProtocolError("a 3D copy's bytes have the wrong size");
  if (rc == CUDA_SUCCESS && !sides_match(c)) rc = CUDA_ERROR_INVALID_VALUE;
  bool empty = c.width == 0 || c.height == 0 || c.depth == 0;
  if (rc == CUDA_SUCCESS && !empty) rc = check_side(s, op, "src", c.src, c);
  if (rc == CUDA_SUCCESS && !empty) rc = check_side(s, op, "dst", c.dst, c);
  std::vector<unsigned char> scratch(c.kind == kToHost && rc == CUDA_SUCCESS ? bytes : 0);
  if (rc == CUDA_SUCCESS && !empty) {
    CUDA_MEMCPY3D m = rebuild_3d(c, c.kind == kToDevice ? const_cast<void *>(data.data) : scratch.data());
    WorkScope work(s, stream, op_info(call.op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : run(m);
  }
  if (!w.begin_reply(call, rc)) return;
  if (rc == CUDA_SUCCESS && c.kind == kToHost) w.bin(scratch.data(), scratch.size());
  w.end_reply();
}

// The bytes from the host box's first byte to its last row's end, its rows apart by pitch and its
// planes by host_height rows; 0 when the layout is invalid (rows or planes overlap) or overflows.
uint64_t host_box_span(const Copy3D &c) {
  if ((c.height > 1 || c.depth > 1) && c.host_pitch < c.width) return 0;
  if (c.depth > 1 && c.host_height < c.height) return 0;
  uint64_t span = 0;
  return gp_box_offset(c.width, c.height - 1, c.depth - 1, c.host_pitch, c.host_height, &span) ? span : 0;
}

}  // namespace

CUresult memcpy_3d_shared(Session &s, const gp_frame_shm_copy_3d &f, bool *outside) {
  *outside = false;
  Copy3D c = copy_3d_of(f);
  c.host_pitch = f.host_pitch;
  c.host_height = f.host_height;
  if (c.width == 0 || c.height == 0 || c.depth == 0) return CUDA_SUCCESS;
  const uint32_t op = f.async ? (f.per_thread ? GP_OP_cuMemcpy3DAsync_v7000_ptsz : GP_OP_cuMemcpy3DAsync_v3020)
                              : (f.per_thread ? GP_OP_cuMemcpy3D_v7000_ptsz : GP_OP_cuMemcpy3D_v3020);
  if (!sides_match(c)) return CUDA_ERROR_INVALID_VALUE;
  // Every row of the host box in the region: the first starts at offset, the last ends at offset + span.
  const uint64_t span = host_box_span(c);
  unsigned char *host = span != 0 ? s.shared_memory.span(f.region, f.offset, span) : nullptr;
  if (host == nullptr) {
    *outside = span != 0;
    return CUDA_ERROR_INVALID_VALUE;
  }
  void *stream = nullptr;
  if (f.async && !s.lookup(f.stream, GP_HANDLE_CUstream, &stream)) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = check_side(s, op, "src", c.src, c);
  if (rc == CUDA_SUCCESS) rc = check_side(s, op, "dst", c.dst, c);
  if (rc != CUDA_SUCCESS) return rc;
  CUDA_MEMCPY3D m = rebuild_3d(c, host);
  WorkScope work(s, (CUstream)stream, f.per_thread != 0);
  if (work.rc != CUDA_SUCCESS) return work.rc;
  const Driver &d = s.driver();
  rc = f.async ? d.fn<PFN_cuMemcpy3DAsync_v3020>(op)(&m, (CUstream)stream) : d.fn<PFN_cuMemcpy3D_v3020>(op)(&m);
  // A staging slot is the client's again only once the card is done with it.
  if (rc == CUDA_SUCCESS && f.async && f.signal != 0) rc = d.api().streamSynchronize((CUstream)stream);
  return rc;
}

void memcpy_3d(Session &s, const gp_frame_memcpy_3d &f, Writer &w, const Call &call, uint32_t op) {
  Copy3D c = copy_3d_of(f);
  copy_3d(s, Bin{f.bytes, f.bytes_len}, w, call, op, c, CUDA_SUCCESS, nullptr, [&](const CUDA_MEMCPY3D &m) { return s.driver().fn<PFN_cuMemcpy3D_v3020>(op)(&m); });
}

// A copy to the host lands in the daemon's pageable scratch, so the driver has finished it when the
// call returns, and the reply carries the bytes.
void memcpy_3d_async(Session &s, const gp_frame_memcpy_3d_async &f, Writer &w, const Call &call, uint32_t op) {
  Copy3D c = copy_3d_of(f);
  void *stream = nullptr;
  CUresult rc = s.lookup(f.stream, GP_HANDLE_CUstream, &stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
  copy_3d(s, Bin{f.bytes, f.bytes_len}, w, call, op, c, rc, (CUstream)stream, [&](const CUDA_MEMCPY3D &m) { return s.driver().fn<PFN_cuMemcpy3DAsync_v3020>(op)(&m, (CUstream)stream); });
}

}  // namespace handlers
}  // namespace gp
