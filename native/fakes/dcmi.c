/* Fake Huawei Ascend DCMI (libdcmi.so) driven by the simulation fixture; see docs/simulation.md. */
#include "dcmi_api.h"
#include "fixture.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LIB "dcmi"
#define VENDOR "ascend"
#define DCMI_VENDOR_ID 0x19E5u
#define DCMI_DEFAULT_DEVICE_ID 0xD802u /* 910B */
#define DCMI_DEFAULT_VERSION "24.1.rc3"
/*
 * dcmi_get_device_resource_info has no capacity argument; mind-cluster hands it a
 * fixed array, so the fake never writes more entries than this.
 */
#define DCMI_MAX_PROC_NUM 32
#define DCMI_HBM_FREQ_MHZ 1600
#define DCMI_DDR_FREQ_MHZ 3200
#define DCMI_HUGEPAGE_KB 2048
#define MIB (1024ULL * 1024ULL)

/* Guarded by the fixture lock. DCMI has no shutdown: consumers just dlclose. */
static bool g_initialized;

/* ---- shared plumbing ------------------------------------------------------------------------ */

static const cJSON *section(void)
{
    return fx_section(VENDOR);
}

static int unlock_with(int rc)
{
    fx_unlock();
    return rc;
}

static int system_check(const void *out)
{
    if (!g_initialized)
        return DCMI_ERR_INTERNAL;
    if (out == NULL)
        return DCMI_ERR_INVALID_PARAMETER;
    fx_refresh();
    return DCMI_OK;
}

/* Locks and validates; returns DCMI_OK with the lock still held, otherwise unlocked. */
static int system_open(const void *out)
{
    fx_lock();
    int rc = system_check(out);
    return rc == DCMI_OK ? rc : unlock_with(rc);
}

/* Lock held. Card ids default to the index but a fixture may renumber them (sparse slots). */
static int card_index(int card_id)
{
    int n = fx_card_count(section());
    for (int i = 0; i < n; i++)
        if (fx_int(fx_card(section(), i), "cardId", i) == card_id)
            return i;
    return -1;
}

static int card_check(int card_id, const void *out, const cJSON **card, int *index)
{
    int rc = system_check(out);
    if (rc != DCMI_OK)
        return rc;
    int idx = card_index(card_id);
    if (idx < 0)
        return DCMI_ERR_INVALID_DEVICE_ID;
    *card = fx_card(section(), idx);
    if (index != NULL)
        *index = idx;
    return fx_card_present(*card) ? DCMI_OK : DCMI_ERR_DEVICE_NOT_EXIST;
}

/* Card-scoped calls: on DCMI_OK the lock is held and *card valid until fx_unlock(). */
static int card_open(int card_id, const void *out, const cJSON **card, int *index)
{
    fx_lock();
    int rc = card_check(card_id, out, card, index);
    return rc == DCMI_OK ? rc : unlock_with(rc);
}

/* Chip-scoped calls: each fake card carries exactly one chip, device id 0. */
static int chip_open(int card_id, int device_id, const void *out, const cJSON **card, int *index)
{
    fx_lock();
    int rc = card_check(card_id, out, card, index);
    if ((rc == DCMI_OK || rc == DCMI_ERR_DEVICE_NOT_EXIST) && device_id != 0)
        rc = DCMI_ERR_INVALID_DEVICE_ID;
    return rc == DCMI_OK ? rc : unlock_with(rc);
}

static int clamp_int(double v)
{
    if (isnan(v))
        return 0;
    if (v >= INT_MAX)
        return INT_MAX;
    return v <= INT_MIN ? INT_MIN : (int)lround(v);
}

static void put_name(unsigned char *dst, const char *src)
{
    snprintf((char *)dst, DCMI_CHIP_NAME_LEN, "%s", src);
}

typedef struct {
    unsigned long long total_mb;
    unsigned long long used_mb;
    unsigned used_percent;
} dcmi_memory;

/* Lock held. free = total - used in MB so the two figures always add up. */
static dcmi_memory memory_of(const cJSON *card)
{
    uint64_t total = fx_card_memory_total(card), used = fx_card_memory_used(card);
    dcmi_memory m = { total / MIB, used / MIB, 0 };
    if (total > 0)
        m.used_percent = (unsigned)llround((double)used * 100.0 / (double)total);
    return m;
}

/* ---- init and enumeration ------------------------------------------------------------------- */

FAKE_API int dcmi_init(void)
{
    long long error;
    if (!fx_init(VENDOR, LIB, &error))
        return DCMI_ERR_INTERNAL;
    if (error != 0)
        return (int)error;
    fx_lock();
    g_initialized = true;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_card_list(int *card_num, int *card_list, int list_len)
{
    int rc = system_open(card_num != NULL && card_list != NULL ? card_num : NULL);
    if (rc != DCMI_OK)
        return rc;
    int n = fx_card_count(section());
    if (list_len < n)
        return unlock_with(DCMI_ERR_INVALID_PARAMETER);
    for (int i = 0; i < n; i++)
        card_list[i] = (int)fx_int(fx_card(section(), i), "cardId", i);
    *card_num = n;
    return unlock_with(DCMI_OK);
}

/* The pre-2023 name, still looked up by mind-cluster's dcmi.go. */
FAKE_API int dcmi_get_card_num_list(int *card_num, int *card_list, int list_length)
{
    return dcmi_get_card_list(card_num, card_list, list_length);
}

FAKE_API int dcmi_get_device_num_in_card(int card_id, int *device_num)
{
    const cJSON *card;
    int rc = card_open(card_id, device_num, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *device_num = 1;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_id_in_card(int card_id, int *device_id_max, int *mcu_id, int *cpu_id)
{
    const cJSON *card;
    bool outs = device_id_max != NULL && mcu_id != NULL && cpu_id != NULL;
    int rc = card_open(card_id, outs ? device_id_max : NULL, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *device_id_max = 1;
    *mcu_id = -1; /* no MCU or control CPU on a fake card */
    *cpu_id = -1;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_type(int card_id, int device_id, enum dcmi_unit_type *device_type)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, device_type, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *device_type = NPU_TYPE;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_logic_id(int *device_logic_id, int card_id, int device_id)
{
    const cJSON *card;
    int index;
    int rc = chip_open(card_id, device_id, device_logic_id, &card, &index);
    if (rc != DCMI_OK)
        return rc;
    *device_logic_id = index;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_dcmi_version(char *dcmi_ver, int buf_size)
{
    int rc = system_open(dcmi_ver);
    if (rc != DCMI_OK)
        return rc;
    const char *version = fx_string(section(), "version", DCMI_DEFAULT_VERSION);
    bool fits = buf_size > 0 && fx_copy_string(dcmi_ver, (size_t)buf_size, version);
    return unlock_with(fits ? DCMI_OK : DCMI_ERR_INVALID_PARAMETER);
}

/* ---- identity ------------------------------------------------------------------------------- */

FAKE_API int dcmi_get_device_pcie_info_v2(int card_id, int device_id, struct dcmi_pcie_info_all *pcie_info)
{
    const cJSON *card;
    int index;
    int rc = chip_open(card_id, device_id, pcie_info, &card, &index);
    if (rc != DCMI_OK)
        return rc;
    fx_pci pci = fx_card_pci(card, index);
    uint64_t subsystem = fx_u64(card, "pciSubSystemId", DCMI_VENDOR_ID);
    memset(pcie_info, 0, sizeof *pcie_info);
    pcie_info->venderid = DCMI_VENDOR_ID;
    pcie_info->deviceid = fx_card_device_id(card, DCMI_DEFAULT_DEVICE_ID);
    pcie_info->subvenderid = (unsigned)(subsystem & 0xFFFF);
    pcie_info->subdeviceid = (unsigned)((subsystem >> 16) & 0xFFFF);
    pcie_info->domain = (int)pci.domain;
    pcie_info->bdf_busid = pci.bus;
    pcie_info->bdf_deviceid = pci.device;
    pcie_info->bdf_funcid = pci.function;
    return unlock_with(DCMI_OK);
}

/* Lock held. */
static void fill_chip(const cJSON *card, unsigned char *type, unsigned char *name, unsigned char *ver,
                      unsigned int *aicore)
{
    put_name(type, fx_string(card, "chipType", "Ascend"));
    put_name(name, fx_string(card, "name", "910B3"));
    put_name(ver, fx_string(card, "chipVersion", "V1"));
    *aicore = (unsigned)fx_u64(card, "aicoreCount", 0);
}

FAKE_API int dcmi_get_device_chip_info(int card_id, int device_id, struct dcmi_chip_info *chip_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, chip_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    memset(chip_info, 0, sizeof *chip_info);
    fill_chip(card, chip_info->chip_type, chip_info->chip_name, chip_info->chip_ver, &chip_info->aicore_cnt);
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_chip_info_v2(int card_id, int device_id, struct dcmi_chip_info_v2 *chip_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, chip_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    memset(chip_info, 0, sizeof *chip_info);
    fill_chip(card, chip_info->chip_type, chip_info->chip_name, chip_info->chip_ver, &chip_info->aicore_cnt);
    put_name(chip_info->npu_name, fx_string(card, "npuName", ""));
    return unlock_with(DCMI_OK);
}

/* "0A1B2C3D-..." with exactly five groups of 1..8 hex digits. */
static bool parse_die_id(const char *text, unsigned int words[DCMI_DIE_ID_COUNT])
{
    const char *p = text;
    for (int i = 0; i < DCMI_DIE_ID_COUNT; i++) {
        size_t n = strspn(p, "0123456789abcdefABCDEF");
        char sep = i + 1 < DCMI_DIE_ID_COUNT ? '-' : '\0';
        if (n == 0 || n > 8 || p[n] != sep)
            return false;
        unsigned int v = 0;
        for (size_t k = 0; k < n; k++)
            v = v * 16 + (unsigned)(p[k] <= '9' ? p[k] - '0' : (p[k] | 0x20) - 'a' + 10);
        words[i] = v;
        p += n + 1;
    }
    return true;
}

FAKE_API int dcmi_get_device_die_v2(int card_id, int device_id, enum dcmi_die_type input_type,
                                    struct dcmi_die_id *die_id)
{
    const cJSON *card;
    int index;
    int rc = chip_open(card_id, device_id, die_id, &card, &index);
    if (rc != DCMI_OK)
        return rc;
    if (input_type != VDIE && input_type != NDIE)
        return unlock_with(DCMI_ERR_INVALID_PARAMETER);
    /* Only the VDie id (the one consumers use as the chip's UUID) is modelled. */
    if (input_type != VDIE)
        return unlock_with(DCMI_ERR_NOT_SUPPORTED);
    const char *uuid = fx_string(card, "uuid", NULL);
    if (uuid == NULL) {
        memset(die_id, 0, sizeof *die_id);
        die_id->soc_die[DCMI_DIE_ID_COUNT - 1] = (unsigned)index;
        return unlock_with(DCMI_OK);
    }
    return unlock_with(parse_die_id(uuid, die_id->soc_die) ? DCMI_OK : DCMI_ERR_NOT_SUPPORTED);
}

/* ---- health --------------------------------------------------------------------------------- */

FAKE_API int dcmi_get_device_health(int card_id, int device_id, unsigned int *health)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, health, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *health = (unsigned)fx_u64(card, "health", 0);
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_errorcode_v2(int card_id, int device_id, int *error_count,
                                          unsigned int *error_code_list, unsigned int list_len)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, error_count != NULL && error_code_list != NULL ? error_count : NULL,
                       &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    /* The fixture's health figure doubles as the single outstanding error code. */
    unsigned health = (unsigned)fx_u64(card, "health", 0);
    if (health == 0) {
        *error_count = 0;
        return unlock_with(DCMI_OK);
    }
    if (list_len < 1)
        return unlock_with(DCMI_ERR_INVALID_PARAMETER);
    error_code_list[0] = health;
    *error_count = 1;
    return unlock_with(DCMI_OK);
}

/* ---- telemetry ------------------------------------------------------------------------------ */

FAKE_API int dcmi_get_device_temperature(int card_id, int device_id, int *temperature)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, temperature, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *temperature = clamp_int(fx_wave(card, "temperature", 0));
    return unlock_with(DCMI_OK);
}

/* Lock held. DCMI reports power in tenths of a watt. */
static int power_tenths(const cJSON *card)
{
    int tenths = clamp_int(fx_wave(card, "power", 0) * 10.0);
    return tenths < 0 ? 0 : tenths;
}

FAKE_API int dcmi_get_device_power_info(int card_id, int device_id, int *power)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, power, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *power = power_tenths(card);
    return unlock_with(DCMI_OK);
}

/* A fake card's board draw is its chip's draw: there is no separate MCU rail to model. */
FAKE_API int dcmi_mcu_get_power_info(int card_id, int *power)
{
    const cJSON *card;
    int rc = card_open(card_id, power, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    *power = power_tenths(card);
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_hbm_info(int card_id, int device_id, struct dcmi_hbm_info *hbm_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, hbm_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    dcmi_memory m = memory_of(card);
    memset(hbm_info, 0, sizeof *hbm_info);
    hbm_info->memory_size = m.total_mb;
    hbm_info->freq = DCMI_HBM_FREQ_MHZ;
    hbm_info->memory_usage = m.used_mb;
    hbm_info->temp = clamp_int(fx_wave(card, "temperature", 0));
    hbm_info->bandwith_util_rate = fx_percent(card, "memoryUtilization");
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_memory_info_v3(int card_id, int device_id,
                                            struct dcmi_get_memory_info_stru *memory_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, memory_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    dcmi_memory m = memory_of(card);
    memset(memory_info, 0, sizeof *memory_info);
    memory_info->memory_size = m.total_mb;
    memory_info->memory_available = m.total_mb - m.used_mb;
    memory_info->freq = DCMI_DDR_FREQ_MHZ;
    memory_info->hugepagesize = DCMI_HUGEPAGE_KB;
    memory_info->utiliza = m.used_percent;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_memory_info(int card_id, int device_id, struct dcmi_memory_info_stru *device_memory_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, device_memory_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    dcmi_memory m = memory_of(card);
    memset(device_memory_info, 0, sizeof *device_memory_info);
    device_memory_info->memory_size = m.total_mb;
    device_memory_info->freq = DCMI_DDR_FREQ_MHZ;
    device_memory_info->utiliza = m.used_percent;
    return unlock_with(DCMI_OK);
}

FAKE_API int dcmi_get_device_utilization_rate(int card_id, int device_id, int input_type,
                                              unsigned int *utilization_rate)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, utilization_rate, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    if (input_type == DCMI_UTIL_AICORE || input_type == DCMI_UTIL_NPU)
        *utilization_rate = fx_percent(card, "utilization");
    else if (input_type == DCMI_UTIL_HBM)
        *utilization_rate = fx_percent(card, "memoryUtilization");
    else
        rc = DCMI_ERR_NOT_SUPPORTED;
    return unlock_with(rc);
}

FAKE_API int dcmi_get_device_multi_utilization_rate(int card_id, int device_id,
                                                    struct dcmi_multi_utilization_info *util_info)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, util_info, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    unsigned util = fx_percent(card, "utilization");
    memset(util_info, 0, sizeof *util_info);
    util_info->aic_util = util;
    util_info->aiv_util = util;
    util_info->aicore_util = util;
    util_info->npu_util = util;
    return unlock_with(DCMI_OK);
}

/* ---- processes ------------------------------------------------------------------------------ */

/* proc_info may be NULL to only count; otherwise at most DCMI_MAX_PROC_NUM entries are written. */
FAKE_API int dcmi_get_device_resource_info(int card_id, int device_id, struct dcmi_proc_mem_info *proc_info,
                                           int *proc_num)
{
    const cJSON *card;
    int rc = chip_open(card_id, device_id, proc_num, &card, NULL);
    if (rc != DCMI_OK)
        return rc;
    int written = 0;
    for (int i = 0; i < fx_process_count(card); i++) {
        unsigned pid;
        uint64_t used;
        if (!fx_process(card, i, &pid, &used))
            continue;
        if (proc_info != NULL && written >= DCMI_MAX_PROC_NUM)
            break;
        if (proc_info != NULL)
            proc_info[written] = (struct dcmi_proc_mem_info){ .proc_id = (int)pid, .proc_mem_usage = used };
        written++;
    }
    *proc_num = written;
    return unlock_with(DCMI_OK);
}
