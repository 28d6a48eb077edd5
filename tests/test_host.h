/* The host table for tests that load a backend plugin by path, without the runtime (whose own
 * table is runtime/host.c): fail records the message for gs_errmsg() and returns the status,
 * warn prints the warning to stderr and counts it in test_host_warnings. */
#ifndef GESSL_TEST_HOST_H
#define GESSL_TEST_HOST_H

#include <stdarg.h>
#include <stdio.h>

#include "gessl/backend.h"

static int test_host_warnings;

static gs_status test_host_fail(const gs_backend_host *h, gs_status s, const char *fmt, ...)
    GS_PRINTF(3, 4);
static gs_status test_host_fail(const gs_backend_host *h, gs_status s, const char *fmt, ...) {
  (void)h;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gs_fail(s, "%s", msg);
}

static void test_host_warn(const gs_backend_host *h, const char *fmt, ...) GS_PRINTF(2, 3);
static void test_host_warn(const gs_backend_host *h, const char *fmt, ...) {
  (void)h;
  va_list ap;
  va_start(ap, fmt);
  fputs("warning: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  test_host_warnings++;
}

/* No cache directory and the backend's own thread count; a test sets those fields itself. */
static inline gs_backend_host test_host(void) {
  return (gs_backend_host){.abi_version = GS_BACKEND_ABI_VERSION,
                           .struct_size = sizeof(gs_backend_host),
                           .fail = test_host_fail,
                           .warn = test_host_warn};
}

#endif
