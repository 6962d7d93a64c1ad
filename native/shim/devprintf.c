/*
 * Device printf reaching the job: the daemon sends what a kernel printed, as flushed at the driver's
 * flush points, in an output frame [0, 1, bytes] just before the reply of the call that flushed it
 * (docs/protocol.md, "Output frames"). It goes into the process's stdout stream, as a local driver
 * writes it, so it keeps its place among the program's own printf output; it is flushed at once, so
 * it is out before the synchronising call returns.
 */
#include <stdio.h>

#include <msgpuck.h>

#include "decode.h"

int gp_output_frame(const gp_reply *r)
{
    const char *q = r->outs;
    if (r->n_outs != 1 || r->outs_len == 0 || mp_typeof(*q) != MP_BIN)
        return -1;
    uint32_t len;
    const char *data = mp_decode_bin(&q, &len);
    /* 1 is the job's stdout; a stream this library does not know is skipped. */
    if (r->rc == 1 && len > 0) {
        fwrite(data, 1, len, stdout);
        fflush(stdout);
    }
    return 0;
}
