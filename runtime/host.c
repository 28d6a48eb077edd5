/* The services the runtime lends each backend context (gs_backend_host): error reporting,
 * warnings prefixed with the backend's name, the cache directory, the wait timeout and the
 * test-only fault injection (GESSL_WAIT_TIMEOUT, GESSL_FAULT, read once here for every backend).
 * Each rt_backend embeds its own host table, so a callback finds its backend from the table it is
 * called with. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_impl.h"

/* Not const: the fault counters change through the table the backend holds as const. */
static rt_backend *backend_of(const gs_backend_host *host) {
  return (rt_backend *)(void *)((char *)(uintptr_t)host - offsetof(rt_backend, host));
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

static double host_wait_timeout(const gs_backend_host *host) {
  return backend_of(host)->wait_timeout_s;
}

static int host_fault(const gs_backend_host *host, gs_fault f) {
  rt_backend *be = backend_of(host);
  if (be->fault == GS_FAULT_NONE || f != be->fault) return 0;
  /* Atomic: the devices of one context may be used from different threads. */
  return __atomic_add_fetch(&be->fault_seen[f], 1, __ATOMIC_RELAXED) == be->fault_at;
}

/* GESSL_WAIT_TIMEOUT=SECONDS (0: no limit). Ten minutes by default: one wait covers at most a
 * step's queued work, which takes seconds even on a slow CPU device, and a driver that has not
 * answered for ten minutes will not; a short default would fail healthy runs on a busy machine. */
static double wait_timeout_from_env(const char *backend) {
  const char *v = getenv("GESSL_WAIT_TIMEOUT");
  if (!v || !*v) return 600.0;
  char *end;
  errno = 0;
  double t = strtod(v, &end);
  if (*end || errno || !(t >= 0.0) || t > 1e9) {
    fprintf(stderr,
            "gessl: %s: warning: GESSL_WAIT_TIMEOUT=%s is not a number of seconds >= 0; waiting "
            "600 s\n",
            backend, v);
    return 600.0;
  }
  return t;
}

/* GESSL_FAULT=KIND[:N], KIND one of alloc, build, launch, hang: the Nth (default first)
 * occurrence of KIND in each backend context fails. Test-only, so a value not understood is
 * reported and ignored rather than refused. */
static const char *const kinds[] = {"", "alloc", "build", "launch", "hang"};

static void fault_from_env(rt_backend *be) {
  be->fault = GS_FAULT_NONE;
  const char *v = getenv("GESSL_FAULT");
  if (!v || !*v) return;
  size_t len = strcspn(v, ":");
  long at = 1;
  if (v[len] == ':') {
    char *end;
    errno = 0;
    at = strtol(v + len + 1, &end, 10);
    if (*end || errno || at < 1) at = 0;
  }
  for (int k = GS_FAULT_ALLOC; k <= GS_FAULT_HANG && at > 0; k++)
    if (strlen(kinds[k]) == len && strncmp(v, kinds[k], len) == 0) {
      be->fault = (gs_fault)k;
      be->fault_at = at;
      return;
    }
  fprintf(stderr,
          "gessl: %s: warning: GESSL_FAULT=%s not understood (alloc, build, launch or hang, "
          "optionally :N); no fault injected\n",
          be->iface->name, v);
}

void rt_host_init(rt_backend *be, const gs_runtime *rt) {
  be->host.abi_version = GS_BACKEND_ABI_VERSION;
  be->host.struct_size = sizeof be->host;
  be->host.fail = host_fail;
  be->host.warn = host_warn;
  be->host.cache_dir = rt->cache_dir;
  be->host.threads = rt->threads;
  be->host.wait_timeout = host_wait_timeout;
  be->host.fault = host_fault;
  be->wait_timeout_s = wait_timeout_from_env(be->iface->name);
  fault_from_env(be);
  memset(be->fault_seen, 0, sizeof be->fault_seen);
}

void rt_host_fini(const rt_backend *be) {
  if (be->fault == GS_FAULT_NONE || be->fault_seen[be->fault] >= be->fault_at) return;
  if (be->fault_seen[be->fault] == 0) return; /* a backend loaded but not used */
  fprintf(stderr, "gessl: %s: warning: GESSL_FAULT=%s:%ld did not fire: %ld %s occurrences\n",
          be->iface->name, kinds[be->fault], be->fault_at, be->fault_seen[be->fault],
          kinds[be->fault]);
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
