/* Devices: parsing a --backend spec ("opencl:1", "vulkan:radeon"), opening the backend's device,
 * and owning what lives on it (params, programs) until it closes. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_impl.h"

static int ieq(const char *a, const char *b, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (tolower((unsigned char)a[k]) != tolower((unsigned char)b[k])) return 0;
  return 1;
}

static int icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle), h = strlen(hay);
  if (n == 0) return 1;
  for (size_t k = 0; k + n <= h; k++)
    if (ieq(hay + k, needle, n)) return 1;
  return 0;
}

static const char *type_name(gs_device_type t) {
  switch (t) {
  case GS_DEVICE_CPU: return "cpu";
  case GS_DEVICE_GPU_DISCRETE: return "discrete gpu";
  case GS_DEVICE_GPU_INTEGRATED: return "integrated gpu";
  case GS_DEVICE_ACCELERATOR: return "accelerator";
  case GS_DEVICE_OTHER: break;
  }
  return "other";
}

/* "available: cpu, opencl (unavailable: no OpenCL platform); refused: <path>: <why>; ..." */
static void describe_backends(gs_runtime *rt, char *buf, size_t len) {
  size_t at = 0;
#define PUT(...)                                                                                   \
  do {                                                                                             \
    if (at < len) {                                                                                \
      int w_ = snprintf(buf + at, len - at, __VA_ARGS__);                                          \
      if (w_ > 0) at += (size_t)w_;                                                                \
    }                                                                                              \
  } while (0)
  buf[0] = 0;
  PUT("loaded backends: ");
  if (rt->n_backends == 0) PUT("none");
  for (int k = 0; k < rt->n_backends; k++) PUT("%s%s", k ? ", " : "", rt->backends[k]->iface->name);
  int refused = 0;
  for (int k = 0; k < rt->n_plugins; k++) {
    if (rt->plugins[k].kind != GS_PLUGIN_REFUSED) continue;
    PUT("%s%s", refused++ ? "; " : "; refused plugins: ", rt->plugins[k].why);
  }
  if (rt->n_plugins == 0) PUT("; no plugin files found on the search path");
#undef PUT
}

static void describe_devices(const rt_backend *be, char *buf, size_t len) {
  size_t at = 0;
  buf[0] = 0;
  for (int k = 0; k < be->n_dev && at < len; k++) {
    const gs_device_info *d = &be->infos[k];
    int w = snprintf(buf + at, len - at, "%s%d: %s (%s, %s%s%s)", k ? "; " : "", k, d->name,
                     d->vendor, type_name(d->type),
                     d->available ? "" : ", unavailable: ", d->available ? "" : d->why);
    if (w < 0) break;
    at += (size_t)w;
  }
}

/* Default pick for a bare backend name: discrete GPU, then integrated GPU, then any device. */
static int pick_default(const rt_backend *be) {
  static const gs_device_type pref[] = {GS_DEVICE_GPU_DISCRETE, GS_DEVICE_GPU_INTEGRATED};
  for (size_t p = 0; p < sizeof pref / sizeof *pref; p++)
    for (int k = 0; k < be->n_dev; k++)
      if (be->infos[k].available && be->infos[k].type == pref[p]) return k;
  for (int k = 0; k < be->n_dev; k++)
    if (be->infos[k].available) return k;
  return -1;
}

static gs_device *fail_null(gs_status s, const char *fmt, ...) GS_PRINTF(2, 3);
static gs_device *fail_null(gs_status s, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  gs_fail(s, "%s", msg);
  return NULL;
}

gs_device *gs_device_open(gs_runtime *rt, const char *spec) {
  if (!rt || !spec || !*spec) return fail_null(GS_ERR_INVALID, "device: empty device spec");
  const char *colon = strchr(spec, ':');
  size_t blen = colon ? (size_t)(colon - spec) : strlen(spec);
  const char *sel = colon ? colon + 1 : NULL;
  rt_backend *be = NULL;
  for (int k = 0; k < rt->n_backends && !be; k++) {
    const char *name = rt->backends[k]->iface->name;
    if (strlen(name) == blen && ieq(name, spec, blen)) be = rt->backends[k];
  }
  if (!be) {
    char list[1536];
    describe_backends(rt, list, sizeof list);
    return fail_null(GS_ERR_UNAVAILABLE, "device '%s': unknown backend '%.*s' (%s)", spec,
                     (int)blen, spec, list);
  }
  if (rt_backend_probe(be) != GS_OK)
    return fail_null(GS_ERR_UNAVAILABLE, "device '%s': backend %s is unavailable: %s", spec,
                     be->iface->name, be->probe_why);
  char devs[1536];
  describe_devices(be, devs, sizeof devs);
  int index = -1;
  if (!sel) {
    index = pick_default(be);
    if (index < 0)
      return fail_null(GS_ERR_UNAVAILABLE, "device '%s': no available %s device (%s)", spec,
                       be->iface->name, devs);
  } else if (!*sel) {
    return fail_null(GS_ERR_INVALID, "device '%s': empty device after ':' (devices: %s)", spec,
                     devs);
  } else {
    char *end;
    errno = 0;
    long v = strtol(sel, &end, 10);
    if (*end == 0 && errno == 0) {
      if (v < 0 || v >= be->n_dev)
        return fail_null(GS_ERR_INVALID, "device '%s': %s has no device %ld (devices: %s)", spec,
                         be->iface->name, v, devs);
      index = (int)v;
    } else {
      for (int k = 0; k < be->n_dev && index < 0; k++)
        if (icontains(be->infos[k].name, sel) || icontains(be->infos[k].vendor, sel)) index = k;
      if (index < 0)
        return fail_null(GS_ERR_INVALID, "device '%s': no %s device matches '%s' (devices: %s)",
                         spec, be->iface->name, sel, devs);
    }
    if (!be->infos[index].available)
      return fail_null(GS_ERR_UNAVAILABLE, "device '%s': %s device %d (%s) is unavailable: %s",
                       spec, be->iface->name, index, be->infos[index].name, be->infos[index].why);
  }
  gs_device *dev = calloc(1, sizeof *dev);
  if (!dev) return fail_null(GS_ERR_NOMEM, "device '%s': out of memory", spec);
  dev->rt = rt;
  dev->be = be;
  dev->iface = be->iface;
  dev->info = be->infos[index];
  dev->index = index;
  gs_fail(GS_OK, "%s", "");
  if (be->iface->open(index, &dev->bdev) != GS_OK || !dev->bdev) {
    char why[1024];
    snprintf(why, sizeof why, "%s", *gs_errmsg() ? gs_errmsg() : "open failed");
    free(dev);
    return fail_null(GS_ERR_BACKEND, "device '%s': cannot open %s device %d (%s): %s", spec,
                     be->iface->name, index, be->infos[index].name, why);
  }
  return dev;
}

void gs_device_close(gs_device *dev) {
  if (!dev) return;
  while (dev->programs) gs_program_free(dev->programs);
  while (dev->params) gs_param_free(dev->params);
  dev->iface->close(dev->bdev);
  free(dev);
}

const gs_device_info *gs_device_get_info(const gs_device *dev) { return dev ? &dev->info : NULL; }

const char *gs_device_backend_name(const gs_device *dev) { return dev ? dev->iface->name : ""; }

gs_status gs_device_sync(gs_device *dev) {
  if (!dev) return gs_fail(GS_ERR_INVALID, "gs_device_sync: no device");
  return dev->iface->sync(dev->bdev);
}

size_t gs_device_bytes_in_use(const gs_device *dev) {
  return dev ? dev->param_bytes + dev->program_bytes : 0;
}

gs_status rt_run_launches(gs_device *dev, const gs_launch *launches, size_t n) {
  if (n == 0) return GS_OK;
  for (size_t k = 0; k < n; k++)
    if (!dev->iface->supports(dev->bdev, &launches[k]))
      return gs_fail(GS_ERR_UNSUPPORTED, "backend %s does not run %s", dev->iface->name,
                     gs_opcode_name(launches[k].op));
  gs_bprog *p = NULL;
  gs_status st = dev->iface->prog_compile(dev->bdev, launches, n, &p);
  if (st != GS_OK) return st;
  st = dev->iface->prog_run(dev->bdev, p);
  /* The program is freed right away, so it must have finished. */
  gs_status st2 = dev->iface->sync(dev->bdev);
  dev->iface->prog_free(dev->bdev, p);
  return st != GS_OK ? st : st2;
}
