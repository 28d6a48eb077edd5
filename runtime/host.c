/* The services the runtime lends each backend (gs_backend_host): error reporting, warnings
 * prefixed with the backend's name, and the cache directory.
 *
 * gs_backend_host.warn takes no context argument, so each backend gets its own trampoline
 * function bound to a slot that holds its name. Slots are keyed by name and shared by every
 * runtime in the process, so reopening a runtime reuses them. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_impl.h"

#define WARN_SLOTS 16
static char warn_names[WARN_SLOTS][64];
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;

static void vwarn(const char *name, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "gessl: %s: warning: %s\n", name, msg);
}

#define WARN_FN(k)                                                                                 \
  static void warn_##k(const char *fmt, ...) GS_PRINTF(1, 2);                                      \
  static void warn_##k(const char *fmt, ...) {                                                     \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    vwarn(warn_names[k], fmt, ap);                                                                 \
    va_end(ap);                                                                                    \
  }
WARN_FN(0)
WARN_FN(1)
WARN_FN(2)
WARN_FN(3)
WARN_FN(4)
WARN_FN(5)
WARN_FN(6)
WARN_FN(7)
WARN_FN(8)
WARN_FN(9)
WARN_FN(10)
WARN_FN(11)
WARN_FN(12)
WARN_FN(13)
WARN_FN(14)
WARN_FN(15)

static void warn_any(const char *fmt, ...) GS_PRINTF(1, 2);
static void warn_any(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwarn("backend", fmt, ap);
  va_end(ap);
}

static void (*const warn_fns[WARN_SLOTS])(const char *, ...) = {
    warn_0, warn_1, warn_2,  warn_3,  warn_4,  warn_5,  warn_6,  warn_7,
    warn_8, warn_9, warn_10, warn_11, warn_12, warn_13, warn_14, warn_15};

rt_warn_fn rt_warn_for(const char *name) {
  rt_warn_fn fn = warn_any;
  pthread_mutex_lock(&warn_lock);
  for (int k = 0; k < WARN_SLOTS; k++) {
    if (warn_names[k][0] == 0) {
      snprintf(warn_names[k], sizeof warn_names[k], "%s", name);
      fn = warn_fns[k];
      break;
    }
    if (strcmp(warn_names[k], name) == 0) {
      fn = warn_fns[k];
      break;
    }
  }
  pthread_mutex_unlock(&warn_lock);
  return fn;
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
