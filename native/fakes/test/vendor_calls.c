/*
 * Every entry point of the fake vendor libraries (NVML, ROCm SMI, DCMI), on every card of the fixture
 * in GPUPOOL_SIM_FIXTURE, with good arguments and bad ones (NULL pointers, indexes past the last card,
 * short buffers), through init, shutdown and init again. Built and run against the sanitized build
 * (`make -C native asan`) by test/compute/sanitizers.test.ts: it passes when AddressSanitizer, LeakSanitizer
 * and UBSan have nothing to say. The results are not checked here (the contract tests do that).
 */
#include <stdio.h>
#include <string.h>

#include "../dcmi_api.h"
#include "../nvml_api.h"
#include "../rocm_smi_api.h"

static void nvml(void)
{
    char text[96];
    unsigned int count = 0, u = 0, pending = 0;
    int major = 0, minor = 0, cuda = 0;
    (void)nvmlSystemGetDriverVersion(text, sizeof text);
    (void)nvmlSystemGetDriverVersion(text, 2);
    (void)nvmlSystemGetNVMLVersion(text, sizeof text);
    (void)nvmlSystemGetCudaDriverVersion_v2(&cuda);
    (void)nvmlDeviceGetCount_v2(&count);
    (void)nvmlDeviceGetCount_v2(NULL);
    (void)nvmlErrorString(NVML_SUCCESS);
    (void)nvmlErrorString((nvmlReturn_t)12345);
    for (unsigned int i = 0; i <= count; i++) { /* one past the last */
        nvmlDevice_t d = NULL;
        if (nvmlDeviceGetHandleByIndex_v2(i, &d) != NVML_SUCCESS)
            continue;
        nvmlPciInfo_t pci;
        nvmlMemory_t mem;
        nvmlMemory_v2_t mem2 = { .version = NVML_MEMORY_V2_VERSION };
        nvmlMemory_v2_t bad_version = { .version = 1 };
        nvmlUtilization_t util;
        nvmlTemperature_t temp = { .version = NVML_TEMPERATURE_V1_VERSION, .sensorType = NVML_TEMPERATURE_GPU };
        nvmlProcessInfo_t procs[4];
        nvmlProcessInfo_v1_t procs1[4];
        unsigned long long events = 0;
        (void)nvmlDeviceGetIndex(d, &u);
        (void)nvmlDeviceGetMinorNumber(d, &u);
        (void)nvmlDeviceGetName(d, text, sizeof text);
        (void)nvmlDeviceGetName(d, text, 3);
        (void)nvmlDeviceGetUUID(d, text, sizeof text);
        nvmlDevice_t same = NULL;
        (void)nvmlDeviceGetHandleByUUID(text, &same);
        (void)nvmlDeviceGetHandleByUUID("GPU-not-there", &same);
        (void)nvmlDeviceGetUUID(d, text, 5);
        (void)nvmlDeviceGetPciInfo_v3(d, &pci);
        (void)nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &u);
        (void)nvmlDeviceGetTemperatureV(d, &temp);
        (void)nvmlDeviceGetPowerUsage(d, &u);
        (void)nvmlDeviceGetMemoryInfo(d, &mem);
        (void)nvmlDeviceGetMemoryInfo_v2(d, &mem2);
        (void)nvmlDeviceGetMemoryInfo_v2(d, &bad_version);
        (void)nvmlDeviceGetMemoryInfo(d, NULL);
        (void)nvmlDeviceGetCudaComputeCapability(d, &major, &minor);
        (void)nvmlDeviceGetUtilizationRates(d, &util);
        for (unsigned int cap = 0; cap <= 4; cap += 4) {
            unsigned int n = cap;
            (void)nvmlDeviceGetComputeRunningProcesses_v3(d, &n, procs);
            n = cap;
            (void)nvmlDeviceGetComputeRunningProcesses(d, &n, procs1);
        }
        (void)nvmlDeviceGetMigMode(d, &u, &pending);
        (void)nvmlDeviceGetSupportedEventTypes(d, &events);
        nvmlEventSet_t set = NULL;
        if (nvmlEventSetCreate(&set) == NVML_SUCCESS) {
            nvmlEventData_t data;
            (void)nvmlDeviceRegisterEvents(d, NVML_EVENT_XID_CRITICAL, set);
            (void)nvmlEventSetWait_v2(set, &data, 1);
            (void)nvmlEventSetWait(set, &data, 0);
            (void)nvmlEventSetFree(set);
        }
    }
    (void)nvmlDeviceGetName(NULL, text, sizeof text);
}

static void rocm(void)
{
    uint32_t count = 0, u32 = 0;
    uint16_t u16 = 0;
    uint64_t u64 = 0;
    int64_t temp = 0;
    char text[96];
    const char *s = NULL;
    rsmi_version_t version;
    RSMI_POWER_TYPE type;
    (void)rsmi_num_monitor_devices(&count);
    (void)rsmi_version_get(&version);
    (void)rsmi_status_string(RSMI_STATUS_SUCCESS, &s);
    (void)rsmi_status_string((rsmi_status_t)999, &s);
    for (uint32_t i = 0; i <= count; i++) {
        (void)rsmi_dev_id_get(i, &u16);
        (void)rsmi_dev_vendor_id_get(i, &u16);
        (void)rsmi_dev_name_get(i, text, sizeof text);
        (void)rsmi_dev_name_get(i, text, 2);
        (void)rsmi_dev_market_name_get(i, text, sizeof text);
        (void)rsmi_dev_unique_id_get(i, &u64);
        (void)rsmi_dev_pci_id_get(i, &u64);
        (void)rsmi_dev_memory_total_get(i, RSMI_MEM_TYPE_VRAM, &u64);
        (void)rsmi_dev_memory_usage_get(i, RSMI_MEM_TYPE_VRAM, &u64);
        (void)rsmi_dev_memory_usage_get(i, RSMI_MEM_TYPE_GTT, &u64);
        (void)rsmi_dev_memory_busy_percent_get(i, &u32);
        (void)rsmi_dev_busy_percent_get(i, &u32);
        (void)rsmi_dev_temp_metric_get(i, RSMI_TEMP_TYPE_EDGE, RSMI_TEMP_CURRENT, &temp);
        (void)rsmi_dev_temp_metric_get(i, RSMI_TEMP_TYPE_MEMORY, RSMI_TEMP_HIGHEST, &temp);
        (void)rsmi_dev_power_ave_get(i, 0, &u64);
        (void)rsmi_dev_current_socket_power_get(i, &u64);
        (void)rsmi_dev_power_get(i, &u64, &type);
        (void)rsmi_dev_name_get(i, NULL, 0);
    }
    rsmi_process_info_t procs[4];
    uint32_t n = 0;
    (void)rsmi_compute_process_info_get(NULL, &n);
    n = 1;
    (void)rsmi_compute_process_info_get(procs, &n);
    n = 4;
    (void)rsmi_compute_process_info_get(procs, &n);
}

static void dcmi(void)
{
    int cards[8], count = 0, n = 0, power = 0, temp = 0, logic = 0, mcu = 0, cpu = 0, errors = 0;
    unsigned int health = 0, util = 0, codes[4];
    char text[64];
    (void)dcmi_get_dcmi_version(text, sizeof text);
    (void)dcmi_get_dcmi_version(text, 2);
    (void)dcmi_get_card_list(&count, cards, 8);
    (void)dcmi_get_card_num_list(&n, cards, 1);
    (void)dcmi_get_card_list(&count, cards, 8);
    for (int k = 0; k <= count && k < 8; k++) {
        int card = k < count ? cards[k] : 999;
        int devices = 0;
        (void)dcmi_get_device_num_in_card(card, &devices);
        (void)dcmi_get_device_id_in_card(card, &n, &mcu, &cpu);
        (void)dcmi_mcu_get_power_info(card, &power);
        for (int dev = 0; dev <= devices; dev++) {
            enum dcmi_unit_type type;
            struct dcmi_pcie_info_all pcie;
            struct dcmi_chip_info chip;
            struct dcmi_chip_info_v2 chip2;
            struct dcmi_hbm_info hbm;
            struct dcmi_get_memory_info_stru mem3;
            struct dcmi_memory_info_stru mem;
            struct dcmi_multi_utilization_info multi;
            struct dcmi_die_id die;
            struct dcmi_proc_mem_info procs[4];
            int nprocs = 4;
            (void)dcmi_get_device_type(card, dev, &type);
            (void)dcmi_get_device_pcie_info_v2(card, dev, &pcie);
            (void)dcmi_get_device_chip_info(card, dev, &chip);
            (void)dcmi_get_device_chip_info_v2(card, dev, &chip2);
            (void)dcmi_get_device_power_info(card, dev, &power);
            (void)dcmi_get_device_health(card, dev, &health);
            errors = 4;
            (void)dcmi_get_device_errorcode_v2(card, dev, &errors, codes, 4);
            (void)dcmi_get_device_errorcode_v2(card, dev, &errors, codes, 0);
            (void)dcmi_get_device_temperature(card, dev, &temp);
            (void)dcmi_get_device_hbm_info(card, dev, &hbm);
            (void)dcmi_get_device_memory_info_v3(card, dev, &mem3);
            (void)dcmi_get_memory_info(card, dev, &mem);
            (void)dcmi_get_device_utilization_rate(card, dev, DCMI_UTIL_AICORE, &util);
            (void)dcmi_get_device_utilization_rate(card, dev, 99, &util);
            (void)dcmi_get_device_multi_utilization_rate(card, dev, &multi);
            (void)dcmi_get_device_logic_id(&logic, card, dev);
            (void)dcmi_get_device_die_v2(card, dev, VDIE, &die);
            (void)dcmi_get_device_resource_info(card, dev, procs, &nprocs);
            (void)dcmi_get_device_health(card, dev, NULL);
        }
    }
}

int main(void)
{
    for (int round = 0; round < 2; round++) {
        (void)nvmlInit_v2();
        nvml();
        (void)nvmlShutdown();
        (void)rsmi_init(0);
        rocm();
        (void)rsmi_shut_down();
        (void)dcmi_init();
        dcmi();
    }
    nvml(); /* after shutdown: every call must refuse, not crash */
    rocm();
    puts("vendors: every call made");
    return 0;
}
