/*
 * Kernel names and parameter layouts, and variables, of a cubin (a 64-bit little-endian ELF), read
 * within its bounds. Kernels are the function symbols marked as entry points (st_other bit 0x10); a kernel's
 * ".nv.info.<name>" section lists its parameters (attribute 0x17, one record per parameter).
 */
#include "emu.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#define CUBIN_STO_ENTRY 0x10
#define NVINFO_KPARAM_INFO 0x17
#define NVINFO_FORMAT_SVAL 0x04     /* attribute with a 16-bit length and that many bytes */
#define NVINFO_MAX_PARAMS 1024

typedef struct {
    const unsigned char *data;
    size_t size;
    const Elf64_Shdr *sections;
    size_t section_count;
    const char *section_names;
    size_t section_names_size;
} elf_view;

static bool in_bounds(size_t size, uint64_t offset, uint64_t length)
{
    return offset <= size && length <= size - offset;
}

static bool open_view(const unsigned char *data, size_t size, elf_view *v)
{
    Elf64_Ehdr eh;
    if (size < sizeof eh || memcmp(data, ELFMAG, SELFMAG) != 0)
        return false;
    memcpy(&eh, data, sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff % 8 != 0 ||
        !in_bounds(size, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)) || eh.e_shstrndx >= eh.e_shnum)
        return false;
    v->data = data;
    v->size = size;
    v->sections = (const Elf64_Shdr *)(const void *)(data + eh.e_shoff);
    v->section_count = eh.e_shnum;
    const Elf64_Shdr *names = &v->sections[eh.e_shstrndx];
    if (!in_bounds(size, names->sh_offset, names->sh_size))
        return false;
    v->section_names = (const char *)data + names->sh_offset;
    v->section_names_size = names->sh_size;
    return true;
}

/* A NUL-terminated string at offset of a string table of the given size, or NULL. */
static const char *table_string(const char *table, size_t size, uint64_t offset)
{
    if (offset >= size || memchr(table + offset, '\0', size - offset) == NULL)
        return NULL;
    return table + offset;
}

static const Elf64_Shdr *section_named(const elf_view *v, const char *prefix, const char *name)
{
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < v->section_count; i++) {
        const char *s = table_string(v->section_names, v->section_names_size, v->sections[i].sh_name);
        if (s != NULL && strncmp(s, prefix, plen) == 0 && strcmp(s + plen, name) == 0)
            return &v->sections[i];
    }
    return NULL;
}

/* One KPARAM_INFO record: u32 index, u16 ordinal, u16 offset, u32 with the size in bits 18-31. */
static void kparam(const unsigned char *rec, size_t *ordinal, size_t *offset, size_t *size)
{
    uint16_t ord, off;
    uint32_t bits;
    memcpy(&ord, rec + 4, 2);
    memcpy(&off, rec + 6, 2);
    memcpy(&bits, rec + 8, 4);
    *ordinal = ord;
    *offset = off;
    *size = (bits >> 18) & 0x3fff;
}

static bool read_params(const elf_view *v, emu_image_kernel *k)
{
    const Elf64_Shdr *info = section_named(v, ".nv.info.", k->name);
    if (info == NULL || !in_bounds(v->size, info->sh_offset, info->sh_size))
        return true; /* nothing said: param info stays unknown */
    size_t offsets[NVINFO_MAX_PARAMS], sizes[NVINFO_MAX_PARAMS];
    int count = 0;
    const unsigned char *p = v->data + info->sh_offset, *end = p + info->sh_size;
    while (end - p >= 4) {
        uint16_t len = 0;
        size_t ord, off, sz;
        if (p[0] != NVINFO_FORMAT_SVAL) {
            p += 4; /* the other formats are 4 bytes in all */
            continue;
        }
        memcpy(&len, p + 2, 2);
        if ((size_t)(end - p - 4) < len)
            break;
        if (p[1] == NVINFO_KPARAM_INFO && len >= 12) {
            kparam(p + 4, &ord, &off, &sz);
            if (ord < NVINFO_MAX_PARAMS) {
                offsets[ord] = off;
                sizes[ord] = sz;
                count = (int)ord + 1 > count ? (int)ord + 1 : count;
            }
        }
        p += 4 + len;
    }
    return emu_image_set_params(k, count, offsets, sizes);
}

/*
 * A variable: an object symbol in a .nv.global* section (__device__; .nv.global.init holds initial
 * values, .nv.global is NOBITS) or in .nv.constant3 (__constant__, with its initial values).
 */
static bool read_global(const elf_view *v, const Elf64_Sym *sym, const char *name, emu_image *out)
{
    if (sym->st_shndx == SHN_UNDEF || sym->st_shndx >= v->section_count || sym->st_size == 0)
        return true;
    const Elf64_Shdr *sec = &v->sections[sym->st_shndx];
    const char *sname = table_string(v->section_names, v->section_names_size, sec->sh_name);
    if (sname == NULL || (strncmp(sname, ".nv.global", 10) != 0 && strcmp(sname, ".nv.constant3") != 0))
        return true;
    const unsigned char *init = NULL;
    if (sec->sh_type != SHT_NOBITS) {
        if (sym->st_value > sec->sh_size || sym->st_size > sec->sh_size - sym->st_value ||
            !in_bounds(v->size, sec->sh_offset + sym->st_value, sym->st_size))
            return false;
        init = v->data + sec->sh_offset + sym->st_value;
    }
    return emu_image_add_global(out, name, sym->st_size, init);
}

static bool read_symbols(const elf_view *v, const Elf64_Shdr *symtab, emu_image *out)
{
    if (symtab->sh_link >= v->section_count || symtab->sh_entsize != sizeof(Elf64_Sym) ||
        !in_bounds(v->size, symtab->sh_offset, symtab->sh_size) || symtab->sh_offset % 8 != 0)
        return false;
    const Elf64_Shdr *strtab = &v->sections[symtab->sh_link];
    if (!in_bounds(v->size, strtab->sh_offset, strtab->sh_size))
        return false;
    const Elf64_Sym *syms = (const Elf64_Sym *)(const void *)(v->data + symtab->sh_offset);
    const char *strings = (const char *)v->data + strtab->sh_offset;
    for (size_t i = 0; i < symtab->sh_size / sizeof(Elf64_Sym); i++) {
        const char *name = table_string(strings, strtab->sh_size, syms[i].st_name);
        if (ELF64_ST_TYPE(syms[i].st_info) == STT_OBJECT && name != NULL && *name != '\0') {
            if (!read_global(v, &syms[i], name, out))
                return false;
            continue;
        }
        if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC || name == NULL || *name == '\0')
            continue;
        if ((syms[i].st_other & CUBIN_STO_ENTRY) == 0) {
            if (!emu_image_add_function(out, name))
                return false;
            continue;
        }
        if (!emu_image_add_kernel(out, name, strlen(name)) || !read_params(v, emu_image_find(out, name)))
            return false;
    }
    return true;
}

static bool parse_aligned(const unsigned char *elf, size_t size, emu_image *out)
{
    elf_view v;
    if (!open_view(elf, size, &v))
        return false;
    for (size_t i = 0; i < v.section_count; i++)
        if (v.sections[i].sh_type == SHT_SYMTAB)
            return read_symbols(&v, &v.sections[i], out);
    return true; /* a cubin without symbols has no kernels */
}

/* Headers and symbols are read in place, which needs the image 8-byte aligned: copy it if not. */
bool emu_elf_parse(const unsigned char *elf, size_t size, emu_image *out)
{
    if ((uintptr_t)elf % 8 == 0)
        return parse_aligned(elf, size, out);
    unsigned char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return false;
    memcpy(copy, elf, size);
    bool ok = parse_aligned(copy, size, out);
    free(copy);
    return ok;
}
