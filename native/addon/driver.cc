#include "driver.h"

#include <dlfcn.h>

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
  bind(a.kernelGetParamInfo, gpa, "cuKernelGetParamInfo", 12040);
  bind(a.funcGetParamInfo, gpa, "cuFuncGetParamInfo", 12040);
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
      info.attributes.emplace_back(attr, value);
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

std::string Driver::error_name(CUresult rc) const {
  const char *name = nullptr;
  if (get_error_name_(rc, &name) == CUDA_SUCCESS && name != nullptr) return std::string(name) + " (" + std::to_string((int)rc) + ")";
  return "CUresult " + std::to_string((int)rc);
}

}  // namespace gp
