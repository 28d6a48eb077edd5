/* The device-side arithmetic of parameter sets (and gs_param_fill), as programs compiled once and
 * cached on the device, keyed by the operation and the params it touches. Scalars that change
 * from call to call (the meta-optimizer's step sizes) live in a two-float buffer the program
 * reads, written only when they change, so a call is one queued run: the host waits only where a
 * value comes back (dot, norm). A cached program is dropped when a param it names is freed, or
 * when the cache is full (least recently used first), and with its device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_impl.h"

enum { CACHE_MAX = 64 };

struct rt_pset_prog {
  rt_pset_kind kind;
  int n;          /* params per operand */
  int n_ops;      /* operands: out[0..n), then x, then y */
  gs_param **ops; /* n_ops * n */
  float fill;     /* RT_PS_FILL: the value, part of the key */
  uint64_t hash;
  gs_bprog *prog; /* NULL when every launch was dropped (copies onto themselves) */
  gs_bbuf *scal;  /* [a, b] */
  float a, b;
  int fed;
  gs_bbuf *tmp[2];
  gs_bbuf *res; /* RT_PS_DOT: one float per param */
  float *host;
  uint64_t used;
  struct rt_pset_prog *next;
};

static uint64_t hash_of(rt_pset_kind kind, gs_param *const *ops, int count, float fill) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
  uint32_t fb;
  memcpy(&fb, &fill, sizeof fb);
  h = (h ^ fb) * 1099511628211ull;
  for (int k = 0; k < count; k++) h = (h ^ (uint64_t)(uintptr_t)ops[k]) * 1099511628211ull;
  return h;
}

static void drop(gs_device *dev, rt_pset_prog *e) {
  if (e->prog || e->res) dev->iface->sync(dev->bdev); /* the work may still read the buffers */
  if (e->prog) dev->iface->prog_free(dev->bdev, e->prog);
  if (e->scal) dev->iface->buf_free(dev->bdev, e->scal);
  for (int k = 0; k < 2; k++)
    if (e->tmp[k]) dev->iface->buf_free(dev->bdev, e->tmp[k]);
  if (e->res) dev->iface->buf_free(dev->bdev, e->res);
  free(e->host);
  free(e->ops);
  free(e);
}

static void unlink_entry(gs_device *dev, rt_pset_prog *e) {
  for (rt_pset_prog **p = &dev->pset_progs; *p; p = &(*p)->next)
    if (*p == e) {
      *p = e->next;
      dev->n_pset_progs--;
      return;
    }
}

void rt_pset_forget(gs_device *dev, const gs_param *p) {
  rt_pset_prog **at = &dev->pset_progs;
  while (*at) {
    rt_pset_prog *e = *at;
    int hit = 0;
    for (int k = 0; k < e->n_ops * e->n && !hit; k++) hit = e->ops[k] == p;
    if (!hit) {
      at = &e->next;
      continue;
    }
    *at = e->next;
    dev->n_pset_progs--;
    drop(dev, e);
  }
}

void rt_pset_cache_free(gs_device *dev) {
  while (dev->pset_progs) {
    rt_pset_prog *e = dev->pset_progs;
    dev->pset_progs = e->next;
    drop(dev, e);
  }
  dev->n_pset_progs = 0;
}

static gs_tdesc desc_of(const gs_param *p) {
  gs_tdesc d = {GS_F32, p->shape};
  return d;
}

/* A [1,..,1] view of scalar `which` of the entry, broadcast against p's shape. */
static void scalar_operand(gs_launch *l, int slot, const rt_pset_prog *e, int which,
                           const gs_param *p) {
  l->in[slot].buf = e->scal;
  l->in[slot].off = (size_t)which;
  l->in_desc[slot].dtype = GS_F32;
  l->in_desc[slot].shape.rank = p->shape.rank;
  for (int d = 0; d < p->shape.rank; d++) l->in_desc[slot].shape.dim[d] = 1;
}

/* out = src * scalar `which`, into a temporary of src's shape. */
static void mul_into(gs_launch *l, const rt_pset_prog *e, gs_bbuf *tmp, const gs_param *src,
                     int which) {
  l->op = GS_OP_BINARY;
  l->i[0] = GS_BIN_MUL;
  l->n_in = 2;
  l->in[0].buf = src->buf;
  l->in_desc[0] = desc_of(src);
  scalar_operand(l, 1, e, which, src);
  l->out.buf = tmp;
  l->out_desc = desc_of(src);
}

static void axpby_launch(gs_launch *l, gs_bbuf *x, gs_bbuf *y, const gs_param *out, float a,
                         float b) {
  l->op = GS_OP_AXPBY;
  l->n_in = 2;
  l->in[0].buf = x;
  l->in_desc[0] = desc_of(out);
  l->in[1].buf = y;
  l->in_desc[1] = desc_of(out);
  l->f[0] = a;
  l->f[1] = b;
  l->out.buf = out->buf;
  l->out_desc = desc_of(out);
}

/* The launches of the entry's operation; returns how many were written into ls (room for 3n). */
static size_t launches_of(const rt_pset_prog *e, gs_launch *ls) {
  size_t m = 0;
  gs_param *const *out = e->ops, *const *x = e->ops + e->n, *const *y = e->ops + 2 * e->n;
  for (int k = 0; k < e->n; k++) {
    gs_param *o = out[k];
    switch (e->kind) {
    case RT_PS_FILL:
      ls[m].op = GS_OP_FILL;
      ls[m].f[0] = e->fill;
      ls[m].out.buf = o->buf;
      ls[m++].out_desc = desc_of(o);
      break;
    case RT_PS_COPY:
      /* INSERT at offset 0 copies exactly, where 1*x + 0*y would turn an Inf in y into NaN; a
       * copy onto itself is dropped rather than sent as an overlapping INSERT. */
      if (x[k] == o) break;
      ls[m].op = GS_OP_INSERT;
      ls[m].n_in = 1;
      ls[m].in[0].buf = x[k]->buf;
      ls[m].in_desc[0] = desc_of(x[k]);
      ls[m].out.buf = o->buf;
      ls[m++].out_desc = desc_of(o);
      break;
    case RT_PS_AXPY: /* out += a*x */
      mul_into(&ls[m++], e, e->tmp[0], x[k], 0);
      axpby_launch(&ls[m++], e->tmp[0], o->buf, o, 1.0f, 1.0f);
      break;
    case RT_PS_AXPBY: /* out = a*x + b*y */
      mul_into(&ls[m++], e, e->tmp[0], x[k], 0);
      mul_into(&ls[m++], e, e->tmp[1], y[k], 1);
      axpby_launch(&ls[m++], e->tmp[0], e->tmp[1], o, 1.0f, 1.0f);
      break;
    case RT_PS_SCALE: /* out = a*out, through a temporary and an exact copy back */
      mul_into(&ls[m++], e, e->tmp[0], o, 0);
      ls[m].op = GS_OP_INSERT;
      ls[m].n_in = 1;
      ls[m].in[0].buf = e->tmp[0];
      ls[m].in_desc[0] = desc_of(o);
      ls[m].out.buf = o->buf;
      ls[m++].out_desc = desc_of(o);
      break;
    case RT_PS_DOT:
      ls[m].op = GS_OP_DOT;
      ls[m].n_in = 2;
      ls[m].in[0].buf = o->buf;
      ls[m].in_desc[0] = desc_of(o);
      ls[m].in[1].buf = x[k]->buf;
      ls[m].in_desc[1] = desc_of(x[k]);
      ls[m].out.buf = e->res;
      ls[m].out.off = (size_t)k;
      ls[m].out_desc.dtype = GS_F32;
      ls[m++].out_desc.shape = GS_SHAPE(1);
      break;
    }
  }
  return m;
}

static int operands(rt_pset_kind kind) {
  return kind == RT_PS_FILL || kind == RT_PS_SCALE ? 1 : kind == RT_PS_AXPBY ? 3 : 2;
}

/* Buffers, launches and the compiled program of a new entry. */
static gs_status build(gs_device *dev, rt_pset_prog *e, const char *what) {
  const gs_backend_iface *b = dev->iface;
  gs_status st = GS_OK;
  int scalars = e->kind == RT_PS_AXPY || e->kind == RT_PS_AXPBY || e->kind == RT_PS_SCALE;
  size_t tmp_bytes = 0;
  for (int k = 0; k < e->n; k++)
    if (e->ops[k]->bytes > tmp_bytes) tmp_bytes = e->ops[k]->bytes;
  int n_tmp = e->kind == RT_PS_AXPBY ? 2 : scalars ? 1 : 0;
  if (scalars) st = rt_buf_alloc(dev, 2 * sizeof(float), &e->scal);
  for (int k = 0; k < n_tmp && st == GS_OK; k++) st = rt_buf_alloc(dev, tmp_bytes, &e->tmp[k]);
  if (st == GS_OK && e->kind == RT_PS_DOT) {
    st = rt_buf_alloc(dev, (size_t)e->n * sizeof(float), &e->res);
    e->host = malloc((size_t)e->n * sizeof *e->host);
    if (st == GS_OK && !e->host) st = gs_fail(GS_ERR_NOMEM, "%s: out of memory", what);
  }
  if (st != GS_OK) return st;
  gs_launch *ls = calloc((size_t)e->n * 3, sizeof *ls);
  if (!ls) return gs_fail(GS_ERR_NOMEM, "%s: out of memory", what);
  size_t m = launches_of(e, ls);
  st = rt_launch_check(dev, ls, m, what);
  if (st == GS_OK && m > 0) {
    st = b->prog_compile(dev->bdev, ls, m, &e->prog);
    if (st == GS_OK) rt_count_compile(dev);
  }
  free(ls);
  return st;
}

/* The cached entry for (kind, ops, fill), compiled on first use. */
static gs_status lookup(gs_device *dev, rt_pset_kind kind, gs_param *const *ops, int n, float fill,
                        const char *what, rt_pset_prog **out) {
  int count = operands(kind) * n;
  uint64_t h = hash_of(kind, ops, count, fill);
  for (rt_pset_prog *e = dev->pset_progs; e; e = e->next)
    if (e->hash == h && e->kind == kind && e->n == n && (kind != RT_PS_FILL || e->fill == fill) &&
        !memcmp(e->ops, ops, (size_t)count * sizeof *ops)) {
      e->used = ++dev->pset_tick;
      *out = e;
      return GS_OK;
    }
  if (dev->n_pset_progs >= CACHE_MAX) {
    rt_pset_prog *old = dev->pset_progs;
    for (rt_pset_prog *e = dev->pset_progs; e; e = e->next)
      if (e->used < old->used) old = e;
    unlink_entry(dev, old);
    drop(dev, old);
  }
  rt_pset_prog *e = calloc(1, sizeof *e);
  if (e) e->ops = malloc((size_t)count * sizeof *e->ops);
  if (!e || !e->ops) {
    free(e);
    return gs_fail(GS_ERR_NOMEM, "%s: out of memory", what);
  }
  memcpy(e->ops, ops, (size_t)count * sizeof *ops);
  e->kind = kind;
  e->n = n;
  e->n_ops = operands(kind);
  e->fill = fill;
  e->hash = h;
  gs_status st = build(dev, e, what);
  if (st != GS_OK) {
    drop(dev, e);
    return st;
  }
  e->used = ++dev->pset_tick;
  e->next = dev->pset_progs;
  dev->pset_progs = e;
  dev->n_pset_progs++;
  *out = e;
  return GS_OK;
}

gs_status rt_pset_run(gs_device *dev, rt_pset_kind kind, gs_param *const *ops, int n, float a,
                      float b, double *dot, const char *what) {
  if (n <= 0) return GS_OK;
  rt_pset_prog *e = NULL;
  gs_status st = lookup(dev, kind, ops, n, kind == RT_PS_FILL ? a : 0.0f, what, &e);
  if (st != GS_OK) return st;
  if (e->scal && (!e->fed || e->a != a || e->b != b)) {
    float ab[2] = {a, b};
    if ((st = dev->iface->buf_write(dev->bdev, e->scal, 0, ab, sizeof ab)) != GS_OK) return st;
    e->a = a;
    e->b = b;
    e->fed = 1;
  }
  if (e->prog && (st = dev->iface->prog_run(dev->bdev, e->prog)) != GS_OK) return st;
  if (e->kind != RT_PS_DOT) return GS_OK;
  if ((st = dev->iface->buf_read(dev->bdev, e->res, 0, e->host, (size_t)n * sizeof(float))) !=
      GS_OK)
    return st;
  double sum = 0;
  for (int k = 0; k < n; k++) sum += (double)e->host[k];
  *dot = sum;
  return GS_OK;
}
