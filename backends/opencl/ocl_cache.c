/* Building the embedded kernel program, through an on-disk cache of program binaries.
 *
 * The key hashes everything that changes the binary: kernel source, build options, device name,
 * driver version and platform version. Files are written to a temporary name and renamed, so a
 * reader never sees half a file; any cache problem is a miss, and a directory that cannot be
 * written turns the cache off for the process with one warning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ocl_internal.h"

extern const char gs_ocl_kernel_source[];
extern const size_t gs_ocl_kernel_source_len;

static const char k_options[] = "-cl-std=CL1.2";
static const char k_magic[8] = {'G', 'S', 'O', 'C', 'L', 'B', 'I', '1'};
/* Programs compiled from source by a context; tests use it to prove a warm cache compiles
 * nothing. */
GS_API int gessl_opencl_source_builds(const gs_backend *be);
int gessl_opencl_source_builds(const gs_backend *be) { return be->source_builds; }

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* 128-bit key as 32 hex digits: two FNV-1a streams with different seeds. */
static void cache_key(gs_bdev *dev, char out[33]) {
  char dname[256] = "", dver[256] = "", pver[256] = "";
  ocl_str_info(dev->be, dev->device, CL_DEVICE_NAME, dname, sizeof dname);
  ocl_str_info(dev->be, dev->device, CL_DRIVER_VERSION, dver, sizeof dver);
  ocl_plat_str(dev->platform, CL_PLATFORM_VERSION, pver, sizeof pver);
  const void *parts[] = {gs_ocl_kernel_source, k_options, dname, dver, pver};
  size_t lens[] = {gs_ocl_kernel_source_len, sizeof k_options, strlen(dname) + 1, strlen(dver) + 1,
                   strlen(pver) + 1};
  uint64_t h1 = 14695981039346656037ULL, h2 = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 5; i++) {
    h1 = fnv1a(h1, parts[i], lens[i]);
    h2 = fnv1a(h2, parts[i], lens[i]);
  }
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

static gs_status build_log_fail(gs_bdev *dev, cl_int e) {
  size_t n = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(dev->program, dev->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) ==
          CL_SUCCESS &&
      (log = calloc(n + 1, 1)) != NULL &&
      clGetProgramBuildInfo(dev->program, dev->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) !=
          CL_SUCCESS)
    log[0] = 0;
  gs_status s = dev->be->host->fail(dev->be->host, GS_ERR_BACKEND,
                                    "opencl: kernel build failed on %s: %s (%d): %s", dev->name,
                                    ocl_err_name(e), (int)e, log ? log : "(no build log)");
  free(log);
  return s;
}

/* Loads a cached binary into dev->program; 0 on any miss. */
static int cache_load(gs_bdev *dev, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char magic[8];
  uint64_t size = 0;
  unsigned char *bin = NULL;
  int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, k_magic, 8) &&
           fread(&size, sizeof size, 1, f) == 1 && size > 0 && size < (1ULL << 31) &&
           (bin = malloc(size)) != NULL && fread(bin, 1, size, f) == size;
  fclose(f);
  if (!ok) {
    free(bin);
    return 0;
  }
  size_t len = size;
  const unsigned char *bins[1] = {bin};
  cl_int st = CL_SUCCESS, e;
  cl_program p = clCreateProgramWithBinary(dev->ctx, 1, &dev->device, &len, bins, &st, &e);
  free(bin);
  if (e != CL_SUCCESS || st != CL_SUCCESS) {
    if (p) clReleaseProgram(p);
    return 0;
  }
  if (clBuildProgram(p, 1, &dev->device, k_options, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(p);
    return 0;
  }
  dev->program = p;
  return 1;
}

static void cache_warn_off(gs_backend *be, const char *dir, const char *why) {
  if (!be->cache_off)
    be->host->warn(be->host, "kernel cache off: cannot write in %s: %s", dir, why);
  be->cache_off = 1;
}

static void cache_store(gs_bdev *dev, const char *dir, const char *path) {
  size_t size = 0;
  if (clGetProgramInfo(dev->program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
          CL_SUCCESS ||
      size == 0)
    return; /* the driver keeps no binary: nothing to cache */
  unsigned char *bin = malloc(size);
  unsigned char *bins[1] = {bin};
  if (!bin ||
      clGetProgramInfo(dev->program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) {
    free(bin);
    return;
  }
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    cache_warn_off(dev->be, dir, strerror(errno));
    free(bin);
    return;
  }
  uint64_t sz = size;
  int ok = fwrite(k_magic, 1, 8, f) == 8 && fwrite(&sz, sizeof sz, 1, f) == 1 &&
           fwrite(bin, 1, size, f) == size;
  ok = (fclose(f) == 0) && ok;
  free(bin);
  if (!ok || rename(tmp, path) != 0) {
    cache_warn_off(dev->be, dir, ok ? strerror(errno) : "write failed");
    remove(tmp);
  }
}

gs_status ocl_build_program(gs_bdev *dev) {
  const char *dir = dev->be->host->cache_dir;
  char path[4096] = "";
  /* GESSL_FAULT=build: the source gets an #error, so the driver's compiler fails with its log. */
  int broken = ocl_fault(dev, GS_FAULT_BUILD);
  if (dir && *dir && !dev->be->cache_off && !broken) {
    char key[33];
    cache_key(dev, key);
    snprintf(path, sizeof path, "%s/opencl-%s.bin", dir, key);
    if (cache_load(dev, path)) return GS_OK;
  }
  static const char k_broken[] = "\n#error \"injected by GESSL_FAULT\"\n";
  const char *src[2] = {gs_ocl_kernel_source, k_broken};
  size_t len[2] = {gs_ocl_kernel_source_len, sizeof k_broken - 1};
  cl_int e;
  dev->program = clCreateProgramWithSource(dev->ctx, broken ? 2 : 1, src, len, &e);
  OCL_CHECK(dev->be, e, "clCreateProgramWithSource");
  dev->source_builds++;
  dev->be->source_builds++;
  e = clBuildProgram(dev->program, 1, &dev->device, k_options, NULL, NULL);
  if (e != CL_SUCCESS) return build_log_fail(dev, e);
  if (path[0] && !dev->be->cache_off) cache_store(dev, dir, path);
  return GS_OK;
}
