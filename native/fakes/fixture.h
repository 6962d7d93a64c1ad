/*
 * Shared fixture reader for the fake vendor libraries (see docs/simulation.md).
 *
 * Each fake library links its own copy of fixture.c with hidden visibility, so
 * the three fakes loaded into one process never share (or clash over) state.
 *
 * Locking contract: every fx_* call that touches the parsed tree must run
 * between fx_lock() and fx_unlock(), and no cJSON pointer may be kept past
 * fx_unlock(): a reload frees the old tree.
 */
#ifndef GPUPOOL_FAKES_FIXTURE_H
#define GPUPOOL_FAKES_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The only symbols a fake may export; everything else stays hidden. */
#define FAKE_API __attribute__((visibility("default")))

/* Outcome of the most recent look at the fixture file. */
typedef enum {
    FX_LOADED,     /* the file as it is now parsed into a JSON object */
    FX_NO_ENV,     /* GPUPOOL_SIM_FIXTURE unset or empty */
    FX_UNREADABLE, /* stat/open/read failed */
    FX_INVALID     /* not JSON, or top level not an object */
} fx_state;

typedef struct {
    unsigned domain;
    unsigned bus;
    unsigned device;
    unsigned function;
} fx_pci;

typedef struct {
    long long id;
    long long xid;
} fx_xid_event;

void fx_lock(void);
void fx_unlock(void);

/*
 * Re-reads the file when its identity (path, device, inode, size, mtime in ns)
 * changed since the last look. A failed re-read keeps the previous good tree
 * for the data calls; only the returned state reports the failure.
 */
fx_state fx_refresh(void);

/* Lock held. Prints the current problem to stderr as "fake <lib>: ...", once per distinct message. */
void fx_report(const char *lib);

/* Vendor section ("nvidia", "amd", "ascend") of the last good tree, or NULL. */
const cJSON *fx_section(const char *vendor);
int fx_card_count(const cJSON *section);
const cJSON *fx_card(const cJSON *section, int index);
bool fx_card_present(const cJSON *card);

/* Typed reads with a default for a missing or mistyped key; obj may be NULL. */
double fx_number(const cJSON *obj, const char *key, double dflt);
uint64_t fx_u64(const cJSON *obj, const char *key, uint64_t dflt);
long long fx_int(const cJSON *obj, const char *key, long long dflt);
const char *fx_string(const cJSON *obj, const char *key, const char *dflt);

/* A number, or a triangle wave {min,max,periodS} sampled on the wall clock now. */
double fx_wave(const cJSON *obj, const char *key, double dflt);
/* fx_wave rounded and clamped to 0..100. */
unsigned fx_percent(const cJSON *obj, const char *key);

/* The value of one hex digit, or -1. */
int fx_hex_digit(char c);

/* Accepts "DDDDDDDD:BB:DD.F", "DDDD:BB:DD.F" and "BB:DD.F". */
bool fx_pci_parse(const char *text, fx_pci *out);
/* The card's pciBusId, or bus index+1 when missing or malformed, so cards stay distinct. */
fx_pci fx_card_pci(const cJSON *card, int index);
/* High half of pciDeviceId, or dflt when the key is missing. */
unsigned fx_card_device_id(const cJSON *card, unsigned dflt);

/* memoryTotal; memoryUsed plus the processes' usedMemory, capped at memoryTotal. */
uint64_t fx_card_memory_total(const cJSON *card);
uint64_t fx_card_memory_used(const cJSON *card);

int fx_process_count(const cJSON *card);
/* pid and usedMemory of process i; false when the entry is not an object. */
bool fx_process(const cJSON *card, int i, unsigned *pid, uint64_t *used);

int fx_xid_count(const cJSON *card);
bool fx_xid(const cJSON *card, int i, fx_xid_event *out);

/* Copies src with its NUL; false (dst untouched) when cap is too small. */
bool fx_copy_string(char *dst, size_t cap, const char *src);

void fx_sleep_ms(long ms);

/*
 * What every fake's init call does first: read the fixture, then sleep the vendor's initDelayMs
 * outside the lock (a hanging init must not block other threads' calls), then, with initCrash, die of
 * a segmentation fault as a broken driver would (docs/simulation.md). Returns false when the
 * fixture cannot be read (already reported on stderr); otherwise *error is the vendor's initError
 * (0 for success). Called without the lock held.
 */
bool fx_init(const char *vendor, const char *lib, long long *error);
/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t fx_monotonic_ms(void);

#endif /* GPUPOOL_FAKES_FIXTURE_H */
