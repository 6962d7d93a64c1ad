/*
 * msgpuck is a header library: this one file holds its out-of-line definitions, built position-
 * independent into the client library (Debian's libmsgpuck.a is not PIC, so it cannot be linked in).
 */
#define MP_SOURCE 1
#include <msgpuck.h>
