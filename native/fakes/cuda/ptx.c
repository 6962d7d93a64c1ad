/*
 * Kernel names and parameter layouts of PTX text: every ".entry name(.param ..., ...)", and the device
 * functions it declares or defines (".func"). A parameter
 * is ".param [.align N] .type name[count]" (qualifiers such as .ptr .global are skipped); its offset
 * is the previous end rounded up to its alignment, as ptxas lays the parameter space out.
 */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define PTX_MAX_PARAMS 1024

typedef struct {
    const char *p, *end;
    const char *tok;            /* current token */
    size_t len;
} lexer;

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c == '.' || c == '%';
}

static void skip_space_and_comments(lexer *lx)
{
    while (lx->p < lx->end) {
        if (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r') {
            lx->p++;
        } else if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '/') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '*') {
            const char *close = NULL;
            for (const char *q = lx->p + 2; q + 1 < lx->end && close == NULL; q++)
                close = q[0] == '*' && q[1] == '/' ? q : NULL;
            lx->p = close != NULL ? close + 2 : lx->end;
        } else {
            return;
        }
    }
}

/* Advances to the next token; false at the end of the text. */
static bool next(lexer *lx)
{
    skip_space_and_comments(lx);
    if (lx->p >= lx->end || *lx->p == '\0')
        return false;
    lx->tok = lx->p;
    if (word_char(*lx->p)) {
        while (lx->p < lx->end && word_char(*lx->p))
            lx->p++;
    } else {
        lx->p++;
    }
    lx->len = (size_t)(lx->p - lx->tok);
    return true;
}

static bool is(const lexer *lx, const char *text)
{
    return lx->len == strlen(text) && memcmp(lx->tok, text, lx->len) == 0;
}

static size_t type_size(const lexer *lx)
{
    if (lx->len < 3 || lx->tok[0] != '.' || strchr("usbf", lx->tok[1]) == NULL)
        return 0;
    unsigned long bits = strtoul(lx->tok + 2, NULL, 10);
    return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 0;
}

static size_t number(const lexer *lx)
{
    return (size_t)strtoull(lx->tok, NULL, 10);
}

/* Parses one ".param ..." up to and including its ',' or ')'; false on malformed text. */
static bool param(lexer *lx, size_t *size, size_t *align, bool *last)
{
    size_t elem = 0, count = 1;
    *align = 0;
    while (next(lx)) {
        if (is(lx, ".align") && next(lx)) {
            *align = number(lx);
        } else if (type_size(lx) != 0) {
            elem = type_size(lx);
        } else if (is(lx, "[") && next(lx)) {
            count = number(lx);
            if (!next(lx) || !is(lx, "]"))
                return false;
        } else if (is(lx, ",") || is(lx, ")")) {
            *last = is(lx, ")");
            *size = elem * count;
            if (*align == 0)
                *align = elem;
            return elem != 0;
        }
    }
    return false;
}

static bool params(lexer *lx, emu_image_kernel *k)
{
    size_t offsets[PTX_MAX_PARAMS], sizes[PTX_MAX_PARAMS], end = 0, size, align;
    int count = 0;
    bool last = false;
    if (!next(lx) || !is(lx, "("))
        return emu_image_set_params(k, 0, NULL, NULL); /* no parameter list */
    while (!last && count < PTX_MAX_PARAMS) {
        if (!next(lx))
            return true;
        if (is(lx, ")"))
            break;
        if (!is(lx, ".param") || !param(lx, &size, &align, &last))
            return true; /* unreadable: the layout stays unknown */
        end = (end + align - 1) / align * align;
        offsets[count] = end;
        sizes[count++] = size;
        end += size;
    }
    return emu_image_set_params(k, count, offsets, sizes);
}

/* A ".func [(return value)] name" the image declares or defines (vprintf, __assertfail): recorded, so
 * that a kernel library may key a kernel by it. */
static bool function(lexer *lx, emu_image *out)
{
    if (!next(lx))
        return true;
    if (is(lx, "(")) {
        for (int depth = 1; depth > 0;) {
            if (!next(lx))
                return true;
            depth += is(lx, "(") ? 1 : is(lx, ")") ? -1 : 0;
        }
        if (!next(lx))
            return true;
    }
    if (!word_char(*lx->tok))
        return true;
    char *name = strndup(lx->tok, lx->len);
    bool ok = name != NULL && emu_image_add_function(out, name);
    free(name);
    return ok;
}

bool emu_ptx_parse(const char *text, size_t size, emu_image *out)
{
    lexer lx = { text, text + size, NULL, 0 };
    while (next(&lx)) {
        if (is(&lx, ".func") && !function(&lx, out))
            return false;
        if (!is(&lx, ".entry"))
            continue;
        if (!next(&lx) || !word_char(*lx.tok))
            return false;
        const char *name = lx.tok;
        size_t len = lx.len;
        if (!emu_image_add_kernel(out, name, len))
            return false;
        char *copy = strndup(name, len);
        bool ok = copy != NULL && params(&lx, emu_image_find(out, copy));
        free(copy);
        if (!ok)
            return false;
    }
    return true;
}
