"""NVML inside a gpupool job, through ctypes as PyTorch itself loads it (test/pytorch/nvml.test.ts).
Prints one JSON object: the devices NVML lists, and what torch counts. Argument "torch": also import
torch and count through NVML and through CUDA."""
import ctypes
import json
import sys

nvml = ctypes.CDLL("libnvidia-ml.so.1")
assert nvml.nvmlInit_v2() == 0, "nvmlInit_v2"
count = ctypes.c_uint()
assert nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0


class Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class Process(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong), ("gi", ctypes.c_uint), ("ci", ctypes.c_uint)]


def devices():
    out = []
    for i in range(count.value):
        h = ctypes.c_void_p()
        assert nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h)) == 0
        name, uuid = ctypes.create_string_buffer(96), ctypes.create_string_buffer(96)
        nvml.nvmlDeviceGetName(h, name, 96)
        nvml.nvmlDeviceGetUUID(h, uuid, 96)
        mem = Memory()
        assert nvml.nvmlDeviceGetMemoryInfo(h, ctypes.byref(mem)) == 0
        n = ctypes.c_uint(4)
        procs = (Process * 4)()
        nvml.nvmlDeviceGetComputeRunningProcesses_v3(h, ctypes.byref(n), procs)
        rates, celsius, milliwatts = (ctypes.c_uint * 2)(), ctypes.c_uint(), ctypes.c_uint()
        figures = [nvml.nvmlDeviceGetUtilizationRates(h, rates), nvml.nvmlDeviceGetTemperature(h, 0, ctypes.byref(celsius)),
                   nvml.nvmlDeviceGetPowerUsage(h, ctypes.byref(milliwatts))]
        out.append({"name": name.value.decode(), "uuid": uuid.value.decode(), "total": mem.total, "used": mem.used,
                    "processes": [procs[k].pid for k in range(n.value)], "figures_rc": figures,
                    "utilization": list(rates), "temperature": celsius.value, "power_mw": milliwatts.value})
    return out


facts = {"count": count.value, "devices": devices()}
if len(sys.argv) > 1 and sys.argv[1] == "torch":
    import os
    import torch
    facts["torch_nvml_count"] = torch.cuda._device_count_nvml()
    facts["torch_count"] = torch.cuda.device_count()
    x = torch.empty(1 << 20, device="cuda")  # an allocation, no kernel: the emulator runs none of torch's
    torch.cuda.synchronize()
    facts["holding"] = devices()
    facts["pid"] = os.getpid()
print(json.dumps(facts))
nvml.nvmlShutdown()
