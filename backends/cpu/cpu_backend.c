/* The CPU backend plugin: the interface table, the one device, host-memory buffers, and
 * programs that run their launches synchronously on the calling thread (plus OpenMP and
 * OpenBLAS worker threads). */
#include "cpu_internal.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Thread_local int cpu_nthreads = 1;

/* The context: what the host lent, and the thread count every device of it uses. */
struct gs_backend {
  const gs_backend_host *host;
  int threads;
};

static int cpu_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* "model name : AMD EPYC 7B13" from /proc/cpuinfo; "unknown" when absent (non-x86, sandbox). */
static void cpu_model_name(char *out, size_t len) {
  snprintf(out, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    char *c = strchr(line, ':');
    if (!c) continue;
    c++;
    while (*c == ' ' || *c == '\t') c++;
    size_t n = strcspn(c, "\n");
    snprintf(out, len, "%.*s", (int)n, c);
    break;
  }
  fclose(f);
}

/* Device 0 is the CPU with every fast path; where oneDNN is built in, device 1
 * ("cpu-reference") is the same CPU on the plain im2col + OpenBLAS path, the reference the fast
 * one is checked against (gessl conform, the conformance tests). */
static int cpu_devices(void) { return cpu_dnnl_enabled() ? 2 : 1; }

static gs_status cpu_probe(gs_backend *be, int *n, char *why, size_t why_len) {
  (void)be;
  *n = cpu_devices();
  if (why && why_len) why[0] = 0;
  return GS_OK;
}

static gs_status cpu_device_info(gs_backend *be, int index, gs_device_info *info) {
  if (index < 0 || index >= cpu_devices())
    return be->host->fail(be->host, GS_ERR_INVALID, "cpu: device %d: there are only %d", index,
                          cpu_devices());
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", index ? "cpu-reference" : "cpu");
  cpu_model_name(info->vendor, sizeof info->vendor);
  /* The core names the kernels in use (OPENBLAS_CORETYPE can force one). */
  snprintf(info->driver, sizeof info->driver, "%s, core %s", openblas_get_config(),
           openblas_get_corename());
#ifdef _OPENMP
  const char *omp = "OpenMP";
#else
  const char *omp = "serial";
#endif
  char isa[96], note[200];
  cpu_isa_describe(isa, sizeof isa);
  cpu_isa_note(note, sizeof note);
  const char *path = !cpu_dnnl_enabled() ? ""
                     : index             ? "; reference path: im2col + OpenBLAS"
                                         : "; convolutions on oneDNN";
  /* A long note is cut rather than dropped. */
  if (snprintf(info->extra, sizeof info->extra, "%d cores, %d threads, %s, %s%s%s%s", cpu_cores(),
               be->threads, omp, isa, path, *note ? "; " : "", note) >= (int)sizeof info->extra)
    info->extra[sizeof info->extra - 1] = 0;
  info->type = GS_DEVICE_CPU;
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  info->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
  info->max_alloc_bytes = 0;
  info->available = 1;
  return GS_OK;
}

static gs_status cpu_open(gs_backend *be, int index, gs_bdev **out) {
  if (index < 0 || index >= cpu_devices())
    return be->host->fail(be->host, GS_ERR_INVALID, "cpu: device %d: there are only %d", index,
                          cpu_devices());
  gs_bdev *d = calloc(1, sizeof *d);
  if (!d) return be->host->fail(be->host, GS_ERR_NOMEM, "cpu: open: out of memory");
  d->be = be;
  d->threads = be->threads;
  d->dnnl = index == 0 ? cpu_dnnl_ctx_new() : NULL;
  d->fuse = index == 0 && cpu_dnnl_enabled();
  if (cpu_blas_weak() && be->host->warn) {
    char note[200];
    cpu_isa_note(note, sizeof note);
    be->host->warn(be->host, "%s", note);
  }
  cpu_blas_single();
  *out = d;
  return GS_OK;
}

static void cpu_close(gs_bdev *dev) {
  if (!dev) return;
  cpu_dnnl_ctx_free(dev->dnnl);
  free(dev);
}

/* The CPU runs every opcode it knows, of any size: it has no device limit to judge. */
static int cpu_supports(gs_bdev *dev, const gs_launch *l) {
  (void)dev;
  return l && l->op >= GS_OP_NOP && l->op < GS_OP_COUNT;
}

/* Whether operand r of descriptor d lies inside its buffer; else 0 with the reason. */
static int ref_ok(gs_bref r, const gs_tdesc *d, const char *what, int k, char *why, size_t len) {
  int64_t n = cpu_numel(d);
  if (n == 0) return 1;
  if (!r.buf) return snprintf(why, len, "%s %d has no buffer", what, k), 0;
  size_t cap = r.buf->bytes / 4;
  if (r.off <= cap && (uint64_t)n <= cap - r.off) return 1;
  snprintf(why, len, "%s %d: %lld elements at offset %zu overrun a %zu-element buffer", what, k,
           (long long)n, r.off, cap);
  return 0;
}

/* Every operand's window lies inside its buffer, checked once at compile. */
static int check_bounds(const gs_launch *l, char *why, size_t len) {
  for (int k = 0; k < l->n_in; k++)
    if (!ref_ok(l->in[k], &l->in_desc[k], "input", k, why, len)) return 0;
  return l->op == GS_OP_NOP || ref_ok(l->out, &l->out_desc, "output", 0, why, len);
}

static gs_status cpu_buf_alloc(gs_bdev *dev, size_t bytes, gs_bbuf **out) {
  gs_status st = cpu_fault_check(dev->be->host, dev, GS_FAULT_ALLOC, bytes);
  if (st != GS_OK) return st;
  gs_bbuf *b = malloc(sizeof *b);
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void *p = b && rounded >= bytes ? aligned_alloc(64, rounded) : NULL;
  if (!p) {
    free(b);
    return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                               "cpu: buffer of %zu bytes: out of memory", bytes);
  }
  b->bytes = bytes;
  b->data = p;
  *out = b;
  return GS_OK;
}

static void cpu_buf_free(gs_bdev *dev, gs_bbuf *buf) {
  if (!buf) return;
  free(buf->data);
  free(buf);
}

static gs_status cpu_buf_write(gs_bdev *dev, gs_bbuf *buf, size_t off, const void *src,
                               size_t bytes) {
  if (off > buf->bytes || bytes > buf->bytes - off)
    return dev->be->host->fail(dev->be->host, GS_ERR_INVALID,
                               "cpu: buf_write: %zu bytes at %zu past a %zu-byte buffer", bytes,
                               off, buf->bytes);
  if (bytes) memcpy((char *)buf->data + off, src, bytes);
  dev->cnt.bytes_to_device += bytes;
  return GS_OK;
}

static gs_status cpu_buf_read(gs_bdev *dev, gs_bbuf *buf, size_t off, void *dst, size_t bytes) {
  if (off > buf->bytes || bytes > buf->bytes - off)
    return dev->be->host->fail(dev->be->host, GS_ERR_INVALID,
                               "cpu: buf_read: %zu bytes at %zu past a %zu-byte buffer", bytes, off,
                               buf->bytes);
  gs_status st = cpu_fault_check(dev->be->host, dev, GS_FAULT_NONE, 0);
  if (st != GS_OK) return st;
  if (bytes) memcpy(dst, (const char *)buf->data + off, bytes);
  /* Work runs synchronously here; a read still counts where other backends wait. */
  dev->cnt.waits++;
  dev->cnt.bytes_from_device += bytes;
  return GS_OK;
}

static void prog_release(gs_bprog *p) {
  for (size_t k = 0; k < p->n; k++) cpu_dnnl_op_free(p->steps[k].dnnl);
  free(p->prof);
  free(p->ws);
  free(p->steps);
  free(p);
}

static gs_status cpu_prog_compile(gs_bdev *dev, const gs_launch *launches, size_t n,
                                  gs_bprog **out) {
  gs_status st = cpu_fault_check(dev->be->host, dev, GS_FAULT_BUILD, 0);
  if (st != GS_OK) return st;
  cpu_nthreads = dev->threads;
  gs_bprog *p = calloc(1, sizeof *p);
  if (!p) return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM, "cpu: compile: out of memory");
  p->n = n;
  p->dnnl = dev->dnnl;
  p->steps = n ? calloc(n, sizeof *p->steps) : NULL;
  if (n && !p->steps) {
    free(p);
    return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                               "cpu: compile: out of memory for %zu launches", n);
  }
  size_t ws_bytes = 0;
  for (size_t k = 0; k < n; k++) {
    const gs_launch *l = &launches[k];
    char why[256];
    if (!check_bounds(l, why, sizeof why)) {
      prog_release(p);
      return dev->be->host->fail(dev->be->host, GS_ERR_INVALID, "cpu: compile: launch %zu (%s): %s",
                                 k, gs_opcode_name(l->op), why);
    }
    cpu_step *s = &p->steps[k];
    s->l = *l;
    if (l->op == GS_OP_CONV2D || l->op == GS_OP_CONV2D_BWD_DATA ||
        l->op == GS_OP_CONV2D_BWD_FILTER) {
      size_t need;
      s->dnnl = cpu_dnnl_conv_plan(p->dnnl, l);
      if (s->dnnl) {
        need = cpu_dnnl_op_ws_bytes(s->dnnl);
      } else {
        cpu_conv_make_plan(l, &s->conv);
        need = s->conv.ws_floats * sizeof(float);
      }
      if (need > ws_bytes) ws_bytes = need;
    }
  }
  if (dev->fuse) cpu_fuse_plan(p->steps, n);
  for (size_t k = 0; k < n; k++) {
    size_t need = cpu_fused_ws_bytes(&p->steps[k]);
    if (need > ws_bytes) ws_bytes = need;
  }
  if (cpu_profile_enabled()) p->prof = n ? calloc(n, sizeof *p->prof) : NULL;
  if (ws_bytes) {
    size_t bytes = (ws_bytes + 63) / 64 * 64;
    p->ws_floats = bytes / sizeof(float);
    p->ws = aligned_alloc(64, bytes);
    if (!p->ws) {
      prog_release(p);
      return dev->be->host->fail(dev->be->host, GS_ERR_NOMEM,
                                 "cpu: compile: workspace of %zu bytes: out of memory", bytes);
    }
  }
  *out = p;
  return GS_OK;
}

/* 0 when oneDNN failed (reported by the caller). */
static int cpu_run_step(const gs_bprog *p, const cpu_step *s, float *ws) {
  const gs_launch *l = &s->l;
  if (s->dnnl) return cpu_dnnl_run(p->dnnl, s->dnnl, ws);
  if (s->fuse) {
    cpu_fused_run(s, ws);
    return 1;
  }
  switch (l->op) {
  case GS_OP_NOP: break;
  case GS_OP_FILL: cpu_fill(l); break;
  case GS_OP_UNARY: cpu_unary(l); break;
  case GS_OP_UNARY_BWD: cpu_unary_bwd(l); break;
  case GS_OP_BINARY: cpu_binary(l); break;
  case GS_OP_AXPBY: cpu_axpby(l); break;
  case GS_OP_REDUCE: cpu_reduce(l); break;
  case GS_OP_EXPAND: cpu_expand(l); break;
  case GS_OP_DOT: cpu_dot(l); break;
  case GS_OP_PERMUTE: cpu_permute(l); break;
  case GS_OP_SLICE: cpu_slice(l); break;
  case GS_OP_INSERT: cpu_insert(l); break;
  case GS_OP_MATMUL: cpu_matmul(l); break;
  case GS_OP_GATHER_ROWS: cpu_gather_rows(l); break;
  case GS_OP_SCATTER_ADD_ROWS: cpu_scatter_add_rows(l); break;
  case GS_OP_ONEHOT: cpu_onehot(l); break;
  case GS_OP_CONV2D: cpu_conv2d(l, &s->conv, ws); break;
  case GS_OP_CONV2D_BWD_DATA: cpu_conv2d_bwd_data(l, &s->conv, ws); break;
  case GS_OP_CONV2D_BWD_FILTER: cpu_conv2d_bwd_filter(l, &s->conv, ws); break;
  case GS_OP_MAXPOOL2D: cpu_maxpool2d(l); break;
  case GS_OP_MAXPOOL2D_BWD: cpu_maxpool2d_bwd(l); break;
  case GS_OP_AVGPOOL2D: cpu_avgpool2d(l); break;
  case GS_OP_AVGPOOL2D_BWD: cpu_avgpool2d_bwd(l); break;
  case GS_OP_SGD:
  case GS_OP_ADAMW:
  case GS_OP_EMA: cpu_updates(s, 1); break;
  case GS_OP_COUNT: break;
  }
  return 1;
}

static gs_status step_failed(const gs_bdev *dev, const gs_bprog *p, size_t k) {
  return dev->be->host->fail(dev->be->host, GS_ERR_BACKEND,
                             "cpu: run: launch %zu (%s): oneDNN failed", k,
                             gs_opcode_name(p->steps[k].l.op));
}

static gs_status cpu_prog_run(gs_bdev *dev, gs_bprog *prog) {
  gs_status st = cpu_fault_check(dev->be->host, dev, GS_FAULT_LAUNCH, 0);
  if (st == GS_OK) st = cpu_fault_check(dev->be->host, dev, GS_FAULT_HANG, 0);
  if (st != GS_OK) return st;
  dev->cnt.launches += prog->n;
  cpu_nthreads = dev->threads;
  if (prog->prof) {
    for (size_t k = 0; k < prog->n; k += 1 + (size_t)prog->steps[k].fuse) {
      double t0 = cpu_now();
      int ok = cpu_run_step(prog, &prog->steps[k], prog->ws);
      double t = cpu_now() - t0;
      prog->prof[k] += t;
      dev->cnt.seconds[gs_opcode_family(prog->steps[k].l.op)] += t;
      if (!ok) return step_failed(dev, prog, k);
    }
    prog->runs++;
    return GS_OK;
  }
  for (size_t k = 0; k < prog->n; k += 1 + (size_t)prog->steps[k].fuse)
    if (!cpu_run_step(prog, &prog->steps[k], prog->ws)) return step_failed(dev, prog, k);
  return GS_OK;
}

static void cpu_prog_free(gs_bdev *dev, gs_bprog *prog) {
  if (!prog) return;
  cpu_profile_report(prog);
  prog_release(prog);
}

static gs_status cpu_sync(gs_bdev *dev) {
  dev->cnt.waits++;
  return cpu_fault_check(dev->be->host, dev, GS_FAULT_NONE, 0);
}

static void cpu_counters(gs_bdev *dev, gs_bcounters *out) { *out = dev->cnt; }

static gs_status cpu_create(const gs_backend_host *host, gs_backend **out) {
  gs_backend *be = calloc(1, sizeof *be);
  if (!be) return host->fail(host, GS_ERR_NOMEM, "cpu: out of memory");
  be->host = host;
  be->threads = host->threads > 0 ? host->threads : cpu_cores();
  cpu_blas_single();
  *out = be;
  return GS_OK;
}

static void cpu_destroy(gs_backend *be) { free(be); }

static const gs_backend_iface cpu_iface = {
    .abi_version = GS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(gs_backend_iface),
    .name = "cpu",
    .version = "0.1.0",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .probe = cpu_probe,
    .device_info = cpu_device_info,
    .open = cpu_open,
    .close = cpu_close,
    .supports = cpu_supports,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .buf_write = cpu_buf_write,
    .buf_read = cpu_buf_read,
    .prog_compile = cpu_prog_compile,
    .prog_run = cpu_prog_run,
    .prog_free = cpu_prog_free,
    .sync = cpu_sync,
    .counters = cpu_counters,
};

GS_API const gs_backend_iface *gessl_backend_entry(void) { return &cpu_iface; }
