/*
 * JIT linking (cuLinkCreate, cuLinkAddData, cuLinkAddFile, cuLinkComplete, cuLinkDestroy): the link
 * state lives here, in the job's process. Inputs are gathered here (cuLinkAddFile reads the job's own
 * file), cuLinkComplete sends them all in one frame to the daemon of the current context, whose driver
 * links them there and sends back the image with its logs (docs/protocol.md, "Hand-encoded calls"),
 * and the image stays here until cuLinkDestroy, as the driver's does. A linked image is loaded like any
 * other (cuModuleLoadData), on any daemon. Options whose value is a number travel
 * (native/common/jit_options.h); the log buffers and the wall time are filled here from the daemon's
 * answer; any other option is refused with one line naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "gp_frames.h"
#include "gp_ops.h"
#include "gp_shim_decls.h"
#include "jit_options.h"
#include "read_whole_file.h"
#include "shim.h"

#define LINK_MAGIC 0x67706c6eu

typedef struct {
    unsigned count;
    int option[40];
    uint64_t value[40];
} link_options;

typedef struct {
    CUjitInputType type;
    char *name;
    unsigned char *data;
    size_t size;
    link_options options;
} link_input;

typedef struct {
    uint32_t magic;
    link_options options;
    char *info_log, *error_log;   /* the caller's buffers, or NULL */
    size_t info_size, error_size;
    void **wall_time;             /* the caller's option value slot for CU_JIT_WALL_TIME, or NULL */
    link_input *inputs;
    size_t count;
    void *image;
    size_t image_size;
} gp_link;

static gp_link *link_of(CUlinkState state)
{
    gp_link *l = (gp_link *)state;
    return l != NULL && l->magic == LINK_MAGIC ? l : NULL;
}

/*
 * The options of one call: value options kept in *out, the log buffers and wall time recorded in l
 * (cuLinkCreate) or answered now (an input's). Anything else is CUDA_ERROR_NOT_SUPPORTED.
 */
static CUresult take_options(gp_link *l, unsigned n, const CUjit_option *options, void **values, link_options *out)
{
    out->count = 0;
    if (n > 0 && (options == NULL || values == NULL))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = (uint64_t)(uintptr_t)values[i];
        switch (options[i]) {
        case CU_JIT_INFO_LOG_BUFFER:
        case CU_JIT_ERROR_LOG_BUFFER:
            if (l == NULL) { /* an input's own log: nothing is logged per input here */
                if (values[i] != NULL)
                    *(char *)values[i] = '\0';
            } else if (options[i] == CU_JIT_INFO_LOG_BUFFER) {
                l->info_log = values[i];
            } else {
                l->error_log = values[i];
            }
            continue;
        case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
        case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
            if (l != NULL)
                *(options[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES ? &l->info_size : &l->error_size) = (size_t)v;
            continue;
        case CU_JIT_WALL_TIME:
            if (l != NULL)
                l->wall_time = &values[i];
            continue;
        default:
            break;
        }
        if (!gp_jit_option_is_value(options[i]) || out->count == sizeof out->option / sizeof out->option[0]) {
            gp_error("cuLinkCreate/cuLinkAddData: JIT option %d is not carried by gpupool (its value is no plain number); "
                     "returning CUDA_ERROR_NOT_SUPPORTED", (int)options[i]);
            return CUDA_ERROR_NOT_SUPPORTED;
        }
        out->option[out->count] = options[i];
        out->value[out->count++] = v;
    }
    return CUDA_SUCCESS;
}

static void free_link(gp_link *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->inputs[i].name);
        free(l->inputs[i].data);
    }
    free(l->inputs);
    free(l->image);
    l->magic = 0;
    free(l);
}

CUresult gp_local_cuLinkCreate_v6050(unsigned int numOptions, CUjit_option *options, void **optionValues, CUlinkState *stateOut)
{
    if (!gp_initialized())
        return CUDA_ERROR_NOT_INITIALIZED;
    if (stateOut == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    gp_link *l = calloc(1, sizeof *l);
    if (l == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    l->magic = LINK_MAGIC;
    CUresult rc = take_options(l, numOptions, options, optionValues, &l->options);
    if (rc != CUDA_SUCCESS) {
        free_link(l);
        return rc;
    }
    *stateOut = (CUlinkState)l;
    return CUDA_SUCCESS;
}

static CUresult add_input(gp_link *l, CUjitInputType type, const void *data, size_t size, const char *name, unsigned n,
                          CUjit_option *options, void **values)
{
    if (data == NULL || size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    link_input in = { .type = type, .size = size };
    CUresult rc = take_options(NULL, n, options, values, &in.options);
    if (rc != CUDA_SUCCESS)
        return rc;
    link_input *grown = realloc(l->inputs, (l->count + 1) * sizeof *grown);
    if (grown == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    l->inputs = grown;
    in.name = strdup(name != NULL ? name : "");
    in.data = malloc(size);
    if (in.name == NULL || in.data == NULL) {
        free(in.name);
        free(in.data);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memcpy(in.data, data, size);
    l->inputs[l->count++] = in;
    return CUDA_SUCCESS;
}

CUresult gp_local_cuLinkAddData_v6050(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                                      unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    gp_link *l = link_of(state);
    return l == NULL ? CUDA_ERROR_INVALID_HANDLE : add_input(l, type, data, size, name, numOptions, options, optionValues);
}

/* The file is the job's: read here, sent as data. */
CUresult gp_local_cuLinkAddFile_v6050(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                                      CUjit_option *options, void **optionValues)
{
    gp_link *l = link_of(state);
    if (l == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    if (path == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    unsigned char *data = NULL;
    size_t len = 0;
    CUresult rc = gp_read_whole_file(path, &data, &len);
    if (rc == CUDA_SUCCESS)
        rc = add_input(l, type, data, len, path, numOptions, options, optionValues);
    free(data);
    return rc;
}

static void put_options(gp_call *c, const link_options *o)
{
    gp_put_array(c, o->count);
    for (unsigned i = 0; i < o->count; i++) {
        gp_put_array(c, 2);
        gp_put_uint(c, (uint64_t)o->option[i]);
        gp_put_uint(c, o->value[i]);
    }
}

/* A log from the daemon into the caller's buffer (its size given with the option), cut and terminated. */
static void take_log(gp_call *c, char *buf, size_t size)
{
    if (buf != NULL && size > 0)
        gp_get_str(c, buf, size);
    else
        gp_get_str(c, NULL, 0);
}

static size_t log_bytes(const char *buf, size_t size)
{
    return buf == NULL ? 0 : size < GP_JIT_LOG_MAX ? size : GP_JIT_LOG_MAX;
}

CUresult gp_fwd_cuLinkComplete_v5050(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    gp_link *l = link_of(state);
    if (l == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    if (cubinOut == NULL || sizeOut == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    gp_call *c = gp_call_begin(GP_OP_cuLinkComplete_v5050, GP_MODE_SYNC);
    const gp_frame_link frame = { .info_bytes = log_bytes(l->info_log, l->info_size), .error_bytes = log_bytes(l->error_log, l->error_size) };
    GP_PUT_FRAME(c, link, &frame);
    put_options(c, &l->options);
    gp_put_array(c, (uint32_t)l->count);
    for (size_t i = 0; i < l->count; i++) {
        gp_put_array(c, 4);
        gp_put_uint(c, (uint64_t)l->inputs[i].type);
        gp_put_str(c, l->inputs[i].name);
        gp_put_bin(c, l->inputs[i].data, l->inputs[i].size);
        put_options(c, &l->inputs[i].options);
    }
    CUresult rc = gp_call_finish(c);
    if (rc == CUDA_SUCCESS) {
        /* The link's own result comes first, so that its logs arrive whether it succeeded or not. */
        rc = (CUresult)gp_get_int(c);
        size_t size = (size_t)gp_get_uint(c);
        void *image = rc == CUDA_SUCCESS && size > 0 ? malloc(size) : NULL;
        if (rc == CUDA_SUCCESS && image == NULL)
            rc = CUDA_ERROR_OUT_OF_MEMORY;
        gp_get_bin(c, image, size);
        float wall = (float)gp_get_float(c);
        take_log(c, l->info_log, l->info_size);
        take_log(c, l->error_log, l->error_size);
        if (l->wall_time != NULL)
            memcpy(l->wall_time, &wall, sizeof wall);
        if (rc == CUDA_SUCCESS) {
            free(l->image);
            l->image = image;
            l->image_size = size;
            *cubinOut = image;
            *sizeOut = size;
        }
    }
    gp_call_end(c);
    return rc;
}

CUresult gp_local_cuLinkDestroy_v5050(CUlinkState state)
{
    gp_link *l = link_of(state);
    if (l == NULL)
        return CUDA_ERROR_INVALID_HANDLE;
    free_link(l);
    return CUDA_SUCCESS;
}
