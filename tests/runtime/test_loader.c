/* The plugin loader against deliberately broken plugins: each is listed as refused with a
 * message naming the file and the reason, the good ones still load, nothing crashes. Then the
 * device specs: default pick, index, name, and the errors for bad ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gessl/gessl.h"

static const gs_plugin_info *find(const gs_plugin_info *all, int n, const char *file) {
  for (int k = 0; k < n; k++) {
    const char *base = strrchr(all[k].path, '/');
    if (strcmp(base ? base + 1 : all[k].path, file) == 0) return &all[k];
  }
  return NULL;
}

static void expect_refused(const gs_plugin_info *all, int n, const char *file, const char *reason) {
  const gs_plugin_info *p = find(all, n, file);
  CHECKF(p != NULL, "%s not listed", file);
  if (!p) return;
  CHECKF(p->kind == GS_PLUGIN_REFUSED, "%s: kind %d", file, (int)p->kind);
  CHECKF(strstr(p->why, file) != NULL, "%s: reason does not name the file: %s", file, p->why);
  CHECKF(strstr(p->why, reason) != NULL, "%s: reason lacks '%s': %s", file, reason, p->why);
}

static void expect_open_fails(gs_runtime *rt, const char *spec, const char *a, const char *b) {
  gs_device *d = gs_device_open(rt, spec);
  CHECKF(d == NULL, "%s opened", spec);
  gs_device_close(d);
  CHECKF(strstr(gs_errmsg(), a) != NULL, "%s: message lacks '%s': %s", spec, a, gs_errmsg());
  if (b) CHECKF(strstr(gs_errmsg(), b) != NULL, "%s: message lacks '%s': %s", spec, b, gs_errmsg());
}

/* A copy of the good test backend at dir/libgessl-testbe.so with the given mode. */
static void copy_testbe(const char *dir, mode_t mode) {
  char src[1024], dst[1024];
  snprintf(src, sizeof src, "%s/libgessl-testbe.so", GESSL_TESTPLUG_DIR);
  snprintf(dst, sizeof dst, "%s/libgessl-testbe.so", dir);
  unlink(dst); /* a new inode: the old one may be mapped (plugins stay loaded) */
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  CHECKF(in && out, "copy %s to %s", src, dst);
  char buf[8192];
  size_t n;
  while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
  if (in) fclose(in);
  if (out) fclose(out);
  CHECK(chmod(dst, mode) == 0);
}

/* Loads dir alone (plus the build's own plugins) and expects testbe loaded (why NULL) or refused
 * with a reason containing `why`. */
static void expect_safety(const char *dir, const char *why) {
  gs_runtime_options o = {dir, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&o);
  CHECK(rt != NULL);
  int loaded = 0, refused = 0;
  for (int k = 0; rt && k < gs_runtime_plugin_count(rt); k++) {
    gs_plugin_info pi = gs_runtime_plugin(rt, k);
    if (strncmp(pi.path, dir, strlen(dir)) != 0) continue;
    if (pi.kind == GS_PLUGIN_BACKEND) loaded++;
    if (pi.kind == GS_PLUGIN_REFUSED) {
      refused++;
      printf("refused: %s\n", pi.why);
      if (why) CHECKF(strstr(pi.why, why) != NULL, "reason lacks '%s': %s", why, pi.why);
    }
  }
  if (why)
    CHECKF(refused == 1 && loaded == 0, "%s: %d refused, %d loaded, expected a refusal (%s)", dir,
           refused, loaded, why);
  else
    CHECKF(loaded == 1 && refused == 0, "%s: %d loaded, %d refused", dir, loaded, refused);
  gs_runtime_close(rt);
}

/* Plugin loading is code execution: a plugin file, or a directory above it, that someone other
 * than root and this user owns or may write is refused with the reason. */
static void check_safe_path(void) {
  char base[] = "/tmp/gessl-loader-XXXXXX", dir[64], sub[96];
  CHECK(mkdtemp(base) != NULL);
  /* mkdtemp's 0700 directory in sticky /tmp: safe. */
  copy_testbe(base, 0755);
  expect_safety(base, NULL);
  CHECK(chmod(base, 0775) == 0);
  expect_safety(base, "writable by its group (mode 775)");
  CHECK(chmod(base, 0757) == 0);
  expect_safety(base, "writable by others (mode 757)");
  CHECK(chmod(base, 0700) == 0);
  copy_testbe(base, 0666);
  expect_safety(base, "the file is writable by others (mode 666)");
  /* A directory two levels up writable by others, the file safe. */
  snprintf(dir, sizeof dir, "%s/a", base);
  snprintf(sub, sizeof sub, "%s/a/b", base);
  CHECK(mkdir(dir, 0700) == 0 && mkdir(sub, 0700) == 0);
  copy_testbe(sub, 0755);
  expect_safety(sub, NULL);
  CHECK(chmod(dir, 0777) == 0);
  expect_safety(sub, "directory /tmp/gessl-loader-");
  /* ... but a sticky one (as /tmp) is safe. */
  CHECK(chmod(dir, 01777) == 0);
  expect_safety(sub, NULL);
  CHECK(chmod(dir, 0700) == 0);
  /* Another owner (only root can make one). */
  char file[128];
  snprintf(file, sizeof file, "%s/libgessl-testbe.so", sub);
  if (geteuid() == 0) {
    CHECK(chown(file, 4242, 4242) == 0);
    expect_safety(sub, "owned by uid 4242");
    CHECK(chown(file, 0, 0) == 0 && chown(dir, 4242, 0) == 0);
    expect_safety(sub, "owned by uid 4242");
  } else {
    printf("ownership cases not run: they need root to chown\n");
  }
  unlink(file);
  rmdir(sub);
  rmdir(dir);
  snprintf(file, sizeof file, "%s/libgessl-testbe.so", base);
  unlink(file);
  rmdir(base);
}

/* A method built before gs_method_ctx had a head (ABI 3) reads the table from dev on; one built
 * now reads the head. gs_method_create hands each the layout it was built with. */
typedef struct ctx_v3 {
  gs_device *dev;
  gs_model *backbone;
  int64_t batch, total_steps;
  const double *hp;
  uint64_t seed;
} ctx_v3;
static gs_status create_v3(const gs_method_ctx *ctx, void **self) {
  const ctx_v3 *c = (const void *)ctx;
  *self = c->batch == 32 && c->seed == 9 ? (void *)c : NULL;
  return GS_OK;
}
static gs_status create_v4(const gs_method_ctx *ctx, void **self) {
  *self = ctx->abi_version == GS_METHOD_ABI_VERSION && ctx->struct_size == sizeof *ctx &&
                  ctx->batch == 32 && ctx->seed == 9
              ? (void *)ctx
              : NULL;
  return GS_OK;
}
static void check_method_create(void) {
  gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION), .batch = 32, .seed = 9};
  gs_method_iface m = {.abi_version = 3, .struct_size = sizeof m, .create = create_v3};
  void *self = NULL;
  CHECK(gs_method_create(&m, &ctx, &self) == GS_OK && self == (void *)&ctx.dev);
  m.abi_version = GS_METHOD_ABI_VERSION, m.create = create_v4, self = NULL;
  CHECK(gs_method_create(&m, &ctx, &self) == GS_OK && self == (void *)&ctx);
}

int main(void) {
  check_safe_path();
  check_method_create();
  gs_runtime_options opt = {GESSL_TESTPLUG_DIR, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&opt);
  CHECK(rt != NULL);
  if (!rt) return check_summary();

  gs_plugin_info all[128];
  int n = gs_runtime_plugin_count(rt);
  CHECK(n >= 9);
  if (n > 128) n = 128;
  for (int k = 0; k < n; k++) all[k] = gs_runtime_plugin(rt, k);

  const gs_plugin_info *good = find(all, n, "libgessl-testbe.so");
  CHECK(good && good->kind == GS_PLUGIN_BACKEND && strcmp(good->name, "testbe") == 0);
  CHECK(good && good->why[0] == 0);
  expect_refused(all, n, "libgessl-badabi.so", "ABI version 42");
  expect_refused(all, n, "libgessl-badabi.so", "this runtime understands");
  expect_refused(all, n, "libgessl-initfail.so", "failed to start");
  expect_refused(all, n, "libgessl-initfail.so", "pretend init failure");
  expect_refused(all, n, "libgessl-small.so", "smaller");
  expect_refused(all, n, "libgessl-noname.so", "no name");
  expect_refused(all, n, "libgessl-noentry.so", "no entry symbol");
  expect_refused(all, n, "libgessl-junk.so", "dlopen failed");
  expect_refused(all, n, "libgessl-missing.so", "No such file");
  expect_refused(all, n, "libgessl-testbe2.so", "shadowed by");
  expect_refused(all, n, "libgessl-testbe2.so", "libgessl-testbe.so");

  /* The good backend loaded exactly once, ahead of anything on GESSL_PLUGIN_PATH. */
  int testbe = -1, count = 0;
  for (int k = 0; k < gs_runtime_backend_count(rt); k++)
    if (strcmp(gs_runtime_backend(rt, k)->name, "testbe") == 0) testbe = k, count++;
  CHECK(testbe == 0 && count == 1);
  int nd = 0;
  CHECK(gs_runtime_devices(rt, testbe, &nd) == GS_OK && nd == 3);
  gs_device_info info;
  CHECK(gs_runtime_device_info(rt, testbe, 2, &info) == GS_OK && !info.available);
  CHECK(strcmp(info.why, "no such hardware") == 0);
  CHECK(gs_runtime_device_info(rt, testbe, 3, &info) != GS_OK);

  /* Unknown methods list what exists. */
  CHECK(gs_runtime_method(rt, "nosuch") == NULL && strstr(gs_errmsg(), "nosuch") != NULL);
  CHECK(gs_runtime_meta(rt, "nosuch") == NULL && strstr(gs_errmsg(), "nosuch") != NULL);

  /* Device specs. A bare name skips the unavailable discrete GPU and takes the integrated one. */
  gs_device *d = gs_device_open(rt, "testbe");
  CHECKF(d != NULL, "%s", gs_errmsg());
  if (d) CHECK(strcmp(gs_device_get_info(d)->name, "Test Integrated GPU") == 0);
  if (d) CHECK(strcmp(gs_device_backend_name(d), "testbe") == 0);
  gs_device_close(d);
  d = gs_device_open(rt, "TestBE:0");
  CHECKF(d && strcmp(gs_device_get_info(d)->name, "Test CPU") == 0, "%s", gs_errmsg());
  gs_device_close(d);
  d = gs_device_open(rt, "testbe:integrated");
  CHECKF(d && strcmp(gs_device_get_info(d)->name, "Test Integrated GPU") == 0, "%s", gs_errmsg());
  gs_device_close(d);
  d = gs_device_open(rt, "testbe:GESSL TESTS"); /* vendor match: the first device */
  CHECKF(d && strcmp(gs_device_get_info(d)->name, "Test CPU") == 0, "%s", gs_errmsg());
  gs_device_close(d);
  expect_open_fails(rt, "nosuch", "unknown backend 'nosuch'", "testbe");
  expect_open_fails(rt, "nosuch:0", "unknown backend", "libgessl-badabi.so");
  expect_open_fails(rt, "testbe:7", "no device 7", "Test Integrated GPU");
  expect_open_fails(rt, "testbe:-1", "no device -1", NULL);
  expect_open_fails(rt, "testbe:2", "unavailable", "no such hardware");
  expect_open_fails(rt, "testbe:zzz", "matches 'zzz'", "Test CPU");
  expect_open_fails(rt, "testbe:", "empty", NULL);
  expect_open_fails(rt, "", "empty", NULL);
  gs_runtime_close(rt);

  /* Files named on the path load whatever their name; a missing one is refused with the reason. */
  gs_runtime_options files = {GESSL_TESTPLUG_DIR
                              "/libgessl-noname.so:/nonexistent/libgessl-x.so:" GESSL_TESTPLUG_DIR
                              "/libgessl-testbe.so",
                              0, NULL};
  rt = gs_runtime_open(&files);
  CHECK(rt && gs_runtime_plugin_count(rt) >= 3);
  if (rt) {
    n = gs_runtime_plugin_count(rt);
    for (int k = 0; k < n && k < 128; k++) all[k] = gs_runtime_plugin(rt, k);
    expect_refused(all, n, "libgessl-noname.so", "no name");
    expect_refused(all, n, "libgessl-x.so", "No such file");
    CHECK(strcmp(gs_runtime_backend(rt, 0)->name, "testbe") == 0);
  }
  gs_runtime_close(rt);

  /* A search path of directories that do not exist loads nothing from them and still opens. */
  gs_runtime_options none = {"/nonexistent/gessl:/also/missing", 0, "/proc/cannot-create-this"};
  rt = gs_runtime_open(&none);
  CHECK(rt != NULL);
  for (int k = 0; rt && k < gs_runtime_plugin_count(rt); k++)
    CHECK(strstr(gs_runtime_plugin(rt, k).path, "/nonexistent/") == NULL);
  gs_runtime_close(rt);
  return check_summary();
}
