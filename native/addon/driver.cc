#include "driver.h"

#include <dlfcn.h>

#include <algorithm>

#include "dispatch.h"

namespace gp {

namespace {

// NULL when the driver has no such entry point at that version.
void *resolve(PFN_cuGetProcAddress_v12000 gpa, const char *name, int version, cuuint64_t flags) {
  void *fn = nullptr;
  CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (gpa(name, &fn, version, flags, &status) != CUDA_SUCCESS || status != CU_GET_PROC_ADDRESS_SUCCESS) return nullptr;
  return fn;
}

template <typename F>
void bind(DriverFn<F> &slot, PFN_cuGetProcAddress_v12000 gpa, const char *name, int version) {
  slot.f = reinterpret_cast<F>(resolve(gpa, name, version, CU_GET_PROC_ADDRESS_DEFAULT));
}

// Capabilities gpupool does not carry read 0 to its clients, so that programs that probe them take a
// path that works through it: managed and pageable memory (the client's host cannot address a remote
// card's memory: docs/operations.md, "Memory quotas"), and memory on the daemon's host or exportable
// to its processes (the export calls are not carried).
bool not_carried(int attr) {
  switch (attr) {
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS:
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES:
    case CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_MULTINODE_IPC_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_MEMORY_POOLS_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::shared_ptr<Driver> Driver::open(const std::string &path) {
  std::shared_ptr<Driver> d(new Driver());
  d->path_ = path;
  dlerror();
  d->lib_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (d->lib_ == nullptr) {
    const char *why = dlerror();
    throw DriverError(path + ": cannot load the CUDA driver: " + (why ? why : "dlopen failed"), -1);
  }
  auto gpa = reinterpret_cast<PFN_cuGetProcAddress_v12000>(dlsym(d->lib_, "cuGetProcAddress_v2"));
  auto init = reinterpret_cast<PFN_cuInit_v2000>(dlsym(d->lib_, "cuInit"));
  if (gpa == nullptr || init == nullptr) {
    throw DriverError(path + ": not a CUDA 12+ driver (cuInit or cuGetProcAddress_v2 missing)", -1);
  }
  bind(d->get_error_name_, gpa, "cuGetErrorName", 6000);
  // Not a CUDA symbol: only the emulated driver exports it.
  d->emu_counters_ = reinterpret_cast<unsigned (*)(const char **, unsigned long long *, unsigned)>(dlsym(d->lib_, "gpupoolEmuCounters"));
  // The emulator keeps each context's device printf for the daemon to send to its job.
  auto capture = reinterpret_cast<void (*)()>(dlsym(d->lib_, "gpupoolEmuPrintfCapture"));
  d->emu_printf_take_ = reinterpret_cast<size_t (*)(CUcontext, void *, size_t)>(dlsym(d->lib_, "gpupoolEmuPrintfTake"));
  if (capture != nullptr && d->emu_printf_take_ != nullptr) capture();

  CUresult rc = init(0);
  if (rc != CUDA_SUCCESS) throw DriverError(path + ": cuInit failed: " + d->error_name(rc), rc);

  DriverFn<PFN_cuDriverGetVersion_v2020> get_version{};
  bind(get_version, gpa, "cuDriverGetVersion", 2020);
  if ((rc = get_version(&d->version_)) != CUDA_SUCCESS) {
    throw DriverError(path + ": cuDriverGetVersion failed: " + d->error_name(rc), rc);
  }

  // Every op's entry point; an absent one stays NULL and answers CUDA_ERROR_NOT_SUPPORTED.
  d->ops_.assign(op_count(), nullptr);
  for (uint32_t op = 1; op < op_count(); op++) {
    const OpInfo *info = op_info(op);
    cuuint64_t flags = info->per_thread ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM : CU_GET_PROC_ADDRESS_DEFAULT;
    d->ops_[op] = resolve(gpa, info->name, info->version, flags);
  }

  Api &a = d->api_;
  bind(a.ctxSetCurrent, gpa, "cuCtxSetCurrent", 4000);
  bind(a.ctxCreate, gpa, "cuCtxCreate", 3020);
  bind(a.ctxCreateV4, gpa, "cuCtxCreate", 12050);
  bind(a.ctxDestroy, gpa, "cuCtxDestroy", 4000);
  bind(a.memAlloc, gpa, "cuMemAlloc", 3020);
  bind(a.memAllocPitch, gpa, "cuMemAllocPitch", 3020);
  bind(a.memFree, gpa, "cuMemFree", 3020);
  bind(a.memGetInfo, gpa, "cuMemGetInfo", 3020);
  bind(a.streamDestroy, gpa, "cuStreamDestroy", 4000);
  bind(a.eventDestroy, gpa, "cuEventDestroy", 4000);
  bind(a.eventCreate, gpa, "cuEventCreate", 2000);
  bind(a.eventRecord, gpa, "cuEventRecord", 2000);
  bind(a.eventSynchronize, gpa, "cuEventSynchronize", 2000);
  bind(a.eventQuery, gpa, "cuEventQuery", 2000);
  // CUDA 13 drivers may offer only the 12.8 variant; the signature is the same.
  bind(a.eventElapsedTime, gpa, "cuEventElapsedTime", 12080);
  if (a.eventElapsedTime.f == nullptr) bind(a.eventElapsedTime, gpa, "cuEventElapsedTime", 2000);
  bind(a.moduleUnload, gpa, "cuModuleUnload", 2000);
  bind(a.libraryUnload, gpa, "cuLibraryUnload", 12000);
  bind(a.moduleGetGlobal, gpa, "cuModuleGetGlobal", 3020);
  bind(a.libraryGetGlobal, gpa, "cuLibraryGetGlobal", 12000);
  bind(a.graphDestroy, gpa, "cuGraphDestroy", 10000);
  bind(a.graphExecDestroy, gpa, "cuGraphExecDestroy", 10000);
  bind(a.kernelGetParamInfo, gpa, "cuKernelGetParamInfo", 12040);
  bind(a.funcGetParamInfo, gpa, "cuFuncGetParamInfo", 12040);
  bind(a.ctxSynchronize, gpa, "cuCtxSynchronize", 2000);
  bind(a.memHostRegister, gpa, "cuMemHostRegister", 6050);
  bind(a.memHostUnregister, gpa, "cuMemHostUnregister", 4000);
  bind(a.streamSynchronize, gpa, "cuStreamSynchronize", 2000);
  bind(a.arrayCreate, gpa, "cuArrayCreate", 3020);
  bind(a.linkCreate, gpa, "cuLinkCreate", 6050);
  bind(a.linkAddData, gpa, "cuLinkAddData", 6050);
  bind(a.linkComplete, gpa, "cuLinkComplete", 5050);
  bind(a.linkDestroy, gpa, "cuLinkDestroy", 5050);
  bind(a.array3DCreate, gpa, "cuArray3DCreate", 3020);
  bind(a.arrayDestroy, gpa, "cuArrayDestroy", 2000);
  bind(a.mipmappedArrayCreate, gpa, "cuMipmappedArrayCreate", 5000);
  bind(a.mipmappedArrayGetLevel, gpa, "cuMipmappedArrayGetLevel", 5000);
  bind(a.mipmappedArrayDestroy, gpa, "cuMipmappedArrayDestroy", 5000);
  bind(a.memAllocFromPoolAsync, gpa, "cuMemAllocFromPoolAsync", 11020);
  bind(a.memFreeAsync, gpa, "cuMemFreeAsync", 11020);
  bind(a.memPoolCreate, gpa, "cuMemPoolCreate", 11020);
  bind(a.memPoolDestroy, gpa, "cuMemPoolDestroy", 11020);
  bind(a.memPoolSetAttribute, gpa, "cuMemPoolSetAttribute", 11020);
  bind(a.memPoolGetAttribute, gpa, "cuMemPoolGetAttribute", 11020);
  bind(a.memAddressReserve, gpa, "cuMemAddressReserve", 10020);
  bind(a.memAddressFree, gpa, "cuMemAddressFree", 10020);
  bind(a.memCreate, gpa, "cuMemCreate", 10020);
  bind(a.memRelease, gpa, "cuMemRelease", 10020);
  bind(a.memMap, gpa, "cuMemMap", 10020);
  bind(a.memUnmap, gpa, "cuMemUnmap", 10020);
  bind(a.memSetAccess, gpa, "cuMemSetAccess", 10020);
  bind(a.memGetAllocationGranularity, gpa, "cuMemGetAllocationGranularity", 10020);
  bind(a.memGetAllocationPropertiesFromHandle, gpa, "cuMemGetAllocationPropertiesFromHandle", 10020);
  if (a.ctxSetCurrent.f == nullptr || a.ctxDestroy.f == nullptr || (a.ctxCreate.f == nullptr && a.ctxCreateV4.f == nullptr)) {
    throw DriverError(path + ": the driver lacks cuCtxSetCurrent, cuCtxCreate or cuCtxDestroy", -1);
  }

  // Devices.
  DriverFn<PFN_cuDeviceGetCount_v2000> get_count{};
  DriverFn<PFN_cuDeviceGet_v2000> get_device{};
  DriverFn<PFN_cuDeviceGetName_v2000> get_name{};
  DriverFn<PFN_cuDeviceGetUuid_v11040> get_uuid{};
  DriverFn<PFN_cuDeviceTotalMem_v3020> total_mem{};
  DriverFn<PFN_cuDeviceGetAttribute_v2000> get_attribute{};
  bind(get_count, gpa, "cuDeviceGetCount", 2000);
  bind(get_device, gpa, "cuDeviceGet", 2000);
  bind(get_name, gpa, "cuDeviceGetName", 2000);
  bind(get_uuid, gpa, "cuDeviceGetUuid", 11040);
  bind(total_mem, gpa, "cuDeviceTotalMem", 3020);
  bind(get_attribute, gpa, "cuDeviceGetAttribute", 2000);

  auto check = [&](CUresult r, const char *what) {
    if (r != CUDA_SUCCESS) throw DriverError(path + ": " + what + " failed: " + d->error_name(r), r);
  };
  int count = 0;
  check(get_count(&count), "cuDeviceGetCount");
  for (int i = 0; i < count; i++) {
    DeviceInfo info{};
    info.ordinal = i;
    check(get_device(&info.device, i), "cuDeviceGet");
    char name[256] = {0};
    check(get_name(name, (int)sizeof name - 1, info.device), "cuDeviceGetName");
    info.name = name;
    CUuuid uuid{};
    check(get_uuid(&uuid, info.device), "cuDeviceGetUuid");
    static_assert(sizeof uuid.bytes == sizeof info.uuid, "CUuuid is 16 bytes");
    for (int b = 0; b < 16; b++) info.uuid[b] = (unsigned char)uuid.bytes[b];
    check(total_mem(&info.total_mem, info.device), "cuDeviceTotalMem");
    for (int attr = 1; attr < CU_DEVICE_ATTRIBUTE_MAX; attr++) {
      int value = 0;
      if (get_attribute(&value, (CUdevice_attribute)attr, info.device) != CUDA_SUCCESS) continue;
      info.attributes.emplace_back(attr, not_carried(attr) ? 0 : value);
      if (attr == CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID) info.pci_domain = value;
      if (attr == CU_DEVICE_ATTRIBUTE_PCI_BUS_ID) info.pci_bus = value;
      if (attr == CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID) info.pci_device = value;
    }
    d->devices_.push_back(std::move(info));
  }
  return d;
}

bool Driver::device(int ordinal, CUdevice *out) const {
  if (ordinal < 0 || (size_t)ordinal >= devices_.size()) return false;
  *out = devices_[(size_t)ordinal].device;
  return true;
}

bool Driver::emu_stats(EmuCounters *out) const {
  if (emu_counters_ == nullptr) return false;
  // Asked twice: a newer emulator may report more counters than the first guess holds.
  std::vector<const char *> names(64);
  std::vector<unsigned long long> values(64);
  unsigned n = emu_counters_(names.data(), values.data(), (unsigned)names.size());
  if (n > names.size()) {
    names.resize(n);
    values.resize(n);
    n = std::min<unsigned>(n, emu_counters_(names.data(), values.data(), n));
  }
  out->clear();
  for (unsigned i = 0; i < n; i++) out->emplace_back(names[i] != nullptr ? names[i] : "", values[i]);
  return true;
}

std::string Driver::error_name(CUresult rc) const {
  const char *name = nullptr;
  if (get_error_name_(rc, &name) == CUDA_SUCCESS && name != nullptr) return std::string(name) + " (" + std::to_string((int)rc) + ")";
  return "CUresult " + std::to_string((int)rc);
}

}  // namespace gp
