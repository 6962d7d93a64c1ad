/*
 * The slice of the ROCm SMI ABI the fake implements, declared from the facts in
 * shared/reference/vendor-libraries.md section 2.1 (not from AMD's header).
 */
#ifndef GPUPOOL_FAKES_ROCM_SMI_API_H
#define GPUPOOL_FAKES_ROCM_SMI_API_H

#include <stddef.h>
#include <stdint.h>

/* Values follow the real enum order; RSMI_INITIALIZATION_ERROR aliases 8 without shifting the rest. */
typedef enum {
    RSMI_STATUS_SUCCESS = 0,
    RSMI_STATUS_INVALID_ARGS = 1,
    RSMI_STATUS_NOT_SUPPORTED = 2,
    RSMI_STATUS_FILE_ERROR = 3,
    RSMI_STATUS_PERMISSION = 4,
    RSMI_STATUS_OUT_OF_RESOURCES = 5,
    RSMI_STATUS_INTERNAL_EXCEPTION = 6,
    RSMI_STATUS_INPUT_OUT_OF_BOUNDS = 7,
    RSMI_STATUS_INIT_ERROR = 8,
    RSMI_STATUS_NOT_YET_IMPLEMENTED = 9,
    RSMI_STATUS_NOT_FOUND = 10,
    RSMI_STATUS_INSUFFICIENT_SIZE = 11,
    RSMI_STATUS_INTERRUPT = 12,
    RSMI_STATUS_UNEXPECTED_SIZE = 13,
    RSMI_STATUS_NO_DATA = 14,
    RSMI_STATUS_UNEXPECTED_DATA = 15,
    RSMI_STATUS_BUSY = 16,
    RSMI_STATUS_REFCOUNT_OVERFLOW = 17,
    RSMI_STATUS_SETTING_UNAVAILABLE = 18,
    RSMI_STATUS_AMDGPU_RESTART_ERR = 19,
    RSMI_STATUS_DRM_ERROR = 20,
    RSMI_STATUS_FAIL_LOAD_MODULE = 21,
    RSMI_STATUS_FAIL_LOAD_SYMBOL = 22,
    RSMI_STATUS_UNKNOWN_ERROR = 0xFFFFFFFF
} rsmi_status_t;

typedef enum {
    RSMI_MEM_TYPE_VRAM = 0,
    RSMI_MEM_TYPE_VIS_VRAM = 1,
    RSMI_MEM_TYPE_GTT = 2
} rsmi_memory_type_t;

typedef enum {
    RSMI_TEMP_CURRENT = 0,
    RSMI_TEMP_HIGHEST = 13
} rsmi_temperature_metric_t;

/* rsmi_dev_temp_metric_get takes the sensor as a plain uint32_t. */
#define RSMI_TEMP_TYPE_EDGE 0u
#define RSMI_TEMP_TYPE_JUNCTION 1u
#define RSMI_TEMP_TYPE_MEMORY 2u

typedef enum {
    RSMI_AVERAGE_POWER = 0,
    RSMI_CURRENT_POWER = 1,
    RSMI_INVALID_POWER = 0xFFFFFFFF
} RSMI_POWER_TYPE;

typedef struct {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
    const char *build;
} rsmi_version_t;

typedef struct {
    uint32_t process_id;
    uint32_t pasid;
    uint64_t vram_usage;   /* bytes */
    uint64_t sdma_usage;   /* microseconds */
    uint32_t cu_occupancy; /* percent */
} rsmi_process_info_t;

#define RSMI_AMD_VENDOR_ID 0x1002u

_Static_assert(sizeof(rsmi_status_t) == 4, "rsmi_status_t is 32-bit");
_Static_assert(sizeof(rsmi_version_t) == 24, "rsmi_version_t is 24 bytes");
_Static_assert(sizeof(rsmi_process_info_t) == 32, "rsmi_process_info_t is 32 bytes");
_Static_assert(offsetof(rsmi_process_info_t, vram_usage) == 8, "rsmi_process_info_t.vram_usage at 8");
_Static_assert(offsetof(rsmi_process_info_t, cu_occupancy) == 24, "rsmi_process_info_t.cu_occupancy at 24");

/* ---- exported functions ---- */
rsmi_status_t rsmi_init(uint64_t init_flags);
rsmi_status_t rsmi_shut_down(void);
rsmi_status_t rsmi_num_monitor_devices(uint32_t *num_devices);
rsmi_status_t rsmi_dev_id_get(uint32_t dv_ind, uint16_t *id);
rsmi_status_t rsmi_dev_vendor_id_get(uint32_t dv_ind, uint16_t *id);
rsmi_status_t rsmi_dev_name_get(uint32_t dv_ind, char *name, size_t len);
rsmi_status_t rsmi_dev_market_name_get(uint32_t dv_ind, char *market_name, uint32_t len);
rsmi_status_t rsmi_dev_unique_id_get(uint32_t dv_ind, uint64_t *id);
rsmi_status_t rsmi_dev_pci_id_get(uint32_t dv_ind, uint64_t *bdfid);
rsmi_status_t rsmi_dev_memory_total_get(uint32_t dv_ind, rsmi_memory_type_t mem_type, uint64_t *total);
rsmi_status_t rsmi_dev_memory_usage_get(uint32_t dv_ind, rsmi_memory_type_t mem_type, uint64_t *used);
rsmi_status_t rsmi_dev_memory_busy_percent_get(uint32_t dv_ind, uint32_t *busy_percent);
rsmi_status_t rsmi_dev_busy_percent_get(uint32_t dv_ind, uint32_t *busy_percent);
rsmi_status_t rsmi_dev_temp_metric_get(uint32_t dv_ind, uint32_t sensor_type, rsmi_temperature_metric_t metric,
                                       int64_t *temperature);
rsmi_status_t rsmi_dev_power_ave_get(uint32_t dv_ind, uint32_t sensor_ind, uint64_t *power);
rsmi_status_t rsmi_dev_current_socket_power_get(uint32_t dv_ind, uint64_t *socket_power);
rsmi_status_t rsmi_dev_power_get(uint32_t dv_ind, uint64_t *power, RSMI_POWER_TYPE *type);
rsmi_status_t rsmi_status_string(rsmi_status_t status, const char **status_string);
rsmi_status_t rsmi_version_get(rsmi_version_t *version);
rsmi_status_t rsmi_compute_process_info_get(rsmi_process_info_t *procs, uint32_t *num_items);

#endif /* GPUPOOL_FAKES_ROCM_SMI_API_H */
