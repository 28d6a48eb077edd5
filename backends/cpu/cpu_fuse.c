/* Fusion at program compile: launch sequences that each make a full pass over the same tensor
 * run as one pass.
 *
 * Batch norm's apply (and any per-channel affine) reaches the backend as
 *   t = x * scale[c]   (BINARY mul, scale [1, C, 1...])
 *   u = t + shift[c]   (BINARY add on t, shift [1, C, 1...])
 *   r = relu(u)        (UNARY relu on u, optional)
 * and runs here as one loop that reads x once and writes t, u and r. Every output is still
 * written, because the backend cannot know which ones later programs or the host read; what is
 * saved is re-reading t and u from memory, and two launches. Elementwise order makes any
 * aliasing among x, t, u, r at the same offset safe (each element is read before it is
 * written); partial overlaps are not fused. */
#include "cpu_internal.h"

#include <string.h>

static int same_ref(gs_bref a, gs_bref b) { return a.buf == b.buf && a.off == b.off; }

/* Elements [off, off + n) of the same buffer overlap? */
static int overlap(gs_bref a, int64_t na, gs_bref b, int64_t nb) {
  if (a.buf != b.buf) return 0;
  int64_t a0 = (int64_t)a.off, b0 = (int64_t)b.off;
  return a0 < b0 + nb && b0 < a0 + na;
}

/* Same shape, and identical or disjoint. */
static int compatible(gs_bref a, gs_bref b, int64_t n) {
  return same_ref(a, b) || !overlap(a, n, b, n);
}

/* in1 is [1, C, 1, ...] against an f32 output [N, C, ...] of rank >= 2 and in0 is out's shape. */
static int per_channel(const gs_launch *l) {
  const gs_shape *o = &l->out_desc.shape, *a = &l->in_desc[0].shape, *s = &l->in_desc[1].shape;
  if (l->out_desc.dtype != GS_F32 || o->rank < 2 || s->rank != o->rank || a->rank != o->rank)
    return 0;
  for (int k = 0; k < o->rank; k++) {
    if (a->dim[k] != o->dim[k]) return 0;
    if (s->dim[k] != (k == 1 ? o->dim[1] : 1)) return 0;
  }
  return 1;
}

static int shape_eq(const gs_shape *a, const gs_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dim[k] != b->dim[k]) return 0;
  return 1;
}

static int is_binary(const gs_launch *l, gs_binary fn) {
  return l->op == GS_OP_BINARY && (gs_binary)l->i[0] == fn;
}

void cpu_fuse_plan(cpu_step *steps, size_t n) {
  for (size_t k = 0; k + 1 < n; k++) {
    const gs_launch *m = &steps[k].l, *a = &steps[k + 1].l;
    if (!is_binary(m, GS_BIN_MUL) || !is_binary(a, GS_BIN_ADD) || !per_channel(m) ||
        !per_channel(a) || !same_ref(a->in[0], m->out) ||
        !shape_eq(&a->out_desc.shape, &m->out_desc.shape))
      continue;
    int64_t len = cpu_numel(&m->out_desc), C = m->out_desc.shape.dim[1];
    gs_bref x = m->in[0], t = m->out, u = a->out, sc = m->in[1], sh = a->in[1];
    if (!compatible(x, t, len) || !compatible(x, u, len) || !compatible(t, u, len)) continue;
    int ok = 1;
    gs_bref outs[3] = {t, u, u};
    const gs_launch *r = k + 2 < n ? &steps[k + 2].l : NULL;
    int relu = r && r->op == GS_OP_UNARY && (gs_unary)r->i[0] == GS_UN_RELU &&
               same_ref(r->in[0], u) && shape_eq(&r->out_desc.shape, &a->out_desc.shape) &&
               compatible(x, r->out, len) && compatible(t, r->out, len) &&
               compatible(u, r->out, len);
    if (relu) outs[2] = r->out;
    for (int j = 0; j < 3; j++)
      ok = ok && !overlap(outs[j], len, sc, C) && !overlap(outs[j], len, sh, C);
    if (!ok) continue;
    steps[k].fuse = relu ? 2 : 1;
    k += (size_t)steps[k].fuse;
  }
}

/* One row of one channel; the outputs may alias x or each other at the same offset. */
static void row_aliased(const float *x, float *t, float *u, float *o, float sc, float sf,
                        int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float tv = x[i] * sc, uv = tv + sf;
    t[i] = tv, u[i] = uv;
    if (o) o[i] = uv > 0.0f ? uv : 0.0f;
  }
}

/* The same with no aliasing at all, which lets the compiler vectorise without checks. */
static void row_distinct(const float *restrict x, float *restrict t, float *restrict u,
                         float *restrict o, float sc, float sf, int64_t n) {
  if (o) {
    for (int64_t i = 0; i < n; i++) {
      float tv = x[i] * sc, uv = tv + sf;
      t[i] = tv, u[i] = uv, o[i] = uv > 0.0f ? uv : 0.0f;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    float tv = x[i] * sc;
    t[i] = tv, u[i] = tv + sf;
  }
}

void cpu_fused_scale_shift(const cpu_step *s) {
  const gs_launch *m = &s[0].l, *a = &s[1].l, *r = s->fuse > 1 ? &s[2].l : NULL;
  const gs_shape *sh = &m->out_desc.shape;
  int64_t N = sh->dim[0], C = sh->dim[1], inner = 1;
  for (int k = 2; k < sh->rank; k++) inner *= sh->dim[k];
  const float *x = cpu_ptr(m->in[0]), *scale = cpu_ptr(m->in[1]), *shift = cpu_ptr(a->in[1]);
  float *t = cpu_ptr(m->out), *u = cpu_ptr(a->out), *o = r ? cpu_ptr(r->out) : NULL;
  int64_t rows = N * C;
  if (inner == 1) {
    /* [N, C]: rows of channels. */
    CPU_PAR_FOR(rows)
    for (int64_t i = 0; i < N; i++) {
      const float *xr = x + i * C;
      float *tr = t + i * C, *ur = u + i * C, *orow = o ? o + i * C : NULL;
      for (int64_t c = 0; c < C; c++) {
        float tv = xr[c] * scale[c], uv = tv + shift[c];
        tr[c] = tv, ur[c] = uv;
        if (orow) orow[c] = uv > 0.0f ? uv : 0.0f;
      }
    }
    return;
  }
  int distinct = x != t && x != u && t != u && (!o || (o != x && o != t && o != u));
  CPU_PAR_FOR(rows * inner)
  for (int64_t rr = 0; rr < rows; rr++) {
    int64_t c = rr % C, base = rr * inner;
    if (distinct)
      row_distinct(x + base, t + base, u + base, o ? o + base : NULL, scale[c], shift[c], inner);
    else
      row_aliased(x + base, t + base, u + base, o ? o + base : NULL, scale[c], shift[c], inner);
  }
}
