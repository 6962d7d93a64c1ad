#include <algorithm>
#include "handlers.h"

#include <cstring>
#include <vector>

#include <cudaTypedefs.h>

#include "dispatch.h"

namespace gp {
namespace handlers {

// ---- contexts --------------------------------------------------------------------------------------

CUresult primary_ctx_retain(Session &s, CUcontext *pctx, CUdevice dev) {
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  Session::Primary *p = s.primary((int)dev);
  if (p == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (p->ctx == nullptr) {
    CUcontext ctx = nullptr;
    CUresult rc = s.create_context(&ctx, p->flags, (int)dev);
    if (rc != CUDA_SUCCESS) return rc;
    p->ctx = ctx;
    p->refs = 0;
  }
  p->refs++;
  *pctx = p->ctx;
  return CUDA_SUCCESS;
}

CUresult primary_ctx_release(Session &s, CUdevice dev) {
  Session::Primary *p = s.primary((int)dev);
  if (p == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (p->ctx == nullptr || p->refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (--p->refs > 0) return CUDA_SUCCESS;
  return s.destroy_context(p->ctx);
}

CUresult primary_ctx_reset(Session &s, CUdevice dev) {
  Session::Primary *p = s.primary((int)dev);
  if (p == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  if (p->ctx == nullptr) return CUDA_SUCCESS;
  return s.destroy_context(p->ctx);
}

CUresult primary_ctx_set_flags(Session &s, CUdevice dev, unsigned flags) {
  Session::Primary *p = s.primary((int)dev);
  if (p == nullptr) return CUDA_ERROR_INVALID_DEVICE;
  // Applies from the next creation of the context (after a release to zero or a reset).
  p->flags = flags;
  return CUDA_SUCCESS;
}

CUresult ctx_create(Session &s, CUcontext *pctx, unsigned flags, CUdevice dev) {
  if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.create_context(pctx, flags, (int)dev);
  if (rc == CUDA_SUCCESS) s.note_created(*pctx);
  return rc;
}

CUresult ctx_destroy(Session &s, CUcontext ctx) {
  // Only contexts the client created: its primary ones end with release or reset.
  if (ctx == nullptr || !s.created_context(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
  return s.destroy_context(ctx);
}

// ---- memory ----------------------------------------------------------------------------------------

// Over the session's quota on the current context's card: CUDA_ERROR_OUT_OF_MEMORY, and no driver call.
CUresult mem_alloc(Session &s, CUdeviceptr *dptr, size_t bytesize) {
  if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!s.fits_quota(bytesize)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = s.driver().api().memAlloc(dptr, bytesize);
  if (rc == CUDA_SUCCESS) s.note_alloc(*dptr, bytesize);
  return rc;
}

CUresult mem_alloc_pitch(Session &s, CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned element_size) {
  if (dptr == nullptr || pitch == nullptr) return CUDA_ERROR_INVALID_VALUE;
  // The pitch is the driver's to choose: width*height (its least) is checked before the call, and
  // pitch*height (what it took) after it, giving the block back when that is over the quota.
  size_t least = 0;
  if (__builtin_mul_overflow(width, height, &least) || !s.fits_quota(least)) return CUDA_ERROR_OUT_OF_MEMORY;
  CUresult rc = s.driver().api().memAllocPitch(dptr, pitch, width, height, element_size);
  if (rc != CUDA_SUCCESS) return rc;
  size_t taken = 0;
  if (__builtin_mul_overflow(*pitch, height, &taken) || !s.fits_quota(taken)) {
    s.driver().api().memFree(*dptr);
    *dptr = 0;
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  s.note_alloc(*dptr, taken);
  return rc;
}

CUresult mem_free(Session &s, CUdeviceptr dptr) {
  if (!s.is_alloc_base(dptr)) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().memFree(dptr);
  if (rc == CUDA_SUCCESS) s.forget_alloc(dptr);
  return rc;
}

// The card as the session sees it: its quota is the total, and free is what is left of the quota,
// never more than the driver has free.
CUresult mem_get_info(Session &s, size_t *free, size_t *total) {
  if (free == nullptr || total == nullptr) return s.driver().api().memGetInfo(free, total);  // the driver's answer
  size_t driver_free = 0, driver_total = 0;
  CUresult rc = s.driver().api().memGetInfo(&driver_free, &driver_total);
  if (rc != CUDA_SUCCESS) return rc;
  int ordinal = s.current_ordinal();
  if (ordinal < 0) {
    *free = driver_free;
    *total = driver_total;
    return CUDA_SUCCESS;
  }
  uint64_t q = s.quota(ordinal), u = s.used(ordinal);
  uint64_t left = u < q ? q - u : 0;
  *free = (size_t)std::min<uint64_t>(left, driver_free);
  *total = (size_t)q;
  return CUDA_SUCCESS;
}

// ---- destroy and forget -----------------------------------------------------------------------------

CUresult forget_handle(Session &s, CUstream stream) {
  // The NULL and per-thread default streams are not the client's to destroy.
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = s.driver().api().streamDestroy(stream);
  if (rc == CUDA_SUCCESS) s.forget(GP_HANDLE_CUstream, stream);
  return rc;
}

CUresult forget_handle(Session &s, CUevent event) {
  if (event == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = s.driver().api().eventDestroy(event);
  if (rc == CUDA_SUCCESS) s.forget(GP_HANDLE_CUevent, event);
  return rc;
}

CUresult forget_handle(Session &s, CUmodule module) {
  if (module == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = s.driver().api().moduleUnload(module);
  if (rc == CUDA_SUCCESS) {
    s.forget(GP_HANDLE_CUmodule, module);
    s.forget_globals(module);
  }
  return rc;
}

CUresult forget_handle(Session &s, CUlibrary library) {
  if (library == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = s.driver().api().libraryUnload(library);
  if (rc == CUDA_SUCCESS) {
    s.forget(GP_HANDLE_CUlibrary, library);
    s.forget_globals(library);
  }
  return rc;
}

// ---- module and library variables --------------------------------------------------------------

// The variable's range becomes the session's to copy to and from (the stubs always ask for both
// outputs, so that the client can record the range too).
CUresult module_get_global(Session &s, CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
  if (dptr == nullptr || bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().moduleGetGlobal(dptr, bytes, hmod, name);
  if (rc == CUDA_SUCCESS) s.note_global(hmod, *dptr, *bytes);
  return rc;
}

CUresult library_get_global(Session &s, CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  if (dptr == nullptr || bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().libraryGetGlobal(dptr, bytes, library, name);
  if (rc == CUDA_SUCCESS) s.note_global(library, *dptr, *bytes);
  return rc;
}

CUresult forget_handle(Session &s, CUgraph graph) {
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().graphDestroy(graph);
  if (rc == CUDA_SUCCESS) {
    s.forget(GP_HANDLE_CUgraph, graph);
    s.forget_conditionals(graph);
  }
  return rc;
}

CUresult forget_handle(Session &s, CUgraphExec exec) {
  if (exec == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUresult rc = s.driver().api().graphExecDestroy(exec);
  if (rc == CUDA_SUCCESS) s.forget(GP_HANDLE_CUgraphExec, exec);
  return rc;
}

// ---- module images ---------------------------------------------------------------------------------

namespace {

template <typename T>
T load(const unsigned char *p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Whether every part of an image the driver will read, by its own header, lies inside the image.
// The daemon's copy is zero-padded, so text (PTX) always ends in a NUL.
bool image_in_bounds(const unsigned char *img, size_t size) {
  if (size < 4) return size > 0;
  uint32_t magic = load<uint32_t>(img);
  if (magic == 0x466243b1u) return false;  // a __fatBinC_Wrapper_t: it points into the client's memory
  if (magic == 0xBA55ED50u) {              // fatbin: magic, version, header size, size of the rest
    if (size < 16) return false;
    uint64_t header = load<uint16_t>(img + 6), rest = load<uint64_t>(img + 8);
    return header <= size && rest <= size - header;
  }
  if (std::memcmp(img, "\x7f" "ELF", 4) == 0) {  // cubin: ELF64, its headers and sections inside
    if (size < 64 || img[4] != 2) return false;
    uint64_t phoff = load<uint64_t>(img + 0x20), shoff = load<uint64_t>(img + 0x28);
    uint64_t phsize = load<uint16_t>(img + 0x36), phnum = load<uint16_t>(img + 0x38);
    uint64_t shsize = load<uint16_t>(img + 0x3a), shnum = load<uint16_t>(img + 0x3c);
    if (phoff > size || phsize * phnum > size - phoff) return false;
    if (shoff > size || shsize * shnum > size - shoff) return false;
    if (shnum > 0 && shsize < 64) return false;
    for (uint64_t i = 0; i < shnum; i++) {
      const unsigned char *sh = img + shoff + i * shsize;
      uint32_t type = load<uint32_t>(sh + 4);
      uint64_t off = load<uint64_t>(sh + 0x18), len = load<uint64_t>(sh + 0x20);
      if (type != 8 /* SHT_NOBITS */ && (off > size || len > size - off)) return false;
    }
    return true;
  }
  return true;  // PTX: text, NUL-terminated by the padding
}

}  // namespace

void module_image(Session &s, const gp_frame_image &f, Writer &w, const Call &call, uint32_t op) {
  Bin image{f.image, f.image_len};
  // An aligned copy of the daemon's own, zero-padded: drivers expect fatbins 8-byte aligned and PTX
  // NUL-terminated; the driver copies what it keeps (no CU_LIBRARY_BINARY_IS_PRESERVED).
  std::vector<uint64_t> copy(s.checked_size(image.size) / sizeof(uint64_t) + 2, 0);
  if (image.size > 0) std::memcpy(copy.data(), image.data, image.size);
  const unsigned char *img = reinterpret_cast<const unsigned char *>(copy.data());

  const char *name = op_info(op)->name;
  CUresult rc = image_in_bounds(img, image.size) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_IMAGE;
  void *handle = nullptr;
  int kind = GP_HANDLE_CUmodule;
  if (rc == CUDA_SUCCESS) {
    if (std::strcmp(name, "cuLibraryLoadData") == 0) {
      kind = GP_HANDLE_CUlibrary;
      CUlibrary lib = nullptr;
      rc = s.driver().fn<PFN_cuLibraryLoadData_v12000>(op)(&lib, img, nullptr, nullptr, 0, nullptr, nullptr, 0);
      handle = lib;
    } else {
      CUmodule mod = nullptr;
      if (std::strcmp(name, "cuModuleLoadDataEx") == 0) {
        rc = s.driver().fn<PFN_cuModuleLoadDataEx_v2010>(op)(&mod, img, 0, nullptr, nullptr);
      } else if (std::strcmp(name, "cuModuleLoadFatBinary") == 0) {
        rc = s.driver().fn<PFN_cuModuleLoadFatBinary_v2000>(op)(&mod, img);
      } else {
        rc = s.driver().fn<PFN_cuModuleLoadData_v2000>(op)(&mod, img);
      }
      handle = mod;
    }
  }
  if (!w.begin_reply(call, rc)) return;
  if (rc == CUDA_SUCCESS) w.u64(s.remember(kind, handle));
  w.end_reply();
}

// ---- launches --------------------------------------------------------------------------------------

namespace {

// Parameters a kernel may have: far above what the 32 KiB parameter space allows.
constexpr size_t kMaxParams = 4096;

// The layout of a kernel's parameters, asked of the driver once per id.
CUresult param_layout(Session &s, uint64_t id, void *fn, int kind, const std::vector<ParamSlot> **out) {
  if ((*out = s.param_layout(id)) != nullptr) return CUDA_SUCCESS;
  const Driver::Api &api = s.driver().api();
  std::vector<ParamSlot> slots;
  for (size_t i = 0;; i++) {
    if (i == kMaxParams) return CUDA_ERROR_INVALID_VALUE;
    ParamSlot slot{};
    CUresult rc = kind == GP_HANDLE_CUkernel ? api.kernelGetParamInfo((CUkernel)fn, i, &slot.offset, &slot.size)
                                             : api.funcGetParamInfo((CUfunction)fn, i, &slot.offset, &slot.size);
    if (rc == CUDA_ERROR_INVALID_VALUE) break;  // past the last parameter
    if (rc != CUDA_SUCCESS) return rc;
    slots.push_back(slot);
  }
  s.set_param_layout(id, std::move(slots));
  *out = s.param_layout(id);
  return CUDA_SUCCESS;
}

// What a launch frame shares between cuLaunchKernel and cuLaunchKernelEx.
struct Launch {
  uint64_t fn_id;
  unsigned grid[3], block[3], shared;
  uint64_t stream_id;
  Bin params;
};

// From a launch or launch_ex frame (gp_frames.h), which share these fields.
template <typename Frame>
Launch launch_of(const Frame &f) {
  Launch l{};
  l.fn_id = f.fn;
  for (int i = 0; i < 3; i++) {
    l.grid[i] = f.grid[i];
    l.block[i] = f.block[i];
  }
  l.shared = f.shared;
  l.stream_id = f.stream;
  l.params = Bin{f.params, f.params_len};
  return l;
}

// Resolves the launch's function and stream and rebuilds kernelParams over an aligned copy of the
// params buffer: each parameter at its offset, every one inside the buffer.
CUresult prepare_launch(Session &s, const Launch &l, CUfunction *fn, CUstream *stream, std::vector<void *> &kernel_params) {
  void *st = nullptr;
  if (!s.lookup(l.stream_id, GP_HANDLE_CUstream, &st)) return CUDA_ERROR_INVALID_HANDLE;
  CUresult rc = kernel_arguments(s, l.fn_id, l.params, fn, kernel_params);
  *stream = (CUstream)st;
  return rc;
}

// A launch attribute that is a plain value. The others are events (a handle inside the value),
// graph-only attributes (device-updatable nodes write through a pointer) and ids this build does not
// know: nothing the client sends may become a pointer the driver follows.
bool plain_attribute(uint32_t id) {
  switch (id) {
    case CU_LAUNCH_ATTRIBUTE_IGNORE:
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
      return true;
    default:
      return false;
  }
}

// A launch configuration's attributes, from the frame's [id, value] pairs (their count and each
// value's size checked by the codec against frames.ts).
static_assert(sizeof(CUlaunchAttributeValue) == GP_FRAME_LAUNCH_EX_ATTRS_BYTES, "CUlaunchAttributeValue travels as its bytes");
std::vector<CUlaunchAttribute> launch_attributes(const gp_frame_pair *pairs, uint32_t n) {
  std::vector<CUlaunchAttribute> attrs(n);
  for (uint32_t i = 0; i < n; i++) {
    CUlaunchAttribute &a = attrs[i];
    std::memset(&a, 0, sizeof a);
    a.id = (CUlaunchAttributeID)pairs[i].id;
    std::memcpy(&a.value, pairs[i].value, sizeof a.value);
  }
  return attrs;
}

void reply_empty(Writer &w, const Call &call, CUresult rc) {
  if (w.begin_reply(call, rc)) w.end_reply();
}

}  // namespace

CUresult kernel_arguments(Session &s, uint64_t fn_id, Bin params, CUfunction *fn, std::vector<void *> &kernel_params) {
  Session::LaunchFn &last = s.last_launch_fn();
  if (fn_id == 0 || last.id != fn_id) {
    void *f = nullptr;
    int kind = 0;
    if (!s.lookup_any(fn_id, {GP_HANDLE_CUfunction, GP_HANDLE_CUkernel}, &f, &kind)) return CUDA_ERROR_INVALID_HANDLE;
    const std::vector<ParamSlot> *slots = nullptr;
    CUresult rc = param_layout(s, fn_id, f, kind, &slots);
    if (rc != CUDA_SUCCESS) return rc;
    size_t end = 0;
    for (const ParamSlot &p : *slots) end = p.size > SIZE_MAX - p.offset ? SIZE_MAX : std::max(end, p.offset + p.size);
    last = Session::LaunchFn{fn_id, f, slots, end};  // after param_layout, which forgets the last one
  }
  // Every parameter inside the buffer: the one that ends last is.
  if (last.end > params.size) return CUDA_ERROR_INVALID_VALUE;
  // A real driver (H200, 580.159) refuses an `extra` buffer larger than the parameters with this code.
  if (params.size > last.end) return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
  char *base = static_cast<char *>(s.param_scratch(params.size));
  if (params.size > 0) std::memcpy(base, params.data, params.size);
  const std::vector<ParamSlot> &slots = *last.slots;
  kernel_params.resize(slots.size());
  for (size_t i = 0; i < slots.size(); i++) kernel_params[i] = base + slots[i].offset;
  *fn = (CUfunction)last.f;  // a CUkernel launches as a CUfunction (CUDA 12)
  return CUDA_SUCCESS;
}

// A launch frame prepared, then run by `run` (the driver's call) while the card is the session's.
template <typename Run>
void run_launch(Session &s, const gp_frame_launch &f, Writer &w, const Call &call, uint32_t op, Run run) {
  Launch l = launch_of(f);
  CUfunction fn = nullptr;
  CUstream stream = nullptr;
  std::vector<void *> &kp = s.param_pointers();
  CUresult rc = prepare_launch(s, l, &fn, &stream, kp);
  if (rc == CUDA_SUCCESS) {
    WorkScope work(s, stream, op_info(op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : run(l, fn, stream, kp.empty() ? nullptr : kp.data());
  }
  reply_empty(w, call, rc);
}

void launch_kernel(Session &s, const gp_frame_launch &f, Writer &w, const Call &call, uint32_t op) {
  run_launch(s, f, w, call, op, [&](const Launch &l, CUfunction fn, CUstream stream, void **kp) {
    return s.driver().fn<PFN_cuLaunchKernel_v4000>(op)(fn, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shared, stream, kp, nullptr);
  });
}

// A cooperative grid travels as a launch frame; its parameters come as kernelParams (the call has no `extra`).
void launch_cooperative_kernel(Session &s, const gp_frame_launch &f, Writer &w, const Call &call, uint32_t op) {
  run_launch(s, f, w, call, op, [&](const Launch &l, CUfunction fn, CUstream stream, void **kp) {
    return s.driver().fn<PFN_cuLaunchCooperativeKernel_v9000>(op)(fn, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shared, stream, kp);
  });
}

void launch_kernel_ex(Session &s, const gp_frame_launch_ex &f, Writer &w, const Call &call, uint32_t op) {
  Launch l = launch_of(f);
  std::vector<CUlaunchAttribute> attrs = launch_attributes(f.attrs, f.attrs_count);
  uint32_t n = (uint32_t)attrs.size();

  CUfunction fn = nullptr;
  CUstream stream = nullptr;
  std::vector<void *> &kp = s.param_pointers();
  CUresult rc = prepare_launch(s, l, &fn, &stream, kp);
  // Each id is looked at as the number it travelled as: one the driver's enum does not name may not
  // even be loaded as that enum.
  for (uint32_t i = 0; i < n && rc == CUDA_SUCCESS; i++) {
    uint32_t id = f.attrs[i].id;
    if (id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT || id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) {
      // The event travels as the session's id for it, in the handle's place.
      CUlaunchAttributeValue &v = attrs[i].value;
      CUevent *slot = id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT ? &v.programmaticEvent.event : &v.launchCompletionEvent.event;
      void *event = nullptr;
      uint64_t event_id = (uint64_t)(uintptr_t)*slot;
      if (event_id == 0 || !s.lookup(event_id, GP_HANDLE_CUevent, &event)) rc = CUDA_ERROR_INVALID_HANDLE;
      *slot = (CUevent)event;
    } else if (!plain_attribute(id)) {
      rc = CUDA_ERROR_NOT_SUPPORTED;
    }
  }
  if (rc == CUDA_SUCCESS) {
    CUlaunchConfig config{};
    config.gridDimX = l.grid[0];
    config.gridDimY = l.grid[1];
    config.gridDimZ = l.grid[2];
    config.blockDimX = l.block[0];
    config.blockDimY = l.block[1];
    config.blockDimZ = l.block[2];
    config.sharedMemBytes = l.shared;
    config.hStream = stream;
    config.attrs = attrs.empty() ? nullptr : attrs.data();
    config.numAttrs = n;
    WorkScope work(s, stream, op_info(op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : s.driver().fn<PFN_cuLaunchKernelEx_v11060>(op)(&config, fn, kp.empty() ? nullptr : kp.data(), nullptr);
  }
  reply_empty(w, call, rc);
}

// ---- unified copies --------------------------------------------------------------------------------

// Both ends must be device memory this session allocated: with unified addressing cuMemcpy would
// as gladly read or write the daemon's own host memory, or another session's allocations.
static CUresult check_copy(Session &s, uint32_t op, CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  CUresult rc = s.check_device(op, "dst", dst, Extent(bytes), CUDA_ERROR_INVALID_VALUE);
  return rc == CUDA_SUCCESS ? s.check_device(op, "src", src, Extent(bytes), CUDA_ERROR_INVALID_VALUE) : rc;
}

void memcpy_unified(Session &s, const gp_frame_memcpy &f, Writer &w, const Call &call, uint32_t op) {
  CUdeviceptr dst = f.dst, src = f.src;
  size_t bytes = f.bytes;
  CUresult rc = check_copy(s, op, dst, src, bytes);
  if (rc == CUDA_SUCCESS) {
    WorkScope work(s, nullptr, op_info(op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : s.driver().fn<PFN_cuMemcpy_v4000>(op)(dst, src, bytes);
  }
  reply_empty(w, call, rc);
}

void memcpy_unified_async(Session &s, const gp_frame_memcpy_async &f, Writer &w, const Call &call, uint32_t op) {
  CUdeviceptr dst = f.dst, src = f.src;
  size_t bytes = f.bytes;
  uint64_t stream_id = f.stream;
  CUresult rc = check_copy(s, op, dst, src, bytes);
  void *stream = nullptr;
  if (!s.lookup(stream_id, GP_HANDLE_CUstream, &stream) && rc == CUDA_SUCCESS) rc = CUDA_ERROR_INVALID_HANDLE;
  if (rc == CUDA_SUCCESS) {
    WorkScope work(s, (CUstream)stream, op_info(op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : s.driver().fn<PFN_cuMemcpyAsync_v4000>(op)(dst, src, bytes, (CUstream)stream);
  }
  reply_empty(w, call, rc);
}

// ---- pitched copies --------------------------------------------------------------------------------

namespace {

// A pitched copy's frame (docs/protocol.md, "Hand-encoded calls"): kind, then four fields per side
// (device, xInBytes, y, pitch; zeros for the host side, whose rows are packed in the bin or the
// reply), WidthInBytes, Height.
enum Copy2DKind : uint32_t { kCopyHtoD = 0, kCopyDtoH = 1, kCopyDtoD = 2 };

struct Side2D {
  CUdeviceptr device;
  size_t x, y, pitch;
};

struct Copy2D {
  uint32_t kind;
  Side2D dst, src;
  size_t width, height;
};

// From a memcpy_2d or memcpy_2d_async frame (gp_frames.h; the kind's bound checked by its codec).
static_assert(GP_FRAME_MEMCPY_2D_KIND_MAX == kCopyDtoD, "the kinds of frames.ts");
template <typename Frame>
Copy2D copy_2d_of(const Frame &f) {
  Copy2D c{};
  c.kind = f.kind;
  c.dst = Side2D{f.dst_device, f.dst_x, f.dst_y, f.dst_pitch};
  c.src = Side2D{f.src_device, f.src_x, f.src_y, f.src_pitch};
  c.width = f.width;
  c.height = f.height;
  return c;
}

// Bytes of the host side's packed rows (width * height), or a ProtocolError when the daemon would
// have to hold more than a session may.
size_t packed_size(const Session &s, const Copy2D &c) {
  size_t n = 0;
  if (__builtin_mul_overflow(c.width, c.height, &n)) throw ProtocolError("a 2D copy's size overflows");
  return s.checked_size(n);
}

// Whether a device side's rows lie inside one allocation of the session: the whole pitched extent,
// from y*pitch + x to (y + height - 1)*pitch + x + width.
CUresult check_rows(Session &s, uint32_t op, const char *param, const Side2D &d, size_t width, size_t height) {
  Extent start = Extent(d.device) + Extent(d.y) * Extent(d.pitch) + Extent(d.x);
  // An overflowing start is an overflowed extent: refused like one.
  Extent extent = start.exact() ? Extent::rows(d.pitch, width, height) : start;
  return s.check_device(op, param, start.exact() ? (CUdeviceptr)start.bytes() : d.device, extent, CUDA_ERROR_INVALID_VALUE);
}

// The driver's descriptor: device sides as given, the host side over `host` with rows packed.
CUDA_MEMCPY2D rebuild_2d(const Copy2D &c, const void *host) {
  CUDA_MEMCPY2D m{};
  m.WidthInBytes = c.width;
  m.Height = c.height;
  if (c.kind == kCopyHtoD) {
    m.srcMemoryType = CU_MEMORYTYPE_HOST;
    m.srcHost = host;
    m.srcPitch = c.width;
  } else {
    m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    m.srcDevice = c.src.device;
    m.srcXInBytes = c.src.x;
    m.srcY = c.src.y;
    m.srcPitch = c.src.pitch;
  }
  if (c.kind == kCopyDtoH) {
    m.dstMemoryType = CU_MEMORYTYPE_HOST;
    m.dstHost = const_cast<void *>(host);
    m.dstPitch = c.width;
  } else {
    m.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    m.dstDevice = c.dst.device;
    m.dstXInBytes = c.dst.x;
    m.dstY = c.dst.y;
    m.dstPitch = c.dst.pitch;
  }
  return m;
}

// Decodes the rest of the frame after the stream (if any), checks it and runs `copy` on the
// descriptor; replies [seq, rc] or, for DtoH, [seq, rc, rows packed].
template <typename Run>
void copy_2d(Session &s, Bin data, Writer &w, const Call &call, uint32_t op, const Copy2D &c, CUresult rc, CUstream stream, Run run) {
  if (c.kind == kCopyDtoH && call.seq == 0) throw ProtocolError("a device-to-host 2D copy needs a reply (seq != 0)");
  size_t bytes = c.kind == kCopyDtoD ? 0 : packed_size(s, c);
  if (c.kind == kCopyHtoD && data.size != bytes) throw ProtocolError("a 2D copy's rows have the wrong size");
  bool empty = c.width == 0 || c.height == 0;  // nothing to check or to copy
  if (rc == CUDA_SUCCESS && !empty && c.kind != kCopyHtoD) rc = check_rows(s, op, "src", c.src, c.width, c.height);
  if (rc == CUDA_SUCCESS && !empty && c.kind != kCopyDtoH) rc = check_rows(s, op, "dst", c.dst, c.width, c.height);
  // Only for a copy that will run: a refused one must not make the daemon hold its size.
  std::vector<unsigned char> scratch(c.kind == kCopyDtoH && rc == CUDA_SUCCESS ? bytes : 0);
  if (rc == CUDA_SUCCESS && !empty) {
    CUDA_MEMCPY2D m = rebuild_2d(c, c.kind == kCopyHtoD ? data.data : scratch.data());
    WorkScope work(s, stream, op_info(call.op)->per_thread);
    rc = work.rc != CUDA_SUCCESS ? work.rc : run(m);
  }
  if (!w.begin_reply(call, rc)) return;
  if (rc == CUDA_SUCCESS && c.kind == kCopyDtoH) w.bin(scratch.data(), scratch.size());
  w.end_reply();
}

}  // namespace

// cuMemcpy2D and cuMemcpy2DUnaligned, either default stream: the op picks the driver's entry point.
void memcpy_2d(Session &s, const gp_frame_memcpy_2d &f, Writer &w, const Call &call, uint32_t op) {
  Copy2D c = copy_2d_of(f);
  copy_2d(s, Bin{f.rows, f.rows_len}, w, call, op, c, CUDA_SUCCESS, nullptr, [&](const CUDA_MEMCPY2D &m) { return s.driver().fn<PFN_cuMemcpy2D_v3020>(op)(&m); });
}

// cuMemcpy2DAsync. A device-to-host copy lands in the daemon's pageable scratch, so the driver has
// finished it when the call returns, and the reply carries the rows.
void memcpy_2d_async(Session &s, const gp_frame_memcpy_2d_async &f, Writer &w, const Call &call, uint32_t op) {
  Copy2D c = copy_2d_of(f);
  void *stream = nullptr;
  CUresult rc = s.lookup(f.stream, GP_HANDLE_CUstream, &stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
  copy_2d(s, Bin{f.rows, f.rows_len}, w, call, op, c, rc, (CUstream)stream, [&](const CUDA_MEMCPY2D &m) { return s.driver().fn<PFN_cuMemcpy2DAsync_v3020>(op)(&m, (CUstream)stream); });
}

// ---- cluster occupancy -----------------------------------------------------------------------------

// cuOccupancyMaxActiveClusters: a launch configuration without parameters (docs/protocol.md). Only
// attributes that are plain values may come with it: none becomes a pointer the driver follows.
void occupancy_max_active_clusters(Session &s, const gp_frame_clusters &frame, Writer &w, const Call &call, uint32_t op) {
  uint64_t fn_id = frame.fn;
  const uint32_t *grid = frame.grid, *block = frame.block;
  unsigned shared = frame.shared;
  uint64_t stream_id = frame.stream;
  std::vector<CUlaunchAttribute> attrs = launch_attributes(frame.attrs, frame.attrs_count);
  uint32_t n = (uint32_t)attrs.size();
  CUresult rc = CUDA_SUCCESS;
  // Events, graph-only attributes and ids this build does not know (checked as the numbers they travelled as).
  for (uint32_t i = 0; i < n; i++)
    if (!plain_attribute(frame.attrs[i].id)) rc = CUDA_ERROR_NOT_SUPPORTED;
  void *f = nullptr, *st = nullptr;
  int kind = 0;
  if (rc == CUDA_SUCCESS && !s.lookup_any(fn_id, {GP_HANDLE_CUfunction, GP_HANDLE_CUkernel}, &f, &kind)) rc = CUDA_ERROR_INVALID_HANDLE;
  if (rc == CUDA_SUCCESS && !s.lookup(stream_id, GP_HANDLE_CUstream, &st)) rc = CUDA_ERROR_INVALID_HANDLE;
  int clusters = 0;
  if (rc == CUDA_SUCCESS) {
    CUlaunchConfig config{};
    config.gridDimX = grid[0];
    config.gridDimY = grid[1];
    config.gridDimZ = grid[2];
    config.blockDimX = block[0];
    config.blockDimY = block[1];
    config.blockDimZ = block[2];
    config.sharedMemBytes = shared;
    config.hStream = (CUstream)st;
    config.attrs = attrs.empty() ? nullptr : attrs.data();
    config.numAttrs = n;
    rc = s.driver().fn<PFN_cuOccupancyMaxActiveClusters_v11070>(op)(&clusters, (CUfunction)f, &config);
  }
  if (!w.begin_reply(call, rc)) return;
  if (rc == CUDA_SUCCESS) w.i64(clusters);
  w.end_reply();
}

}  // namespace handlers
}  // namespace gp
