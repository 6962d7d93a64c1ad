/*
 * The set of live handles and their kinds. A handle is checked here before it is dereferenced, so a
 * stale, foreign or garbage handle is answered with an error code instead of a crash. Lock held.
 */
#include "emu.h"

#include <stdlib.h>

typedef struct {
    const void *key;            /* NULL: empty slot */
    emu_handle_kind kind;
} slot;

static slot *g_slots;
static size_t g_cap;            /* power of two */
static size_t g_used;

static size_t hash_of(const void *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t find_slot(const slot *slots, size_t cap, const void *key)
{
    size_t i = hash_of(key) & (cap - 1);
    while (slots[i].key != NULL && slots[i].key != key)
        i = (i + 1) & (cap - 1);
    return i;
}

static bool grow(void)
{
    size_t cap = g_cap == 0 ? 64 : g_cap * 2;
    slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < g_cap; i++)
        if (g_slots[i].key != NULL)
            slots[find_slot(slots, cap, g_slots[i].key)] = g_slots[i];
    free(g_slots);
    g_slots = slots;
    g_cap = cap;
    return true;
}

bool emu_handle_add(const void *handle, emu_handle_kind kind)
{
    /* Load factor at most 1/2 keeps probes short. */
    if ((g_used + 1) * 2 > g_cap && !grow())
        return false;
    size_t i = find_slot(g_slots, g_cap, handle);
    if (g_slots[i].key == NULL)
        g_used++;
    g_slots[i] = (slot){ handle, kind };
    return true;
}

/* Backward-shift deletion: later members of the probe run move up, so no tombstones are needed. */
void emu_handle_remove(const void *handle)
{
    if (g_cap == 0 || handle == NULL)
        return;
    size_t i = find_slot(g_slots, g_cap, handle);
    if (g_slots[i].key == NULL)
        return;
    g_used--;
    for (size_t j = (i + 1) & (g_cap - 1); g_slots[j].key != NULL; j = (j + 1) & (g_cap - 1)) {
        size_t home = hash_of(g_slots[j].key) & (g_cap - 1);
        /* j may move into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            g_slots[i] = g_slots[j];
            i = j;
        }
    }
    g_slots[i] = (slot){ NULL, 0 };
}

bool emu_handle_is(const void *handle, emu_handle_kind kind)
{
    if (g_cap == 0 || handle == NULL)
        return false;
    const slot *s = &g_slots[find_slot(g_slots, g_cap, handle)];
    return s->key == handle && s->kind == kind;
}

void emu_handles_clear(void)
{
    free(g_slots);
    g_slots = NULL;
    g_cap = g_used = 0;
}
