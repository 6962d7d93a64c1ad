/*
 * What cuModuleLoadData and cuLibraryLoadData accept: a fatbin wrapper (__fatBinC_Wrapper_t), a
 * fatbin, a cubin (ELF) or PTX text. Layouts (public reverse engineering, checked against nvcc 13):
 *
 *   wrapper: u32 magic 0x466243b1, u32 version, const void *fatbin, void *unused
 *   fatbin:  u32 magic 0xBA55ED50, u16 version, u16 header size, u64 payload size; then entries:
 *   entry:   u16 kind (1 PTX, 2 ELF), u16, u32 header size, u64 payload size, ..., u32 architecture
 *            at 28 (80 for sm_80 or compute_80), ..., u64 flags at 40;
 *            the payload follows the entry header. Flags 0x2000 and 0x8000 mark a compressed
 *            payload (LZ4 and zstd); a zstd payload is one zstd frame (padding may follow it), and
 *            is read after decompression (libraries such as PyTorch's and cuBLAS's ship their
 *            kernels so). LZ4 payloads are not read.
 *
 * An image whose entries are all unreadable is "opaque": its kernels are looked up by name alone.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#define WRAPPER_MAGIC 0x466243b1u
#define FATBIN_MAGIC 0xBA55ED50u
#define FATBIN_KIND_PTX 1
#define FATBIN_KIND_ELF 2
#define FATBIN_COMPRESSED (0x2000ULL | 0x8000ULL)
#define FATBIN_ZSTD 0x8000ULL
#define DECOMPRESSED_MAX ((size_t)1 << 30)
#define ENTRY_MIN_HEADER 48
#define PTX_MAX_SCAN ((size_t)1 << 30)

typedef struct {
    uint32_t magic;
    uint16_t version, header_size;
    uint64_t payload_size;
} fatbin_header;

typedef struct {
    uint16_t kind, unknown;
    uint32_t header_size;
    uint64_t payload_size;
} entry_header;

static uint32_t read_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t read_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ELF size from its own headers, for a cubin handed over without a size. */
static size_t elf_extent(const unsigned char *elf)
{
    uint64_t shoff = read_u64(elf + 0x28), phoff = read_u64(elf + 0x20);
    uint16_t phentsize, phnum, shentsize, shnum;
    memcpy(&phentsize, elf + 0x36, 2);
    memcpy(&phnum, elf + 0x38, 2);
    memcpy(&shentsize, elf + 0x3a, 2);
    memcpy(&shnum, elf + 0x3c, 2);
    uint64_t sh_end = shoff + (uint64_t)shentsize * shnum, ph_end = phoff + (uint64_t)phentsize * phnum;
    return (size_t)(sh_end > ph_end ? sh_end : ph_end);
}

/* A zstd payload, decompressed into a buffer the caller frees; NULL when it is no readable frame. */
static unsigned char *decompress_zstd(const unsigned char *payload, size_t bound, size_t *size)
{
    size_t frame = ZSTD_findFrameCompressedSize(payload, bound);
    if (ZSTD_isError(frame))
        return NULL;
    unsigned long long content = ZSTD_getFrameContentSize(payload, frame);
    if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR || content == 0 ||
        content > DECOMPRESSED_MAX)
        return NULL;
    unsigned char *plain = malloc((size_t)content);
    if (plain == NULL)
        return NULL;
    size_t got = ZSTD_decompress(plain, (size_t)content, payload, frame);
    if (ZSTD_isError(got) || got != content) {
        free(plain);
        return NULL;
    }
    *size = got;
    return plain;
}

/* A compressed ELF entry: read after decompression when it is zstd. */
static bool parse_compressed(const unsigned char *entry, const entry_header *eh, uint64_t flags, emu_image *out,
                             bool *failed)
{
    if ((flags & FATBIN_ZSTD) == 0 || eh->kind != FATBIN_KIND_ELF)
        return false;
    size_t size = 0;
    unsigned char *plain = decompress_zstd(entry + eh->header_size, (size_t)eh->payload_size, &size);
    if (plain == NULL)
        return false;
    bool read = false;
    if (size >= 4 && memcmp(plain, "\177ELF", 4) == 0) {
        *failed |= !emu_elf_parse(plain, size, out);
        read = true;
    }
    free(plain);
    return read;
}

/* Returns whether the entry could be read. */
static bool parse_entry(const unsigned char *entry, const entry_header *eh, emu_image *out, bool *failed)
{
    uint64_t flags = eh->header_size >= ENTRY_MIN_HEADER ? read_u64(entry + 40) : 0;
    const unsigned char *payload = entry + eh->header_size;
    if (eh->header_size >= ENTRY_MIN_HEADER && read_u32(entry + 28) != 0)
        emu_image_add_arch(out, read_u32(entry + 28));
    if ((flags & FATBIN_COMPRESSED) != 0)
        return parse_compressed(entry, eh, flags, out, failed);
    if (eh->kind == FATBIN_KIND_ELF && eh->payload_size >= 4 && memcmp(payload, "\177ELF", 4) == 0) {
        *failed |= !emu_elf_parse(payload, (size_t)eh->payload_size, out);
        return true;
    }
    if (eh->kind == FATBIN_KIND_PTX) {
        *failed |= !emu_ptx_parse((const char *)payload, (size_t)eh->payload_size, out);
        return true;
    }
    return false;
}

static CUresult parse_fatbin(const unsigned char *data, emu_image *out)
{
    fatbin_header h;
    memcpy(&h, data, sizeof h);
    if (h.header_size < sizeof h)
        return CUDA_ERROR_INVALID_IMAGE;
    const unsigned char *p = data + h.header_size, *end = p + h.payload_size;
    size_t entries = 0, readable = 0;
    bool failed = false;
    while ((size_t)(end - p) >= sizeof(entry_header)) {
        entry_header eh;
        memcpy(&eh, p, sizeof eh);
        if (eh.header_size < sizeof eh || eh.header_size > (size_t)(end - p) ||
            eh.payload_size > (size_t)(end - p) - eh.header_size)
            return CUDA_ERROR_INVALID_IMAGE;
        entries++;
        readable += parse_entry(p, &eh, out, &failed) ? 1 : 0;
        p += eh.header_size + eh.payload_size;
    }
    if (failed)
        return CUDA_ERROR_INVALID_IMAGE;
    if (entries == 0)
        return CUDA_ERROR_NO_BINARY_FOR_GPU;
    out->opaque = readable == 0;
    return CUDA_SUCCESS;
}

/* PTX always declares its ISA version: ".version 9.0". */
static bool looks_like_ptx(const char *text, size_t len)
{
    static const char needle[] = ".version";
    for (size_t i = 0; i + sizeof needle - 1 <= len; i++)
        if (memcmp(text + i, needle, sizeof needle - 1) == 0)
            return true;
    return false;
}

static CUresult parse_known(const unsigned char *data, size_t size, emu_image *out)
{
    uint32_t magic = read_u32(data);
    if (magic == WRAPPER_MAGIC) {
        const unsigned char *fatbin = (const unsigned char *)(uintptr_t)read_u64(data + 8);
        return fatbin != NULL && read_u32(fatbin) == FATBIN_MAGIC ? parse_fatbin(fatbin, out)
                                                                   : CUDA_ERROR_INVALID_IMAGE;
    }
    if (magic == FATBIN_MAGIC)
        return parse_fatbin(data, out);
    if (memcmp(data, "\177ELF", 4) == 0)
        return emu_elf_parse(data, size != 0 ? size : elf_extent(data), out) ? CUDA_SUCCESS
                                                                              : CUDA_ERROR_INVALID_IMAGE;
    const char *text = (const char *)data;
    size_t len = strnlen(text, size != 0 ? size : PTX_MAX_SCAN);
    if (!looks_like_ptx(text, len))
        return CUDA_ERROR_INVALID_IMAGE;
    return emu_ptx_parse(text, len, out) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_PTX;
}

CUresult emu_image_parse(const void *data, size_t size, emu_image *out)
{
    *out = (emu_image){ 0 };
    if (data == NULL || (size != 0 && size < 4))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = parse_known(data, size, out);
    if (rc != CUDA_SUCCESS)
        emu_image_free(out);
    return rc;
}
