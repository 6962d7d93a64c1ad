/* Allocations sorted by address, for "which allocation holds this pointer" in O(log n). Lock held. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first item whose start is greater than addr. */
static size_t upper_bound(const emu_range_map *map, uint64_t addr)
{
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->items[mid]->start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

emu_alloc *emu_map_find(const emu_range_map *map, uint64_t addr)
{
    size_t i = upper_bound(map, addr);
    if (i == 0)
        return NULL;
    emu_alloc *a = map->items[i - 1];
    return addr - a->start < a->span ? a : NULL;
}

bool emu_map_insert(emu_range_map *map, emu_alloc *a)
{
    if (map->count == map->cap) {
        size_t cap = map->cap == 0 ? 64 : map->cap * 2;
        emu_alloc **items = realloc(map->items, cap * sizeof *items);
        if (items == NULL)
            return false;
        map->items = items;
        map->cap = cap;
    }
    size_t i = upper_bound(map, a->start);
    memmove(&map->items[i + 1], &map->items[i], (map->count - i) * sizeof *map->items);
    map->items[i] = a;
    map->count++;
    return true;
}

void emu_map_remove(emu_range_map *map, const emu_alloc *a)
{
    size_t i = upper_bound(map, a->start);
    if (i == 0 || map->items[i - 1] != a)
        return;
    i--;
    memmove(&map->items[i], &map->items[i + 1], (map->count - i - 1) * sizeof *map->items);
    map->count--;
}

void emu_map_free(emu_range_map *map)
{
    free(map->items);
    *map = (emu_range_map){ NULL, 0, 0 };
}

static uint64_t align_up(uint64_t v, size_t align)
{
    return (v + align - 1) & ~(uint64_t)(align - 1);
}

/* First fit: device memory is allocated rarely enough (caching allocators) for a scan to do. */
uint64_t emu_map_gap(const emu_range_map *map, uint64_t base, size_t size, size_t span, size_t align)
{
    uint64_t cursor = align_up(base, align), end = base + size;
    for (size_t i = 0; i < map->count; i++) {
        const emu_alloc *a = map->items[i];
        if (a->start >= cursor && a->start - cursor >= span)
            return cursor;
        uint64_t after = align_up(a->start + a->span, align);
        if (after > cursor)
            cursor = after;
    }
    return cursor <= end && end - cursor >= span ? cursor : 0;
}

/* Index of the first item starting at or after addr; count when there is none. */
size_t emu_map_first_from(const emu_range_map *map, uint64_t addr)
{
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->items[mid]->start < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
