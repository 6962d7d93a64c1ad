// msgpuck's out-of-line part: its lookup tables (mp_type_hint, mp_parser_hint, ...), defined by
// msgpuck.h itself under MP_SOURCE. Debian's libmsgpuck.a is built without -fPIC, so it cannot be
// linked into the addon (a shared object); msgpuck's functions are inline in the header anyway.
#define MP_SOURCE 1
#include <msgpuck.h>
