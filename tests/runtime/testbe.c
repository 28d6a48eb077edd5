/* A tiny, naive backend for the runtime tests: host memory, a handful of opcodes, three fake
 * devices (a CPU, an integrated GPU, an unavailable discrete GPU). Built several times with
 * TESTBE_MODE to produce deliberately broken plugins for the loader tests:
 *   0 good, 1 wrong ABI version, 2 create fails, 3 table too small, 4 no name. */
#include <stdlib.h>
#include <string.h>

#include "gessl/backend.h"

#ifndef TESTBE_NAME
#define TESTBE_NAME "testbe"
#endif
#ifndef TESTBE_MODE
#define TESTBE_MODE 0
#endif

/* The context: only what the host lent. */
struct gs_backend {
  const gs_backend_host *host;
};
#define FAIL(be, ...) ((be)->host->fail((be)->host, __VA_ARGS__))

struct gs_bbuf {
  size_t bytes;
  unsigned char *mem;
};
struct gs_bdev {
  gs_backend *be;
  int index;
};
struct gs_bprog {
  size_t n;
  gs_launch *l;
};

static gs_status probe(gs_backend *be, int *n, char *why, size_t why_len) {
  (void)be;
  (void)why;
  (void)why_len;
  *n = 3;
  return GS_OK;
}

static gs_status device_info(gs_backend *be, int index, gs_device_info *info) {
  memset(info, 0, sizeof *info);
  static const char *names[] = {"Test CPU", "Test Integrated GPU", "Test Discrete GPU"};
  static const gs_device_type types[] = {GS_DEVICE_CPU, GS_DEVICE_GPU_INTEGRATED,
                                         GS_DEVICE_GPU_DISCRETE};
  if (index < 0 || index > 2) return FAIL(be, GS_ERR_INVALID, "testbe: no device %d", index);
  strcpy(info->name, names[index]);
  strcpy(info->vendor, "gessl tests");
  strcpy(info->driver, "naive");
  info->type = types[index];
  info->memory_bytes = 1u << 30;
  /* A small allocation cap on the integrated GPU exercises arena splitting. */
  info->max_alloc_bytes = index == 1 ? 4096 : 0;
  info->available = index != 2;
  if (index == 2) strcpy(info->why, "no such hardware");
  return GS_OK;
}

static gs_status dev_open(gs_backend *be, int index, gs_bdev **out) {
  gs_bdev *d = calloc(1, sizeof *d);
  if (!d) return FAIL(be, GS_ERR_NOMEM, "testbe: out of memory");
  d->be = be;
  d->index = index;
  *out = d;
  return GS_OK;
}

static void dev_close(gs_bdev *d) { free(d); }

static int supports(gs_bdev *d, const gs_launch *l) {
  (void)d;
  switch (l->op) {
  case GS_OP_FILL:
  case GS_OP_AXPBY:
  case GS_OP_BINARY:
  case GS_OP_INSERT:
  case GS_OP_DOT:
  case GS_OP_REDUCE: return 1;
  case GS_OP_UNARY:
    return l->i[0] == GS_UN_AFFINE || l->i[0] == GS_UN_RELU || l->i[0] == GS_UN_SQUARE;
  default: return 0;
  }
}

static gs_status buf_alloc(gs_bdev *d, size_t bytes, gs_bbuf **out) {
  (void)d;
  gs_bbuf *b = calloc(1, sizeof *b);
  if (b) b->mem = malloc(bytes ? bytes : 1);
  if (!b || !b->mem) {
    free(b);
    return FAIL(d->be, GS_ERR_NOMEM, "testbe: cannot allocate %zu bytes", bytes);
  }
  memset(b->mem, 0xff, bytes); /* garbage (NaN), so code relying on zeroed buffers fails */
  b->bytes = bytes;
  *out = b;
  return GS_OK;
}

static void buf_free(gs_bdev *d, gs_bbuf *b) {
  (void)d;
  if (b) free(b->mem);
  free(b);
}

static gs_status buf_write(gs_bdev *d, gs_bbuf *b, size_t off, const void *src, size_t bytes) {
  (void)d;
  if (off + bytes > b->bytes) return FAIL(d->be, GS_ERR_INVALID, "testbe: write out of range");
  memcpy(b->mem + off, src, bytes);
  return GS_OK;
}

static gs_status buf_read(gs_bdev *d, gs_bbuf *b, size_t off, void *dst, size_t bytes) {
  (void)d;
  if (off + bytes > b->bytes) return FAIL(d->be, GS_ERR_INVALID, "testbe: read out of range");
  memcpy(dst, b->mem + off, bytes);
  return GS_OK;
}

static float *ptr(gs_bref r) { return (float *)(void *)r.buf->mem + r.off; }

static int64_t numel(const gs_shape *s) {
  int64_t n = 1;
  for (int k = 0; k < s->rank; k++) n *= s->dim[k];
  return n;
}

/* Row-major index in `s` of the multi-index `idx` where dims of size 1 broadcast. */
static int64_t bidx(const gs_shape *s, const int64_t *idx) {
  int64_t o = 0;
  for (int k = 0; k < s->rank; k++) o = o * s->dim[k] + (s->dim[k] == 1 ? 0 : idx[k]);
  return o;
}

static void unravel(const gs_shape *s, int64_t j, int64_t *idx) {
  for (int k = s->rank - 1; k >= 0; k--) {
    idx[k] = j % s->dim[k];
    j /= s->dim[k];
  }
}

static gs_status run_one(const gs_backend *be, const gs_launch *l) {
  float *o = ptr(l->out);
  const gs_shape *os = &l->out_desc.shape;
  int64_t n = numel(os), idx[GS_MAX_RANK];
  switch (l->op) {
  case GS_OP_FILL:
    for (int64_t j = 0; j < n; j++) o[j] = l->f[0];
    break;
  case GS_OP_AXPBY: {
    const float *a = ptr(l->in[0]), *b = ptr(l->in[1]);
    for (int64_t j = 0; j < n; j++) o[j] = l->f[0] * a[j] + l->f[1] * b[j];
    break;
  }
  case GS_OP_UNARY: {
    const float *a = ptr(l->in[0]);
    for (int64_t j = 0; j < n; j++) {
      float x = a[j];
      switch (l->i[0]) {
      case GS_UN_AFFINE: o[j] = l->f[0] * x + l->f[1]; break;
      case GS_UN_RELU: o[j] = x > 0 ? x : 0; break;
      case GS_UN_SQUARE: o[j] = x * x; break;
      default: return FAIL(be, GS_ERR_UNSUPPORTED, "testbe: unary %d", l->i[0]);
      }
    }
    break;
  }
  case GS_OP_BINARY: {
    const float *a = ptr(l->in[0]), *b = ptr(l->in[1]);
    for (int64_t j = 0; j < n; j++) {
      unravel(os, j, idx);
      float x = a[bidx(&l->in_desc[0].shape, idx)], y = b[bidx(&l->in_desc[1].shape, idx)];
      switch (l->i[0]) {
      case GS_BIN_ADD: o[j] = x + y; break;
      case GS_BIN_SUB: o[j] = x - y; break;
      case GS_BIN_MUL: o[j] = x * y; break;
      case GS_BIN_DIV: o[j] = x / y; break;
      default: return FAIL(be, GS_ERR_UNSUPPORTED, "testbe: binary %d", l->i[0]);
      }
    }
    break;
  }
  case GS_OP_INSERT: {
    const float *a = ptr(l->in[0]);
    const gs_shape *is = &l->in_desc[0].shape;
    for (int64_t j = 0; j < numel(is); j++) {
      unravel(is, j, idx);
      int64_t t = 0;
      for (int k = 0; k < os->rank; k++) t = t * os->dim[k] + idx[k] + l->i[k];
      o[t] = a[j];
    }
    break;
  }
  case GS_OP_DOT: {
    const float *a = ptr(l->in[0]), *b = ptr(l->in[1]);
    double s = 0;
    for (int64_t j = 0; j < numel(&l->in_desc[0].shape); j++) s += (double)a[j] * b[j];
    o[0] = (float)s;
    break;
  }
  case GS_OP_REDUCE: {
    const float *a = ptr(l->in[0]);
    const gs_shape *is = &l->in_desc[0].shape;
    int64_t m = numel(is), cnt = m / (n ? n : 1);
    for (int64_t j = 0; j < n; j++) o[j] = 0;
    for (int64_t j = 0; j < m; j++) {
      unravel(is, j, idx);
      o[bidx(os, idx)] += a[j];
    }
    if (l->i[0] == GS_RED_MEAN)
      for (int64_t j = 0; j < n; j++) o[j] /= (float)cnt;
    break;
  }
  default: return FAIL(be, GS_ERR_UNSUPPORTED, "testbe: opcode %d", (int)l->op);
  }
  return GS_OK;
}

static gs_status prog_compile(gs_bdev *d, const gs_launch *l, size_t n, gs_bprog **out) {
  (void)d;
  gs_bprog *p = calloc(1, sizeof *p);
  if (p) p->l = malloc((n ? n : 1) * sizeof *l);
  if (!p || !p->l) {
    free(p);
    return FAIL(d->be, GS_ERR_NOMEM, "testbe: out of memory");
  }
  memcpy(p->l, l, n * sizeof *l);
  p->n = n;
  *out = p;
  return GS_OK;
}

static gs_status prog_run(gs_bdev *d, gs_bprog *p) {
  (void)d;
  for (size_t k = 0; k < p->n; k++) {
    gs_status st = run_one(d->be, &p->l[k]);
    if (st != GS_OK) return st;
  }
  return GS_OK;
}

static void prog_free(gs_bdev *d, gs_bprog *p) {
  (void)d;
  if (p) free(p->l);
  free(p);
}

static gs_status sync_dev(gs_bdev *d) {
  (void)d;
  return GS_OK;
}

static gs_status create(const gs_backend_host *host, gs_backend **out) {
#if TESTBE_MODE == 2
  return host->fail(host, GS_ERR_UNAVAILABLE, "testbe: pretend init failure");
#endif
  gs_backend *be = calloc(1, sizeof *be);
  if (!be) return host->fail(host, GS_ERR_NOMEM, "testbe: out of memory");
  be->host = host;
  *out = be;
  return GS_OK;
}

static void destroy(gs_backend *be) { free(be); }

static gs_backend_iface iface = {
    .abi_version = GS_BACKEND_ABI_VERSION,
    .struct_size = sizeof(gs_backend_iface),
    .name = TESTBE_NAME,
    .version = "test",
    .create = create,
    .destroy = destroy,
    .probe = probe,
    .device_info = device_info,
    .open = dev_open,
    .close = dev_close,
    .supports = supports,
    .buf_alloc = buf_alloc,
    .buf_free = buf_free,
    .buf_write = buf_write,
    .buf_read = buf_read,
    .prog_compile = prog_compile,
    .prog_run = prog_run,
    .prog_free = prog_free,
    .sync = sync_dev,
};

GS_API const gs_backend_iface *gessl_backend_entry(void);
GS_API const gs_backend_iface *gessl_backend_entry(void) {
#if TESTBE_MODE == 1
  iface.abi_version = 42;
#elif TESTBE_MODE == 3
  iface.struct_size = 16;
#elif TESTBE_MODE == 4
  iface.name = "";
#endif
  return &iface;
}
