/* Per-thread error messages (gs_errmsg), status names and shape formatting. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gessl/types.h"

static _Thread_local char last_error[1024];

const char *gs_errmsg(void) { return last_error; }

gs_status gs_fail(gs_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}

gs_status gs_fail_context(gs_status s, const char *fmt, ...) {
  char why[sizeof last_error];
  memcpy(why, last_error, sizeof why);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  /* Appended by hand: the reason is cut rather than the context when the two do not fit. */
  size_t at = n < 0 ? 0 : (size_t)n < sizeof last_error ? (size_t)n : sizeof last_error - 1;
  if (at + 2 < sizeof last_error) {
    size_t len = strlen(why), room = sizeof last_error - at - 3;
    if (len > room) len = room;
    memcpy(last_error + at, ": ", 2);
    memcpy(last_error + at + 2, why, len);
    last_error[at + 2 + len] = 0;
  }
  return s;
}

const char *gs_status_name(gs_status s) {
  switch (s) {
  case GS_OK: return "ok";
  case GS_ERR_INVALID: return "invalid argument";
  case GS_ERR_SHAPE: return "shape error";
  case GS_ERR_NOMEM: return "out of memory";
  case GS_ERR_IO: return "i/o error";
  case GS_ERR_FORMAT: return "bad format";
  case GS_ERR_PLUGIN: return "plugin error";
  case GS_ERR_UNAVAILABLE: return "unavailable";
  case GS_ERR_UNSUPPORTED: return "unsupported";
  case GS_ERR_BACKEND: return "backend error";
  case GS_ERR_NUMERIC: return "numeric error";
  case GS_ERR_INTERRUPTED: return "interrupted";
  }
  return "unknown status";
}

int gs_shape_eq(const gs_shape *a, const gs_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dim[k] != b->dim[k]) return 0;
  return 1;
}

char *gs_shape_str(const gs_shape *s, char *buf, size_t len) {
  if (!buf || len == 0) return buf;
  size_t at = 0;
  int w = snprintf(buf, len, "[");
  at = w > 0 ? (size_t)w : 0;
  for (int k = 0; s && k < s->rank && at < len; k++) {
    w = snprintf(buf + at, len - at, k ? ", %lld" : "%lld", (long long)s->dim[k]);
    if (w < 0) break;
    at += (size_t)w;
  }
  if (at < len) snprintf(buf + at, len - at, "]");
  return buf;
}
