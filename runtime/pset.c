/* Parameter sets and their device-side arithmetic. Each call lowers to one small program of
 * FILL / AXPBY / INSERT / DOT launches over every param of the set, run once; the values never
 * leave the device except the per-param dot products, which the host sums in double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_impl.h"

struct gs_pset {
  gs_param **p;
  int n, cap;
};

gs_pset *gs_pset_new(void) {
  gs_pset *s = calloc(1, sizeof *s);
  if (!s) gs_fail(GS_ERR_NOMEM, "gs_pset_new: out of memory");
  return s;
}

void gs_pset_free(gs_pset *s) {
  if (!s) return;
  free(s->p);
  free(s);
}

gs_status gs_pset_add(gs_pset *s, gs_param *p) {
  if (!s || !p) return gs_fail(GS_ERR_INVALID, "gs_pset_add: no set or param");
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    gs_param **v = realloc(s->p, (size_t)cap * sizeof *v);
    if (!v) return gs_fail(GS_ERR_NOMEM, "gs_pset_add: out of memory");
    s->p = v;
    s->cap = cap;
  }
  s->p[s->n++] = p;
  return GS_OK;
}

gs_status gs_pset_extend(gs_pset *s, const gs_pset *from) {
  if (!s || !from) return gs_fail(GS_ERR_INVALID, "gs_pset_extend: no set");
  for (int k = 0; k < from->n; k++) {
    gs_status st = gs_pset_add(s, from->p[k]);
    if (st != GS_OK) return st;
  }
  return GS_OK;
}

int gs_pset_count(const gs_pset *s) { return s ? s->n : 0; }

gs_param *gs_pset_get(const gs_pset *s, int i) { return s && i >= 0 && i < s->n ? s->p[i] : NULL; }

int64_t gs_pset_numel(const gs_pset *s) {
  int64_t n = 0;
  for (int k = 0; s && k < s->n; k++) n += gs_shape_numel(&s->p[k]->shape);
  return n;
}

void gs_pset_free_params(gs_pset *s) {
  if (!s) return;
  for (int k = 0; k < s->n; k++) gs_param_free(s->p[k]);
  gs_pset_free(s);
}

static int same_shape(const gs_shape *a, const gs_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dim[k] != b->dim[k]) return 0;
  return 1;
}

/* Checks that a and b (b may be NULL) are non-empty-compatible sets on one device. */
static gs_status check_sets(const char *op, const gs_pset *a, const gs_pset *b) {
  if (!a) return gs_fail(GS_ERR_INVALID, "%s: no parameter set", op);
  if (b && b->n != a->n)
    return gs_fail(GS_ERR_SHAPE, "%s: sets of %d and %d params", op, a->n, b->n);
  gs_device *dev = a->n ? a->p[0]->dev : NULL;
  for (int k = 0; k < a->n; k++) {
    if (a->p[k]->dev != dev || (b && b->p[k]->dev != dev))
      return gs_fail(GS_ERR_INVALID, "%s: params '%s' and '%s' live on different devices", op,
                     a->p[0]->name, a->p[k]->dev != dev ? a->p[k]->name : b->p[k]->name);
    if (b && !same_shape(&a->p[k]->shape, &b->p[k]->shape)) {
      char sa[96], sb[96];
      return gs_fail(GS_ERR_SHAPE, "%s: param %d '%s' %s does not match '%s' %s", op, k,
                     a->p[k]->name, gs_shape_str(&a->p[k]->shape, sa, sizeof sa), b->p[k]->name,
                     gs_shape_str(&b->p[k]->shape, sb, sizeof sb));
    }
  }
  return GS_OK;
}

static gs_tdesc desc_of(const gs_param *p) {
  gs_tdesc d = {GS_F32, p->shape};
  return d;
}

/* One launch per param: op over (x[k], y[k]) written into out[k]. */
typedef enum { K_FILL, K_COPY, K_AXPBY } kind;

static gs_status elementwise(const char *name, kind kd, const gs_pset *out, const gs_pset *x,
                             const gs_pset *y, float a, float b) {
  gs_status st = check_sets(name, out, x);
  if (st != GS_OK) return st;
  if (y && (st = check_sets(name, out, y)) != GS_OK) return st;
  if (out->n <= 0) return GS_OK;
  if (x && x->n && x->p[0]->dev != out->p[0]->dev)
    return gs_fail(GS_ERR_INVALID, "%s: the sets live on different devices", name);
  gs_launch *l = calloc((size_t)out->n, sizeof *l);
  if (!l) return gs_fail(GS_ERR_NOMEM, "%s: out of memory", name);
  for (int k = 0; k < out->n; k++) {
    gs_param *o = out->p[k];
    l[k].out.buf = o->buf;
    l[k].out_desc = desc_of(o);
    switch (kd) {
    case K_FILL:
      l[k].op = GS_OP_FILL;
      l[k].f[0] = a;
      break;
    case K_COPY:
      /* INSERT at offset 0 copies exactly, where 1*x + 0*y would turn an Inf in y into NaN. */
      l[k].op = GS_OP_INSERT;
      l[k].n_in = 1;
      l[k].in[0].buf = x->p[k]->buf;
      l[k].in_desc[0] = desc_of(x->p[k]);
      break;
    case K_AXPBY:
      l[k].op = GS_OP_AXPBY;
      l[k].n_in = 2;
      l[k].in[0].buf = x->p[k]->buf;
      l[k].in_desc[0] = desc_of(x->p[k]);
      l[k].in[1].buf = (y ? y->p[k] : x->p[k])->buf;
      l[k].in_desc[1] = desc_of(y ? y->p[k] : x->p[k]);
      l[k].f[0] = a;
      l[k].f[1] = b;
      break;
    }
    if (kd == K_COPY && x->p[k] == o) l[k].op = GS_OP_NOP;
  }
  /* Copies of a param onto itself are dropped rather than sent as overlapping INSERTs. */
  int m = 0;
  for (int k = 0; k < out->n; k++)
    if (l[k].op != GS_OP_NOP) l[m++] = l[k];
  st = rt_run_launches(out->p[0]->dev, l, (size_t)m);
  free(l);
  return st;
}

gs_status gs_pset_copy(const gs_pset *dst, const gs_pset *src) {
  return elementwise("pset_copy", K_COPY, dst, src, NULL, 0, 0);
}

gs_status gs_pset_axpy(const gs_pset *y, float a, const gs_pset *x) {
  return elementwise("pset_axpy", K_AXPBY, y, x, y, a, 1.0f);
}

gs_status gs_pset_axpby(const gs_pset *y, float a, const gs_pset *x, float b) {
  return elementwise("pset_axpby", K_AXPBY, y, x, y, a, b);
}

gs_status gs_pset_scale(const gs_pset *x, float a) {
  /* a*x + 0*x: the second operand must not be garbage, so it is x itself. */
  return elementwise("pset_scale", K_AXPBY, x, x, x, a, 0.0f);
}

gs_status gs_pset_fill(const gs_pset *x, float v) {
  return elementwise("pset_fill", K_FILL, x, NULL, NULL, v, 0);
}

gs_status gs_pset_dot(const gs_pset *a, const gs_pset *b, double *out) {
  if (out) *out = 0;
  gs_status st = check_sets("pset_dot", a, b);
  if (st != GS_OK) return st;
  if (!out) return gs_fail(GS_ERR_INVALID, "pset_dot: no result pointer");
  if (a->n <= 0) return GS_OK;
  gs_device *dev = a->p[0]->dev;
  if (b->n && b->p[0]->dev != dev)
    return gs_fail(GS_ERR_INVALID, "pset_dot: the sets live on different devices");
  size_t bytes = (size_t)a->n * 4;
  gs_bbuf *res = NULL;
  gs_launch *l = calloc((size_t)a->n, sizeof *l);
  float *host = malloc(bytes);
  if (!l || !host) {
    st = gs_fail(GS_ERR_NOMEM, "pset_dot: out of memory");
    goto done;
  }
  if ((st = dev->iface->buf_alloc(dev->bdev, bytes, &res)) != GS_OK) goto done;
  for (int k = 0; k < a->n; k++) {
    l[k].op = GS_OP_DOT;
    l[k].n_in = 2;
    l[k].in[0].buf = a->p[k]->buf;
    l[k].in_desc[0] = desc_of(a->p[k]);
    l[k].in[1].buf = b->p[k]->buf;
    l[k].in_desc[1] = desc_of(b->p[k]);
    l[k].out.buf = res;
    l[k].out.off = (size_t)k;
    l[k].out_desc.dtype = GS_F32;
    l[k].out_desc.shape = GS_SHAPE(1);
  }
  if ((st = rt_run_launches(dev, l, (size_t)a->n)) != GS_OK) goto done;
  if ((st = dev->iface->buf_read(dev->bdev, res, 0, host, bytes)) != GS_OK) goto done;
  double sum = 0;
  for (int k = 0; k < a->n; k++) sum += (double)host[k];
  *out = sum;
done:
  if (res) dev->iface->buf_free(dev->bdev, res);
  free(host);
  free(l);
  return st;
}

gs_status gs_pset_norm(const gs_pset *a, double *out) {
  double d = 0;
  gs_status st = gs_pset_dot(a, a, &d);
  if (out) *out = st == GS_OK && d > 0 ? sqrt(d) : 0;
  return st;
}

gs_pset *gs_pset_clone(const gs_pset *src, const char *suffix, int copy_values) {
  if (!src) {
    gs_fail(GS_ERR_INVALID, "gs_pset_clone: no set");
    return NULL;
  }
  gs_pset *s = gs_pset_new();
  if (!s) return NULL;
  for (int k = 0; k < src->n; k++) {
    const gs_param *p = src->p[k];
    char name[512];
    snprintf(name, sizeof name, "%s%s", p->name, suffix ? suffix : "");
    gs_param *q = gs_param_new(p->dev, name, p->shape, p->trainable);
    if (!q || gs_pset_add(s, q) != GS_OK) {
      gs_param_free(q);
      gs_pset_free_params(s);
      return NULL;
    }
  }
  if (copy_values && gs_pset_copy(s, src) != GS_OK) {
    gs_pset_free_params(s);
    return NULL;
  }
  return s;
}
