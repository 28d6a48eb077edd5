/* Test-only LD_PRELOAD shim: makes writes to chosen files fail with EIO, the error a failing disk
 * or a lost network mount gives and that no resource limit can produce. Nothing in the library
 * knows about it; tests/train/disk_full.sh preloads it into `gessl train`.
 *
 * GESSL_TEST_EIO=CALL:PATTERN[:SKIP]  CALL is write, fsync or fflush; a call of that kind on a
 * file whose path (read from /proc/self/fd) contains PATTERN fails with EIO, after SKIP such
 * calls have gone through (default 0). fflush covers log.jsonl, which is written through stdio
 * (whose own write calls stay inside libc, out of reach of a preload); its buffer is dropped, as
 * the kernel drops the data of a failed write. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The build hides symbols by default; these must replace libc's. */
#define SHIM __attribute__((visibility("default")))

static int matches(const char *call, int fd) {
  static long skipped;
  const char *spec = getenv("GESSL_TEST_EIO");
  size_t n = strlen(call);
  if (!spec || strncmp(spec, call, n) != 0 || spec[n] != ':' || fd < 0) return 0;
  char pattern[256];
  snprintf(pattern, sizeof pattern, "%s", spec + n + 1);
  char *colon = strchr(pattern, ':');
  long skip = colon ? strtol(colon + 1, NULL, 10) : 0;
  if (colon) *colon = 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t len = readlink(link, path, sizeof path - 1);
  if (len < 0) return 0;
  path[len] = 0;
  if (!strstr(path, pattern)) return 0;
  return __atomic_fetch_add(&skipped, 1, __ATOMIC_RELAXED) >= skip;
}

SHIM ssize_t write(int fd, const void *buf, size_t n) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  if (matches("write", fd)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buf, n);
}

SHIM int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (matches("fsync", fd)) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

SHIM int fflush(FILE *f) {
  static int (*real)(FILE *);
  if (!real) real = (int (*)(FILE *))dlsym(RTLD_NEXT, "fflush");
  if (f && matches("fflush", fileno(f))) {
    __fpurge(f);
    errno = EIO;
    return EOF;
  }
  return real(f);
}
