/* Devices: parsing a --backend spec ("opencl:1", "vulkan:radeon"), opening the backend's device,
 * and owning what lives on it (params, programs) until it closes. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
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

const char *gs_device_type_name(gs_device_type t) {
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
                     d->vendor, gs_device_type_name(d->type),
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
  if (be->iface->open(be->ctx, index, &dev->bdev) != GS_OK || !dev->bdev) {
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
  rt_pset_cache_free(dev);
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

void gs_device_set_detect_anomaly(gs_device *dev, int on) {
  if (dev) dev->detect_anomaly = on != 0;
}

size_t gs_device_bytes_in_use(const gs_device *dev) {
  return dev ? dev->param_bytes + dev->program_bytes : 0;
}

gs_bcounters gs_device_counters(const gs_device *dev) {
  gs_bcounters c;
  memset(&c, 0, sizeof c);
  if (dev && GS_HAS(dev->iface, counters)) dev->iface->counters(dev->bdev, &c);
  return c;
}

static void put_bytes(char *buf, size_t len, uint64_t b) {
  if (b >= 10u << 20)
    snprintf(buf, len, "%.1f MB", (double)b / 1e6);
  else if (b >= 10u << 10)
    snprintf(buf, len, "%.1f kB", (double)b / 1e3);
  else
    snprintf(buf, len, "%llu B", (unsigned long long)b);
}

void gs_counters_format(const gs_bcounters *a, const gs_bcounters *b, char *buf, size_t len) {
  if (!buf || len == 0) return;
  char to[32], from[32];
  put_bytes(to, sizeof to, b->bytes_to_device - a->bytes_to_device);
  put_bytes(from, sizeof from, b->bytes_from_device - a->bytes_from_device);
  int w = snprintf(buf, len, "%llu launches, %llu waits, %s to / %s from the device",
                   (unsigned long long)(b->launches - a->launches),
                   (unsigned long long)(b->waits - a->waits), to, from);
  double sec[GS_FAM_COUNT], total = 0.0;
  for (int f = 0; f < GS_FAM_COUNT; f++) total += sec[f] = b->seconds[f] - a->seconds[f];
  if (w < 0 || (size_t)w >= len || total <= 0.0) return;
  size_t at = (size_t)w;
  w = snprintf(buf + at, len - at, "; device time %.1f ms:", total * 1e3);
  /* Largest share first. */
  int done[GS_FAM_COUNT] = {0};
  for (int k = 0; k < GS_FAM_COUNT && w > 0 && (at += (size_t)w) < len; k++) {
    int best = -1;
    for (int f = 0; f < GS_FAM_COUNT; f++)
      if (!done[f] && (best < 0 || sec[f] > sec[best])) best = f;
    done[best] = 1;
    if (sec[best] <= 0.0) break;
    w = snprintf(buf + at, len - at, "%s %s %.0f%%", k ? "," : "",
                 gs_opfamily_name((gs_opfamily)best), 100.0 * sec[best] / total);
  }
}

void rt_count_compile(gs_device *dev) {
  __atomic_add_fetch(&dev->rt->compiles, 1, __ATOMIC_RELAXED);
}

uint64_t gs_runtime_compile_count(const gs_runtime *rt) {
  return rt ? __atomic_load_n(&rt->compiles, __ATOMIC_RELAXED) : 0;
}

gs_status rt_buf_alloc(gs_device *dev, size_t bytes, gs_bbuf **out) {
  /* Checked before asking: drivers that allocate lazily (or overcommit host memory, as CPU and
   * software devices do) may accept a buffer that cannot fit and fail, or get the process
   * killed, only when it is touched. What the runtime has placed on the device counts too. */
  uint64_t mem = dev->info.memory_bytes, used = gs_device_bytes_in_use(dev);
  if (mem && (bytes > mem || used > mem - bytes))
    return gs_fail(GS_ERR_NOMEM,
                   "%zu bytes do not fit in the memory of %s device '%s' (%llu bytes, %llu of them "
                   "already in use)",
                   bytes, dev->iface->name, dev->info.name, (unsigned long long)mem,
                   (unsigned long long)used);
  return dev->iface->buf_alloc(dev->bdev, bytes, out);
}

static void launch_str(const gs_launch *l, char *buf, size_t len) {
  char s[96];
  size_t at = 0;
  int w = snprintf(buf, len, "%s", gs_opcode_name(l->op));
  at = w > 0 ? (size_t)w : 0;
  if (at < len && (l->op == GS_OP_UNARY || l->op == GS_OP_UNARY_BWD))
    at += (size_t)snprintf(buf + at, len - at, "(%s)", gs_unary_name((gs_unary)l->i[0]));
  else if (at < len && l->op == GS_OP_BINARY)
    at += (size_t)snprintf(buf + at, len - at, "(%s)", gs_binary_name((gs_binary)l->i[0]));
  for (int k = 0; k < l->n_in && at < len; k++)
    at += (size_t)snprintf(buf + at, len - at, "%s%s%s", k ? ", " : " on ",
                           l->in_desc[k].dtype == GS_I32 ? "i32" : "",
                           gs_shape_str(&l->in_desc[k].shape, s, sizeof s));
  if (at < len)
    snprintf(buf + at, len - at, " -> %s", gs_shape_str(&l->out_desc.shape, s, sizeof s));
}

gs_status rt_launch_check(gs_device *dev, const gs_launch *ls, size_t n, const char *what) {
  char why[256], desc[512];
  for (size_t k = 0; k < n; k++) {
    int ok = gs_launch_check(&ls[k], why, sizeof why);
    if (ok && dev->iface->supports(dev->bdev, &ls[k])) continue;
    launch_str(&ls[k], desc, sizeof desc);
    if (!ok)
      return gs_fail(GS_ERR_INVALID, "%s: launch %s breaks its contract: %s", what, desc, why);
    return gs_fail(GS_ERR_UNSUPPORTED, "%s: backend %s does not run %s (device %s)", what,
                   dev->iface->name, desc, dev->info.name);
  }
  return GS_OK;
}

gs_status rt_run_launches(gs_device *dev, const gs_launch *launches, size_t n) {
  if (n == 0) return GS_OK;
  gs_status st0 = rt_launch_check(dev, launches, n, "run");
  if (st0 != GS_OK) return st0;
  gs_bprog *p = NULL;
  gs_status st = dev->iface->prog_compile(dev->bdev, launches, n, &p);
  if (st != GS_OK) return st;
  rt_count_compile(dev);
  st = dev->iface->prog_run(dev->bdev, p);
  /* The program is freed right away, so it must have finished. */
  gs_status st2 = dev->iface->sync(dev->bdev);
  dev->iface->prog_free(dev->bdev, p);
  return st != GS_OK ? st : st2;
}
