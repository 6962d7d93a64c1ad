/*
 * Lists the cards NVML shows this process, one line each: "nvml <i> <name> <uuid> total <bytes> used
 * <bytes>". Loads libnvidia-ml.so.1 by name, as programs and nvidia-smi do, so the library path decides
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
    unsigned n = 0;
    if (!init || !count || !handle || !name || !uuid || !memory || !shutdown || init() != 0 || count(&n) != 0) {
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
    }
    shutdown();
    printf("PASS\n");
    return 0;
}
