/*
 * Lists the cards NVML shows this process, two lines each: "nvml <i> <name> <uuid> total <bytes> used
 * <bytes>" and "figures <i> utilization <gpu>/<memory> temperature <C> power <mW>" (a figure NVML does
 * not give is "-<its return code>"). Loads libnvidia-ml.so.1 by name, as programs and nvidia-smi do, so the library path decides
 * whose NVML answers (test/compute/nvml-client.test.ts).
 */
#include <dlfcn.h>
#include <stdio.h>

typedef struct {
    unsigned long long total, free, used;
} memory_t;

typedef int (*init_fn)(void);
typedef int (*count_fn)(unsigned *);
typedef int (*handle_fn)(unsigned, void **);
typedef int (*string_fn)(void *, char *, unsigned);
typedef int (*memory_fn)(void *, memory_t *);
typedef int (*utilization_fn)(void *, unsigned[2]);
typedef int (*temperature_fn)(void *, int, unsigned *);
typedef int (*power_fn)(void *, unsigned *);

int main(void)
{
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "FAIL: %s\n", dlerror());
        return 1;
    }
    init_fn init = (init_fn)dlsym(lib, "nvmlInit_v2");
    count_fn count = (count_fn)dlsym(lib, "nvmlDeviceGetCount_v2");
    handle_fn handle = (handle_fn)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    string_fn name = (string_fn)dlsym(lib, "nvmlDeviceGetName"), uuid = (string_fn)dlsym(lib, "nvmlDeviceGetUUID");
    memory_fn memory = (memory_fn)dlsym(lib, "nvmlDeviceGetMemoryInfo");
    init_fn shutdown = (init_fn)dlsym(lib, "nvmlShutdown");
    utilization_fn utilization = (utilization_fn)dlsym(lib, "nvmlDeviceGetUtilizationRates");
    temperature_fn temperature = (temperature_fn)dlsym(lib, "nvmlDeviceGetTemperature");
    power_fn power = (power_fn)dlsym(lib, "nvmlDeviceGetPowerUsage");
    unsigned n = 0;
    if (!init || !count || !handle || !name || !uuid || !memory || !shutdown || !utilization || !temperature || !power || init() != 0 || count(&n) != 0) {
        fprintf(stderr, "FAIL: NVML did not start\n");
        return 1;
    }
    printf("count %u\n", n);
    for (unsigned i = 0; i < n; i++) {
        void *h = NULL;
        char nm[96] = "", id[96] = "";
        memory_t m = { 0, 0, 0 };
        if (handle(i, &h) != 0 || name(h, nm, sizeof nm) != 0 || uuid(h, id, sizeof id) != 0 || memory(h, &m) != 0) {
            fprintf(stderr, "FAIL: device %u\n", i);
            return 1;
        }
        printf("nvml %u %s %s total %llu used %llu\n", i, nm, id, m.total, m.used);
        unsigned rates[2] = { 0, 0 }, celsius = 0, milliwatts = 0;
        int ru = utilization(h, rates), rt = temperature(h, 0, &celsius), rp = power(h, &milliwatts);
        printf("figures %u utilization %ld/%ld temperature %ld power %ld\n", i, ru ? -(long)ru : (long)rates[0], ru ? -(long)ru : (long)rates[1],
               rt ? -(long)rt : (long)celsius, rp ? -(long)rp : (long)milliwatts);
    }
    shutdown();
    printf("PASS\n");
    return 0;
}
