// Shim for zlib (Debian: zlib1g-dev, pkg-config "zlib"). `inflateInit` is a macro that passes the
// library's version and the stream's size; Swift cannot import it, so it is re-exported here.
#pragma once
#include <zlib.h>

static inline int czlib_inflate_init(z_stream *stream) { return inflateInit(stream); }
/// `inflateInit2` (a macro too): `window_bits` 15 + 32 accepts zlib and gzip headers.
static inline int czlib_inflate_init2(z_stream *stream, int window_bits) { return inflateInit2(stream, window_bits); }
