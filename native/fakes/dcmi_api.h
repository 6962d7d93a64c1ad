/*
 * The slice of the Huawei Ascend DCMI ABI the fake implements, declared from the facts in
 * shared/reference/vendor-libraries.md section 3 (not from Huawei's header).
 * Sizes are the LP64 ones: `unsigned long` is 8 bytes, which makes
 * dcmi_get_memory_info_stru 112 bytes whatever its header comment claims.
 */
#ifndef GPUPOOL_FAKES_DCMI_API_H
#define GPUPOOL_FAKES_DCMI_API_H

#include <stddef.h>

#define DCMI_OK 0
#define DCMI_ERR_INVALID_PARAMETER (-8001)
#define DCMI_ERR_INTERNAL (-8005) /* also what an uninitialised library answers */
#define DCMI_ERR_INVALID_DEVICE_ID (-8007)
#define DCMI_ERR_DEVICE_NOT_EXIST (-8008)
#define DCMI_ERR_NOT_SUPPORTED (-8255)

#define DCMI_CHIP_NAME_LEN 32
#define DCMI_DIE_ID_COUNT 5
#define DCMI_UTIL_RESERVED_LEN 8

/* dcmi_get_device_utilization_rate input types (mind-cluster constants). */
#define DCMI_UTIL_AICORE 2
#define DCMI_UTIL_HBM 6
#define DCMI_UTIL_NPU 13

enum dcmi_unit_type { NPU_TYPE = 0, MCU_TYPE = 1, CPU_TYPE = 2, INVALID_TYPE = 0xFF };
enum dcmi_die_type { NDIE = 0, VDIE = 1 };

struct dcmi_chip_info {
    unsigned char chip_type[DCMI_CHIP_NAME_LEN];
    unsigned char chip_name[DCMI_CHIP_NAME_LEN];
    unsigned char chip_ver[DCMI_CHIP_NAME_LEN];
    unsigned int aicore_cnt;
};

struct dcmi_chip_info_v2 {
    unsigned char chip_type[DCMI_CHIP_NAME_LEN];
    unsigned char chip_name[DCMI_CHIP_NAME_LEN];
    unsigned char chip_ver[DCMI_CHIP_NAME_LEN];
    unsigned int aicore_cnt;
    unsigned char npu_name[DCMI_CHIP_NAME_LEN];
};

struct dcmi_pcie_info_all {
    unsigned int venderid; /* sic: the real field name */
    unsigned int subvenderid;
    unsigned int deviceid;
    unsigned int subdeviceid;
    int domain;
    unsigned int bdf_busid;
    unsigned int bdf_deviceid;
    unsigned int bdf_funcid;
    unsigned char reserve[32];
};

struct dcmi_die_id {
    unsigned int soc_die[DCMI_DIE_ID_COUNT];
};

struct dcmi_hbm_info {
    unsigned long long memory_size;  /* MB */
    unsigned int freq;               /* MHz */
    unsigned long long memory_usage; /* MB */
    int temp;                        /* degC */
    unsigned int bandwith_util_rate; /* percent; sic */
};

struct dcmi_get_memory_info_stru {
    unsigned long long memory_size;      /* MB */
    unsigned long long memory_available; /* MB */
    unsigned int freq;
    unsigned long hugepagesize; /* KB */
    unsigned long hugepages_total;
    unsigned long hugepages_free;
    unsigned int utiliza; /* percent used */
    unsigned char reserve[60];
};

struct dcmi_multi_utilization_info {
    unsigned int aic_util;
    unsigned int aiv_util;
    unsigned int aicore_util;
    unsigned int npu_util;
    unsigned int reserved[DCMI_UTIL_RESERVED_LEN];
};

struct dcmi_proc_mem_info {
    int proc_id;
    unsigned long proc_mem_usage; /* bytes */
};

struct dcmi_memory_info_stru {
    unsigned long long memory_size; /* MB */
    unsigned int freq;
    unsigned int utiliza;
};

_Static_assert(sizeof(struct dcmi_chip_info) == 100, "dcmi_chip_info is 100 bytes");
_Static_assert(sizeof(struct dcmi_chip_info_v2) == 132, "dcmi_chip_info_v2 is 132 bytes");
_Static_assert(sizeof(struct dcmi_pcie_info_all) == 64, "dcmi_pcie_info_all is 64 bytes");
_Static_assert(sizeof(struct dcmi_die_id) == 20, "dcmi_die_id is 20 bytes");
_Static_assert(sizeof(struct dcmi_hbm_info) == 32, "dcmi_hbm_info is 32 bytes");
_Static_assert(offsetof(struct dcmi_hbm_info, memory_usage) == 16, "dcmi_hbm_info.memory_usage at 16");
_Static_assert(offsetof(struct dcmi_hbm_info, temp) == 24, "dcmi_hbm_info.temp at 24");
_Static_assert(sizeof(struct dcmi_get_memory_info_stru) == 112, "dcmi_get_memory_info_stru is 112 bytes on LP64");
_Static_assert(offsetof(struct dcmi_get_memory_info_stru, hugepagesize) == 24, "hugepagesize at 24");
_Static_assert(offsetof(struct dcmi_get_memory_info_stru, utiliza) == 48, "utiliza at 48");
_Static_assert(sizeof(struct dcmi_multi_utilization_info) == 48, "dcmi_multi_utilization_info is 48 bytes");
_Static_assert(sizeof(struct dcmi_proc_mem_info) == 16, "dcmi_proc_mem_info is 16 bytes");
_Static_assert(sizeof(struct dcmi_memory_info_stru) == 16, "dcmi_memory_info_stru is 16 bytes");
_Static_assert(sizeof(enum dcmi_die_type) == 4, "enums are passed as int");

/* ---- exported functions ---- */
int dcmi_init(void);
int dcmi_get_card_list(int *card_num, int *card_list, int list_len);
int dcmi_get_card_num_list(int *card_num, int *card_list, int list_length);
int dcmi_get_device_num_in_card(int card_id, int *device_num);
int dcmi_get_device_id_in_card(int card_id, int *device_id_max, int *mcu_id, int *cpu_id);
int dcmi_get_device_type(int card_id, int device_id, enum dcmi_unit_type *device_type);
int dcmi_get_device_pcie_info_v2(int card_id, int device_id, struct dcmi_pcie_info_all *pcie_info);
int dcmi_get_device_chip_info(int card_id, int device_id, struct dcmi_chip_info *chip_info);
int dcmi_get_device_chip_info_v2(int card_id, int device_id, struct dcmi_chip_info_v2 *chip_info);
int dcmi_get_device_power_info(int card_id, int device_id, int *power);
int dcmi_get_device_health(int card_id, int device_id, unsigned int *health);
int dcmi_get_device_errorcode_v2(int card_id, int device_id, int *error_count, unsigned int *error_code_list,
                                 unsigned int list_len);
int dcmi_get_device_temperature(int card_id, int device_id, int *temperature);
int dcmi_get_device_hbm_info(int card_id, int device_id, struct dcmi_hbm_info *hbm_info);
int dcmi_get_device_memory_info_v3(int card_id, int device_id, struct dcmi_get_memory_info_stru *memory_info);
int dcmi_get_device_utilization_rate(int card_id, int device_id, int input_type, unsigned int *utilization_rate);
int dcmi_get_device_multi_utilization_rate(int card_id, int device_id, struct dcmi_multi_utilization_info *util_info);
int dcmi_get_device_logic_id(int *device_logic_id, int card_id, int device_id);
int dcmi_get_device_die_v2(int card_id, int device_id, enum dcmi_die_type input_type, struct dcmi_die_id *die_id);
int dcmi_get_device_resource_info(int card_id, int device_id, struct dcmi_proc_mem_info *proc_info, int *proc_num);
int dcmi_get_dcmi_version(char *dcmi_ver, int buf_size);
int dcmi_get_memory_info(int card_id, int device_id, struct dcmi_memory_info_stru *device_memory_info);
int dcmi_mcu_get_power_info(int card_id, int *power);

#endif /* GPUPOOL_FAKES_DCMI_API_H */
