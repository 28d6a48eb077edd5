/* Host services lent to backends (runtime/host.c). Internal. */
#ifndef GESSL_HOST_IMPL_H
#define GESSL_HOST_IMPL_H

#include "rt_impl.h"

/* Fills be->host for a backend of rt whose iface is set: fail records for gs_errmsg(), warn
 * prints to stderr prefixed with the backend's name. */
void rt_host_init(rt_backend *be, const gs_runtime *rt);
/* After the context is destroyed: a GESSL_FAULT that never fired is reported on stderr with the
 * number of occurrences seen, so a test learns it tested nothing and where to aim instead. */
void rt_host_fini(const rt_backend *be);
/* The cache directory to use (requested, else $GESSL_CACHE_DIR, $XDG_CACHE_HOME/gessl,
 * ~/.cache/gessl), created if missing; NULL (with a warning on stderr) when it cannot be.
 * Caller frees. */
char *rt_cache_dir(const char *requested);

#endif
