/* Parameter sets, and the checks in front of their device-side arithmetic (pset_ops.c): the
 * values never leave the device except the per-param dot products, which the host sums in
 * double. */
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
    if (b && !gs_shape_eq(&a->p[k]->shape, &b->p[k]->shape)) {
      char sa[96], sb[96];
      return gs_fail(GS_ERR_SHAPE, "%s: param %d '%s' %s does not match '%s' %s", op, k,
                     a->p[k]->name, gs_shape_str(&a->p[k]->shape, sa, sizeof sa), b->p[k]->name,
                     gs_shape_str(&b->p[k]->shape, sb, sizeof sb));
    }
  }
  return GS_OK;
}

/* ops = out's params, then x's, then y's, as rt_pset_run wants them. */
static gs_status run(const char *name, rt_pset_kind kind, const gs_pset *out, const gs_pset *x,
                     const gs_pset *y, float a, float b, double *dot) {
  gs_status st = check_sets(name, out, x);
  if (st != GS_OK) return st;
  if (y && (st = check_sets(name, out, y)) != GS_OK) return st;
  if (out->n <= 0) return GS_OK;
  if ((x && x->n && x->p[0]->dev != out->p[0]->dev) ||
      (y && y->n && y->p[0]->dev != out->p[0]->dev))
    return gs_fail(GS_ERR_INVALID, "%s: the sets live on different devices", name);
  int n = out->n;
  gs_param **ops = malloc((size_t)n * 3 * sizeof *ops);
  if (!ops) return gs_fail(GS_ERR_NOMEM, "%s: out of memory", name);
  memcpy(ops, out->p, (size_t)n * sizeof *ops);
  if (x) memcpy(ops + n, x->p, (size_t)n * sizeof *ops);
  if (y) memcpy(ops + 2 * n, y->p, (size_t)n * sizeof *ops);
  st = rt_pset_run(out->p[0]->dev, kind, ops, n, a, b, dot, name);
  free(ops);
  return st;
}

gs_status gs_pset_copy(const gs_pset *dst, const gs_pset *src) {
  return run("pset_copy", RT_PS_COPY, dst, src, NULL, 0, 0, NULL);
}

gs_status gs_pset_axpy(const gs_pset *y, float a, const gs_pset *x) {
  return run("pset_axpy", RT_PS_AXPY, y, x, NULL, a, 1.0f, NULL);
}

gs_status gs_pset_axpby(const gs_pset *y, float a, const gs_pset *x, float b) {
  return run("pset_axpby", RT_PS_AXPBY, y, x, y, a, b, NULL);
}

gs_status gs_pset_scale(const gs_pset *x, float a) {
  return run("pset_scale", RT_PS_SCALE, x, NULL, NULL, a, 0.0f, NULL);
}

gs_status gs_pset_fill(const gs_pset *x, float v) {
  return run("pset_fill", RT_PS_FILL, x, NULL, NULL, v, 0, NULL);
}

gs_status gs_pset_dot(const gs_pset *a, const gs_pset *b, double *out) {
  if (out) *out = 0;
  if (!out) return gs_fail(GS_ERR_INVALID, "pset_dot: no result pointer");
  return run("pset_dot", RT_PS_DOT, a, b, NULL, 0, 0, out);
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
