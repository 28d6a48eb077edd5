/* gessl — launch-level conformance: every opcode of op.h run on a device under test and on the
 * CPU reference backend, compared element by element (NMSE within a per-op bound, NaN/Inf only
 * where the reference has them, guard zones around every output untouched).
 *
 * Both backends are plugins loaded by path, each through a runtime of its own, so the same call
 * checks any backend (OpenCL, Vulkan, a new one) against the reference, or a backend against
 * itself. `gessl conform` and the gessl-conformance test program are thin callers of it. */
#ifndef GESSL_CONFORM_H
#define GESSL_CONFORM_H

#include <stdio.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_conform_opts {
  const char *ref_path;     /* reference plugin, e.g. build/lib/gessl/libgessl-cpu.so */
  const char *ref_device;   /* reference device as `device` below; NULL = the reference plugin's
                               "*-reference" device where it lists one (the CPU backend's plain
                               path beside its fast one), else device 0 */
  const char *backend_path; /* plugin under test */
  const char *device;       /* device under test: index, or case-insensitive substring of its
                               name, vendor, driver or extra text; NULL = device 0 */
  const char *ops;          /* comma-separated opcode names (gs_opcode_name); NULL = all */
  uint64_t seed;            /* input data seed */
  int runs;                 /* prog_run calls per case (>= 1; 2 checks re-running programs) */
} gs_conform_opts;

/* What one run found, for reports. */
typedef struct gs_conform_result {
  char backend[64];   /* "opencl" */
  int index;          /* device index within the backend; -1 when it did not open */
  gs_device_info dev; /* the device under test */
  int passed, failed;
  char failures[1024]; /* labels of the failed cases, "; "-separated, cut at the size */
  char error[512];     /* why nothing ran (plugin or device did not open); "" otherwise */
} gs_conform_result;

/* Runs every selected case, printing one line per case and a final "N passed, M failed" line to
 * `out`, and fills *res when given. Returns the number of failed cases, or -1 when a plugin or the
 * device cannot be loaded or opened (the reason is printed and in res->error; a backend that
 * cannot start is a failure, never a skip). */
GS_API int gs_conform_run(const gs_conform_opts *opts, FILE *out, gs_conform_result *res);

/* Writes results[0..n) as one JSON report to path (temp file + rename): the gessl version, the
 * date, and per device its backend, name, vendor, driver, type, counts and failed cases. The
 * input of scripts/portability_table.py. */
GS_API gs_status gs_conform_write_json(const gs_conform_result *results, int n, const char *path);

#ifdef __cplusplus
}
#endif
#endif
