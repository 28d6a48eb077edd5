/* An allocation larger than the device's memory is refused up front with a message naming the
 * backend, the device and the sizes, nothing is allocated (the machine's memory is never
 * exhausted, even on devices that share it), and the device still works afterwards.
 * Usage: test_device_memory SPEC... */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

static void run(gs_runtime *rt, const char *spec) {
  gs_device *dev = gs_device_open(rt, spec);
  CHECKF(dev != NULL, "%s: %s", spec, gs_errmsg());
  if (!dev) return;
  const gs_device_info *info = gs_device_get_info(dev);
  CHECKF(info->memory_bytes > 0, "%s reports no memory size", spec);
  size_t before = gs_device_bytes_in_use(dev);
  /* Twice the device's memory, as [rows, 1024] floats. */
  int64_t rows = (int64_t)(2 * (info->memory_bytes / 4096)) + 1;
  gs_param *huge = gs_param_new(dev, "huge", GS_SHAPE(rows, 1024), 1);
  CHECKF(huge == NULL, "%s: a param of %lld bytes was allocated", spec, (long long)rows * 4096);
  const char *msg = gs_errmsg();
  char want[256];
  snprintf(want, sizeof want, "%s device '%s'", gs_device_backend_name(dev), info->name);
  CHECKF(strstr(msg, want) && strstr(msg, "do not fit") && strstr(msg, "'huge'"),
         "%s: message does not name the param, the device (%s) and the cause: %s", spec, want, msg);
  CHECK(gs_device_bytes_in_use(dev) == before);
  gs_param *small = gs_param_new(dev, "small", GS_SHAPE(1024), 1);
  CHECKF(small != NULL, "%s: %s", spec, gs_errmsg());
  if (small) {
    float x[1024];
    CHECKF(gs_param_read(small, x) == GS_OK && x[0] == 0.0f && x[1023] == 0.0f, "%s: %s", spec,
           gs_errmsg());
    gs_param_free(small);
  }
  gs_device_close(dev);
}

int main(int argc, char **argv) {
  gs_runtime *rt = gs_runtime_open(NULL);
  CHECKF(rt != NULL, "%s", gs_errmsg());
  for (int k = 1; k < argc && rt; k++) run(rt, argv[k]);
  gs_runtime_close(rt);
  return check_summary();
}
