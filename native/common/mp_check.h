/*
 * A complete check of one msgpack value, for both ends of the compute protocol (the client library's
 * replies and WELCOME, the daemon's call frames). msgpuck's own mp_check (1.0.3, Debian 12) counts the
 * values still expected in an `int`, and adds a container's 32-bit count to it: an array32 or map32
 * that declares 2^31 elements or more wraps that count, so mp_check accepts a value whose elements
 * run past the end it returns, and code that then trusts the check reads past the buffer. This one
 * keeps the count in 64 bits and refuses any count larger than the bytes left (every value takes at
 * least one), so it is also linear in the buffer's size whatever the counts claim.
 */
#ifndef GPUPOOL_COMMON_MP_CHECK_H
#define GPUPOOL_COMMON_MP_CHECK_H

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when [*data, end) starts with one whole value (then *data is just past it); 1 when it does not
 * (*data is then somewhere inside). The never-used byte 0xc1 is not a value. */
int gp_mp_check(const char **data, const char *end);

#ifdef __cplusplus
}
#endif

#endif
