// The CUDA driver as the daemon loads it: one dlopen'ed libcuda.so.1 (real or emulated), every
// op's entry point resolved once through cuGetProcAddress_v2, and the devices it reports. Shared,
// read-only after open(), by every session on it.
#ifndef GPUPOOL_ADDON_DRIVER_H
#define GPUPOOL_ADDON_DRIVER_H

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <cuda.h>
#include <cudaTypedefs.h>

namespace gp {

// A driver that could not be opened. code: the CUresult when a driver call failed, else -1.
class DriverError : public std::runtime_error {
 public:
  DriverError(const std::string &what, int code) : std::runtime_error(what), code(code) {}
  int code;
};

struct DeviceInfo {
  int ordinal;
  CUdevice device;
  std::string name;
  unsigned char uuid[16];
  int pci_domain, pci_bus, pci_device;
  size_t total_mem;
  std::vector<std::pair<int, int>> attributes;  // (CUdevice_attribute, value), each one answered (0: not carried)
};

// An entry point that may be absent: calling an absent one answers CUDA_ERROR_NOT_SUPPORTED.
template <typename F>
struct DriverFn {
  F f;
  template <typename... Args>
  CUresult operator()(Args &&...args) const {
    return f != nullptr ? f(std::forward<Args>(args)...) : CUDA_ERROR_NOT_SUPPORTED;
  }
};

class Driver {
 public:
  // dlopen + cuInit + resolution + device enumeration. Blocking: call it off the JS thread.
  static std::shared_ptr<Driver> open(const std::string &path);

  const std::string &path() const { return path_; }
  int version() const { return version_; }
  const std::vector<DeviceInfo> &devices() const { return devices_; }
  // The driver's CUdevice for an ordinal; false when out of range.
  bool device(int ordinal, CUdevice *out) const;
  // "CUDA_ERROR_X" for a result, or its number when the driver cannot name it.
  std::string error_name(CUresult rc) const;

  // The entry point of generated op `op` (gp_ops.h), cast to its PFN type.
  template <typename F>
  DriverFn<F> fn(uint32_t op) const {
    return DriverFn<F>{op < ops_.size() ? reinterpret_cast<F>(ops_[op]) : nullptr};
  }

  // Entry points the handlers and the session need beyond the op table, at fixed versions.
  struct Api {
    DriverFn<PFN_cuCtxSetCurrent_v4000> ctxSetCurrent;
    DriverFn<PFN_cuCtxCreate_v3020> ctxCreate;       // cuCtxCreate_v2
    DriverFn<PFN_cuCtxCreate_v12050> ctxCreateV4;    // cuCtxCreate_v4 (params NULL), preferred
    DriverFn<PFN_cuCtxDestroy_v4000> ctxDestroy;
    DriverFn<PFN_cuMemAlloc_v3020> memAlloc;
    DriverFn<PFN_cuMemAllocPitch_v3020> memAllocPitch;
    DriverFn<PFN_cuMemFree_v3020> memFree;
    DriverFn<PFN_cuMemGetInfo_v3020> memGetInfo;
    DriverFn<PFN_cuStreamDestroy_v4000> streamDestroy;
    DriverFn<PFN_cuEventDestroy_v4000> eventDestroy;
    // The scheduler's measurements (scheduler.h): events around each client's work.
    DriverFn<PFN_cuEventCreate_v2000> eventCreate;
    DriverFn<PFN_cuEventRecord_v2000> eventRecord;
    DriverFn<PFN_cuEventSynchronize_v2000> eventSynchronize;
    DriverFn<PFN_cuEventQuery_v2000> eventQuery;
    DriverFn<PFN_cuEventElapsedTime_v2000> eventElapsedTime;
    DriverFn<PFN_cuModuleUnload_v2000> moduleUnload;
    DriverFn<PFN_cuLibraryUnload_v12000> libraryUnload;
    DriverFn<PFN_cuModuleGetGlobal_v3020> moduleGetGlobal;
    DriverFn<PFN_cuLibraryGetGlobal_v12000> libraryGetGlobal;
    DriverFn<PFN_cuGraphDestroy_v10000> graphDestroy;
    DriverFn<PFN_cuGraphExecDestroy_v10000> graphExecDestroy;
    DriverFn<PFN_cuKernelGetParamInfo_v12040> kernelGetParamInfo;
    DriverFn<PFN_cuFuncGetParamInfo_v12040> funcGetParamInfo;
    DriverFn<PFN_cuCtxSynchronize_v2000> ctxSynchronize;
    // Arrays, stream-ordered allocation and VMM (session_memory.cc, alloc_handlers.cc).
    DriverFn<PFN_cuArrayCreate_v3020> arrayCreate;
    DriverFn<PFN_cuArray3DCreate_v3020> array3DCreate;
    DriverFn<PFN_cuArrayDestroy_v2000> arrayDestroy;
    DriverFn<PFN_cuMipmappedArrayCreate_v5000> mipmappedArrayCreate;
    DriverFn<PFN_cuMipmappedArrayGetLevel_v5000> mipmappedArrayGetLevel;
    DriverFn<PFN_cuMipmappedArrayDestroy_v5000> mipmappedArrayDestroy;
    DriverFn<PFN_cuMemAllocFromPoolAsync_v11020> memAllocFromPoolAsync;
    DriverFn<PFN_cuMemFreeAsync_v11020> memFreeAsync;
    DriverFn<PFN_cuMemPoolCreate_v11020> memPoolCreate;
    DriverFn<PFN_cuMemPoolDestroy_v11020> memPoolDestroy;
    DriverFn<PFN_cuMemPoolSetAttribute_v11020> memPoolSetAttribute;
    DriverFn<PFN_cuMemPoolGetAttribute_v11020> memPoolGetAttribute;
    DriverFn<PFN_cuMemAddressReserve_v10020> memAddressReserve;
    DriverFn<PFN_cuMemAddressFree_v10020> memAddressFree;
    DriverFn<PFN_cuMemCreate_v10020> memCreate;
    DriverFn<PFN_cuMemRelease_v10020> memRelease;
    DriverFn<PFN_cuMemMap_v10020> memMap;
    DriverFn<PFN_cuMemUnmap_v10020> memUnmap;
    DriverFn<PFN_cuMemSetAccess_v10020> memSetAccess;
    DriverFn<PFN_cuMemGetAllocationGranularity_v10020> memGetAllocationGranularity;
    DriverFn<PFN_cuMemGetAllocationPropertiesFromHandle_v10020> memGetAllocationPropertiesFromHandle;
    // JIT linking (link_handler.cc): one link per cuLinkComplete frame, created and destroyed there.
    DriverFn<PFN_cuLinkCreate_v6050> linkCreate;
    DriverFn<PFN_cuLinkAddData_v6050> linkAddData;
    DriverFn<PFN_cuLinkComplete_v5050> linkComplete;
    DriverFn<PFN_cuLinkDestroy_v5050> linkDestroy;
    // The shared memory of local jobs (shared_memory.cc): pinned for the card's DMA, and the stream a
    // staged copy waits for before its slot is the client's again.
    DriverFn<PFN_cuMemHostRegister_v6050> memHostRegister;
    DriverFn<PFN_cuMemHostUnregister_v4000> memHostUnregister;
    DriverFn<PFN_cuStreamSynchronize_v2000> streamSynchronize;
  };
  const Api &api() const { return api_; }

  // The emulated driver's counters of what is live in the process (docs/emulator.md, "Counters"), as
  // its optional entry point gpupoolEmuCounters names them; false on a real driver, which has none.
  // Found with dlsym so that the production addon needs none of the emulator's headers.
  using EmuCounters = std::vector<std::pair<std::string, unsigned long long>>;
  bool emu_stats(EmuCounters *out) const;
  // Device printf the emulated driver flushed for ctx (docs/compatibility.md, "Device printf"): up to
  // cap bytes moved into buf; 0 when there is none, and always on a real driver, whose printf FIFO
  // the driver itself writes to the daemon's stdout.
  size_t take_printf(CUcontext ctx, void *buf, size_t cap) const {
    return emu_printf_take_ != nullptr ? emu_printf_take_(ctx, buf, cap) : 0;
  }

 private:
  Driver() = default;
  std::string path_;
  void *lib_ = nullptr;  // never dlclose'd: a driver does not survive being unloaded
  int version_ = 0;
  std::vector<void *> ops_;
  Api api_{};
  DriverFn<PFN_cuGetErrorName_v6000> get_error_name_{};
  unsigned (*emu_counters_)(const char **names, unsigned long long *values, unsigned max) = nullptr;
  size_t (*emu_printf_take_)(CUcontext, void *, size_t) = nullptr;
  std::vector<DeviceInfo> devices_;
};

}  // namespace gp

#endif
