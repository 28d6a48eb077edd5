/* Host services lent to backends (runtime/host.c). Internal. */
#ifndef GESSL_HOST_IMPL_H
#define GESSL_HOST_IMPL_H

#include "rt_impl.h"

typedef void (*rt_warn_fn)(const char *fmt, ...);

/* A warn function that prefixes messages with `name` (one per backend name). */
rt_warn_fn rt_warn_for(const char *name);
/* The cache directory to use (requested, else $GESSL_CACHE_DIR, $XDG_CACHE_HOME/gessl,
 * ~/.cache/gessl), created if missing; NULL (with a warning on stderr) when it cannot be.
 * Caller frees. */
char *rt_cache_dir(const char *requested);

#endif
