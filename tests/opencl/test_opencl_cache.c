/* OpenCL backend behaviour that the op conformance run cannot see: the program binary cache
 * (a second start compiles nothing, an unwritable directory is one warning and no error), the
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE refusal, and device listing.
 *
 *   test_opencl_cache PLUGIN DEVICE-SUBSTRING CACHE-DIR */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "gessl/backend.h"
#include "test_host.h"

static gs_backend_host host;

/* The one cache file in dir (there is one program per device); its mtime in ns, or -1. */
static long long cache_file(const char *dir, char *path, size_t len) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  long long t = -1;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "opencl-", 7) || !strstr(e->d_name, ".bin") || strstr(e->d_name, ".tmp"))
      continue;
    snprintf(path, len, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0) t = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  }
  closedir(d);
  return t;
}

static int fill_works(const gs_backend_iface *b, gs_bdev *dev) {
  gs_bbuf *buf;
  if (b->buf_alloc(dev, 11 * 4, &buf) != GS_OK) return 0;
  gs_launch l;
  memset(&l, 0, sizeof l);
  l.op = GS_OP_FILL;
  l.out = (gs_bref){buf, 2};
  l.out_desc.shape = (gs_shape)GS_SHAPE(7);
  l.f[0] = 3.25f;
  gs_bprog *p;
  float got[11] = {0};
  int ok = b->prog_compile(dev, &l, 1, &p) == GS_OK;
  if (ok) {
    ok = b->prog_run(dev, p) == GS_OK && b->buf_read(dev, buf, 0, got, sizeof got) == GS_OK;
    b->prog_free(dev, p);
  }
  b->buf_free(dev, buf);
  return ok && got[1] == 0 && got[2] == 3.25f && got[8] == 3.25f && got[9] == 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_opencl_cache PLUGIN DEVICE-SUBSTRING CACHE-DIR\n");
    return 2;
  }
  void *dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CHECKF(dl != NULL, "%s", dlerror());
  if (!dl) return check_summary();
  gs_backend_entry_fn entry = (gs_backend_entry_fn)dlsym(dl, GS_BACKEND_ENTRY_SYMBOL);
  int (*builds_of)(const gs_backend *) =
      (int (*)(const gs_backend *))dlsym(dl, "gessl_opencl_source_builds");
  CHECK(entry && builds_of);
  if (!entry || !builds_of) return check_summary();
  const gs_backend_iface *b = entry();
  host = test_host();
  gs_backend *ctx = NULL;
  CHECK(b && !strcmp(b->name, "opencl") && b->create(&host, &ctx) == GS_OK);
  if (!ctx) return check_summary();
#define builds() builds_of(ctx)
  int n = 0;
  char why[256] = "";
  CHECKF(b->probe(ctx, &n, why, sizeof why) == GS_OK && n > 0, "probe: %s %s", why, gs_errmsg());
  int pick = -1;
  for (int i = 0; i < n; i++) {
    gs_device_info info;
    CHECK(b->device_info(ctx, i, &info) == GS_OK);
    printf("device %d: %s | %s | %s | %s | %llu bytes, max alloc %llu\n", i, info.name, info.vendor,
           info.driver, info.extra, (unsigned long long)info.memory_bytes,
           (unsigned long long)info.max_alloc_bytes);
    CHECK(info.name[0] && info.vendor[0] && info.driver[0] && strstr(info.extra, "OpenCL C"));
    CHECK(info.memory_bytes > 0 && info.max_alloc_bytes > 0 && info.available);
    if (pick < 0 && (strstr(info.name, argv[2]) || strstr(info.extra, argv[2]))) pick = i;
  }
  CHECKF(pick >= 0, "no device matches %s", argv[2]);
  if (pick < 0) return check_summary();

  /* Fresh cache directory: the first open compiles and writes the binary. */
  char dir[1024], path[1400] = "";
  snprintf(dir, sizeof dir, "%s/%s", argv[3], argv[2]);
  mkdir(argv[3], 0755);
  mkdir(dir, 0755);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -f '%s'/opencl-*.bin", dir);
  CHECK(system(cmd) == 0);
  host.cache_dir = dir;
  gs_bdev *dev = NULL;
  int b0 = builds();
  CHECKF(b->open(ctx, pick, &dev) == GS_OK, "open: %s", gs_errmsg());
  if (!dev) return check_summary();
  CHECK(builds() == b0 + 1);
  long long t1 = cache_file(dir, path, sizeof path);
  CHECKF(t1 > 0, "no cache file written in %s", dir);
  CHECK(fill_works(b, dev));

  /* CL_DEVICE_MAX_MEM_ALLOC_SIZE is refused up front with the size and the device named. */
  gs_device_info info;
  b->device_info(ctx, pick, &info);
  gs_bbuf *big = NULL;
  gs_status s = b->buf_alloc(dev, (size_t)info.max_alloc_bytes + 4096, &big);
  CHECKF(s == GS_ERR_NOMEM && strstr(gs_errmsg(), "bytes") && strstr(gs_errmsg(), info.name),
         "oversized buffer: status %d: %s", (int)s, gs_errmsg());
  if (big) b->buf_free(dev, big);
  b->close(dev);

  /* Second start: served from the cache, nothing compiled, the file left alone. */
  dev = NULL;
  CHECKF(b->open(ctx, pick, &dev) == GS_OK, "reopen: %s", gs_errmsg());
  CHECKF(builds() == b0 + 1, "second start compiled %d program(s)", builds() - b0 - 1);
  CHECK(cache_file(dir, path, sizeof path) == t1);
  if (dev) {
    CHECK(fill_works(b, dev));
    b->close(dev);
  }

  /* A corrupt cache file is a miss, not an error: rebuilt and rewritten. */
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f) {
    fputs("GSOCLBI1 garbage", f);
    fclose(f);
  }
  dev = NULL;
  CHECKF(b->open(ctx, pick, &dev) == GS_OK, "open with corrupt cache: %s", gs_errmsg());
  CHECK(builds() == b0 + 2);
  if (dev) {
    CHECK(fill_works(b, dev));
    b->close(dev);
  }

  /* An unwritable directory: one warning, no error, across several starts. */
  host.cache_dir = "/proc/gessl-no-such-dir";
  for (int i = 0; i < 2; i++) {
    dev = NULL;
    CHECKF(b->open(ctx, pick, &dev) == GS_OK, "open with unwritable cache: %s", gs_errmsg());
    if (dev) {
      CHECK(fill_works(b, dev));
      b->close(dev);
    }
  }
  CHECKF(test_host_warnings == 1, "%d warnings for an unwritable cache directory",
         test_host_warnings);
  b->destroy(ctx);
  return check_summary();
}
