/* The services the runtime lends each backend context (gs_backend_host): error reporting,
 * warnings prefixed with the backend's name, and the cache directory. Each rt_backend embeds its
 * own host table, so a callback finds its backend from the table it is called with. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_impl.h"

static const rt_backend *backend_of(const gs_backend_host *host) {
  return (const rt_backend *)(const void *)((const char *)host - offsetof(rt_backend, host));
}

static gs_status host_fail(const gs_backend_host *host, gs_status s, const char *fmt, ...)
    GS_PRINTF(3, 4);
static gs_status host_fail(const gs_backend_host *host, gs_status s, const char *fmt, ...) {
  (void)host;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gs_fail(s, "%s", msg);
}

static void host_warn(const gs_backend_host *host, const char *fmt, ...) GS_PRINTF(2, 3);
static void host_warn(const gs_backend_host *host, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "gessl: %s: warning: %s\n", backend_of(host)->iface->name, msg);
}

void rt_host_init(rt_backend *be, const gs_runtime *rt) {
  be->host.abi_version = GS_BACKEND_ABI_VERSION;
  be->host.struct_size = sizeof be->host;
  be->host.fail = host_fail;
  be->host.warn = host_warn;
  be->host.cache_dir = rt->cache_dir;
  be->host.threads = rt->threads;
}

static int mkdir_p(const char *path) {
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

char *rt_cache_dir(const char *requested) {
  char buf[4096];
  const char *env;
  if (requested && *requested) {
    snprintf(buf, sizeof buf, "%s", requested);
  } else if ((env = getenv("GESSL_CACHE_DIR")) && *env) {
    snprintf(buf, sizeof buf, "%s", env);
  } else if ((env = getenv("XDG_CACHE_HOME")) && *env) {
    snprintf(buf, sizeof buf, "%s/gessl", env);
  } else if ((env = getenv("HOME")) && *env) {
    snprintf(buf, sizeof buf, "%s/.cache/gessl", env);
  } else {
    fprintf(stderr, "gessl: warning: no cache directory (HOME is not set); caching is off\n");
    return NULL;
  }
  if (mkdir_p(buf) != 0) {
    fprintf(stderr, "gessl: warning: cannot create cache directory %s: %s; caching is off\n", buf,
            strerror(errno));
    return NULL;
  }
  return strdup(buf);
}
