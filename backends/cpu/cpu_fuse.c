/* Fusion at program compile: launch sequences that each make a full pass over the same tensor
 * run as one pass.
 *
 * Batch norm's apply (and any per-channel affine) reaches the backend as
 *   t = x * scale[c]   (BINARY mul, scale [1, C, 1...])
 *   u = t + shift[c]   (BINARY add on t, shift [1, C, 1...])
 *   r = relu(u)        (UNARY relu on u, optional)
 * and runs here as one loop that reads x once and writes t, u and r. Its backward pass through
 * the ReLU into batch norm's affine reaches the backend as
 *   z  = relu'(u) * dr       (UNARY_BWD relu)
 *   s1 = sum_c(z)            (REDUCE sum to [1, C, 1...]: the shift's gradient)
 *   dt = z * scale[c]        (BINARY mul)
 *   p  = z * d  or  d * z    (BINARY mul by a tensor of z's shape: the centred input)
 *   s2 = sum_c(p)            (REDUCE sum: the scale's gradient before the chain rule)
 * and runs as one loop that reads u, dr and d once, writes z, dt and p and sums s1 and s2 per
 * channel (in double, as REDUCE does). Every output is still written, because the backend cannot
 * know which ones later programs or the host read; what is saved is re-reading the intermediates
 * from memory, and the launches. Elementwise order makes aliasing at the same offset safe where
 * each element is read before it is written and no later launch of the sequence reads a tensor
 * an earlier one overwrote; partial overlaps are not fused.
 *
 * A run of optimizer updates (SGD, ADAMW, EMA, one launch per parameter) whose written operands
 * no other update of the run touches runs as one parallel pass over all of them (cpu_optim.c). */
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

/* Launches after steps[k] the scale-shift fusion absorbs there (0: none). */
static int plan_scale_shift(const cpu_step *steps, size_t k, size_t n) {
  if (k + 1 >= n) return 0;
  const gs_launch *m = &steps[k].l, *a = &steps[k + 1].l;
  if (!is_binary(m, GS_BIN_MUL) || !is_binary(a, GS_BIN_ADD) || !per_channel(m) ||
      !per_channel(a) || !same_ref(a->in[0], m->out) ||
      !shape_eq(&a->out_desc.shape, &m->out_desc.shape))
    return 0;
  int64_t len = cpu_numel(&m->out_desc), C = m->out_desc.shape.dim[1];
  gs_bref x = m->in[0], t = m->out, u = a->out, sc = m->in[1], sh = a->in[1];
  if (!compatible(x, t, len) || !compatible(x, u, len) || !compatible(t, u, len)) return 0;
  gs_bref outs[3] = {t, u, u};
  const gs_launch *r = k + 2 < n ? &steps[k + 2].l : NULL;
  int relu = r && r->op == GS_OP_UNARY && (gs_unary)r->i[0] == GS_UN_RELU &&
             same_ref(r->in[0], u) && shape_eq(&r->out_desc.shape, &a->out_desc.shape) &&
             compatible(x, r->out, len) && compatible(t, r->out, len) && compatible(u, r->out, len);
  if (relu) outs[2] = r->out;
  for (int j = 0; j < 3; j++)
    if (overlap(outs[j], len, sc, C) || overlap(outs[j], len, sh, C)) return 0;
  return relu ? 2 : 1;
}

/* d is [1, C, 1, ...] for a tensor of shape o ([N, C, ...]). */
static int channel_vec(const gs_shape *d, const gs_shape *o) {
  if (d->rank != o->rank) return 0;
  for (int k = 0; k < o->rank; k++)
    if (d->dim[k] != (k == 1 ? o->dim[1] : 1)) return 0;
  return 1;
}

static int is_sum(const gs_launch *l) {
  return l->op == GS_OP_REDUCE && (gs_reduce)l->i[0] == GS_RED_SUM;
}

/* Which input of the second product is z (the other is d); -1 when neither. */
static int z_side(const gs_launch *m2, gs_bref z) {
  return same_ref(m2->in[0], z) ? 0 : same_ref(m2->in[1], z) ? 1 : -1;
}

/* The backward ReLU/batch-norm sequence at steps[k]: 4 launches absorbed, or 0. */
static int plan_bn_relu_bwd(const cpu_step *steps, size_t k, size_t n) {
  if (k + 4 >= n) return 0;
  const gs_launch *r = &steps[k].l, *s1 = &steps[k + 1].l, *m1 = &steps[k + 2].l;
  const gs_launch *m2 = &steps[k + 3].l, *s2 = &steps[k + 4].l;
  if (r->op != GS_OP_UNARY_BWD || (gs_unary)r->i[0] != GS_UN_RELU) return 0;
  const gs_shape *o = &r->out_desc.shape;
  gs_bref z = r->out;
  if (r->out_desc.dtype != GS_F32 || o->rank < 2) return 0;
  if (!is_sum(s1) || !same_ref(s1->in[0], z) || !channel_vec(&s1->out_desc.shape, o)) return 0;
  if (!is_binary(m1, GS_BIN_MUL) || !same_ref(m1->in[0], z) ||
      !channel_vec(&m1->in_desc[1].shape, o) || !shape_eq(&m1->out_desc.shape, o))
    return 0;
  int zi = is_binary(m2, GS_BIN_MUL) ? z_side(m2, z) : -1;
  if (zi < 0 || !shape_eq(&m2->in_desc[1 - zi].shape, o) || !shape_eq(&m2->out_desc.shape, o))
    return 0;
  if (!is_sum(s2) || !same_ref(s2->in[0], m2->out) || !channel_vec(&s2->out_desc.shape, o))
    return 0;
  int64_t len = cpu_numel(&r->out_desc), C = o->dim[1], inner = len / (o->dim[0] * C);
  /* Rows of few elements per channel (ResNet-18's 4x4 maps, [N, C] in the heads) ran slower
   * fused than apart. */
  if (inner < 32) return 0;
  gs_bref d = m2->in[1 - zi], dt = m1->out, p = m2->out;
  const gs_bref full[7] = {r->in[0], r->in[1], r->in[2], d, z, dt, p}; /* reads, then writes */
  for (int w = 4; w < 7; w++)
    for (int j = 0; j < w; j++)
      if (!compatible(full[w], full[j], len)) return 0;
  /* The products read z and d after dt is written, and d must not be z itself. */
  if (overlap(dt, len, z, len) || overlap(dt, len, d, len) || overlap(d, len, z, len)) return 0;
  /* The sums are written after every element is done, so they may land on what only earlier
   * launches read (the memory plan reuses dead tensors): the ReLU's inputs, and for the second
   * sum the scale; never on what a later launch reads, on an output or on each other. The scale
   * must not be on an output. */
  const gs_bref chan[3] = {s1->out, m1->in[1], s2->out};
  if (overlap(chan[0], C, chan[1], C) || overlap(chan[0], C, chan[2], C)) return 0;
  for (int c = 0; c < 3; c++)
    for (int j = c == 1 ? 4 : 3; j < 7; j++)
      if (overlap(chan[c], C, full[j], len)) return 0;
  return 4;
}

static int is_update(const gs_launch *l) {
  return l->op == GS_OP_SGD || l->op == GS_OP_ADAMW || l->op == GS_OP_EMA;
}

/* Whether an update writes its operand k: in0 and the state buffers. */
static int update_writes(const gs_launch *l, int k) {
  return k == 0 || (l->op == GS_OP_SGD && k == 2) || (l->op == GS_OP_ADAMW && (k == 2 || k == 3));
}

/* No operand either update writes overlaps any operand of the other: any order gives the same. */
static int updates_independent(const gs_launch *a, const gs_launch *b) {
  for (int i = 0; i < a->n_in; i++)
    for (int j = 0; j < b->n_in; j++)
      if ((update_writes(a, i) || update_writes(b, j)) &&
          overlap(a->in[i], cpu_numel(&a->in_desc[i]), b->in[j], cpu_numel(&b->in_desc[j])))
        return 0;
  return 1;
}

/* Updates after steps[k] that join it in one pass. */
static int plan_updates(const cpu_step *steps, size_t k, size_t n) {
  if (!is_update(&steps[k].l)) return 0;
  size_t j = k + 1;
  for (; j < n && is_update(&steps[j].l); j++) {
    size_t i = k;
    while (i < j && updates_independent(&steps[i].l, &steps[j].l)) i++;
    if (i < j) break;
  }
  return (int)(j - k - 1);
}

void cpu_fuse_plan(cpu_step *steps, size_t n) {
  for (size_t k = 0; k < n; k++) {
    cpu_fusion kind = CPU_FUSE_SCALE_SHIFT;
    int f = plan_scale_shift(steps, k, n);
    if (!f) kind = CPU_FUSE_BN_RELU_BWD, f = plan_bn_relu_bwd(steps, k, n);
    if (!f) kind = CPU_FUSE_UPDATES, f = plan_updates(steps, k, n);
    if (!f) continue;
    steps[k].fuse = f;
    steps[k].fkind = kind;
    k += (size_t)f;
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

static void scale_shift(const cpu_step *s) {
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

/* The backward sequence on n elements of one channel (x = u, g = dr), in blocks: each block's
 * inputs are read into registers or the stack before any output is written, so outputs that
 * alias inputs or each other at the same offset are safe, and the loops vectorise without
 * knowing whether they do. Writes go in launch order (z, then dt, then p), so where two outputs
 * share a tensor the later launch's value stays. The sums go to the 8 lanes of a and b. */
enum { BN_BLOCK = 64, BN_CHUNKS = 64 };

static void bn_block(const float *x, const float *g, const float *d, float *z, float *dt, float *p,
                     float sc, int64_t m, float *restrict gv, float *restrict pv) {
  for (int64_t j = 0; j < m; j++) {
    float v = g[j];
    gv[j] = x[j] > 0.0f ? v : 0.0f;
  }
  for (int64_t j = 0; j < m; j++) pv[j] = gv[j] * d[j];
  for (int64_t j = 0; j < m; j++) z[j] = gv[j];
  for (int64_t j = 0; j < m; j++) dt[j] = gv[j] * sc;
  for (int64_t j = 0; j < m; j++) p[j] = pv[j];
}

/* v[0..m) added to 8 float lanes: lane l takes the elements j with j % 8 == l. */
static void lane_sum(const float *restrict v, int64_t m, float *restrict f) {
  int64_t j = 0;
  for (; j + 8 <= m; j += 8) {
    f[0] += v[j], f[1] += v[j + 1], f[2] += v[j + 2], f[3] += v[j + 3];
    f[4] += v[j + 4], f[5] += v[j + 5], f[6] += v[j + 6], f[7] += v[j + 7];
  }
  for (; j < m; j++) f[j & 7] += v[j];
}

/* Each block's sums are made in float lanes (at most BN_BLOCK / 8 terms each) and added to the
 * double lanes a and b: half the conversions, and the error of eight float additions. */
static void bn_row(const float *x, const float *g, const float *d, float *z, float *dt, float *p,
                   float sc, int64_t n, double *a, double *b) {
  float gv[BN_BLOCK], pv[BN_BLOCK];
  for (int64_t i = 0; i < n; i += BN_BLOCK) {
    int64_t m = n - i < BN_BLOCK ? n - i : BN_BLOCK;
    float fa[8] = {0}, fb[8] = {0};
    bn_block(x + i, g + i, d + i, z + i, dt + i, p + i, sc, m, gv, pv);
    lane_sum(gv, m, fa);
    lane_sum(pv, m, fb);
    for (int l = 0; l < 8; l++) a[l] += (double)fa[l], b[l] += (double)fb[l];
  }
}

static double lanes(const double *a) {
  return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

static void bn_relu_bwd(const cpu_step *s, double *ws) {
  const gs_launch *r = &s[0].l, *m1 = &s[2].l, *m2 = &s[3].l;
  const gs_shape *sh = &r->out_desc.shape;
  int64_t N = sh->dim[0], C = sh->dim[1], inner = 1;
  for (int k = 2; k < sh->rank; k++) inner *= sh->dim[k];
  int zi = z_side(m2, r->out);
  const float *x = cpu_ptr(r->in[0]), *g = cpu_ptr(r->in[2]), *d = cpu_ptr(m2->in[1 - zi]);
  const float *scale = cpu_ptr(m1->in[1]);
  float *z = cpu_ptr(r->out), *dt = cpu_ptr(m1->out), *p = cpu_ptr(m2->out);
  float *s1 = cpu_ptr(s[1].l.out), *s2 = cpu_ptr(s[4].l.out);
  /* [N, C, inner]: the images in a fixed number of chunks, each walked in memory order and summed
   * per channel into its own slot of ws; the slots are added in chunk order after, so the sums
   * do not depend on the thread count. */
  int64_t chunks = N < BN_CHUNKS ? N : BN_CHUNKS;
  double *part = ws;
  CPU_PAR_FOR(N * C * inner)
  for (int64_t ch = 0; ch < chunks; ch++) {
    double *pc = part + ch * 2 * C;
    for (int64_t c = 0; c < 2 * C; c++) pc[c] = 0.0;
    for (int64_t i = N * ch / chunks; i < N * (ch + 1) / chunks; i++)
      for (int64_t c = 0; c < C; c++) {
        double a[8] = {0}, b[8] = {0};
        int64_t o = (i * C + c) * inner;
        bn_row(x + o, g + o, d + o, z + o, dt + o, p + o, scale[c], inner, a, b);
        pc[2 * c] += lanes(a), pc[2 * c + 1] += lanes(b);
      }
  }
  for (int64_t c = 0; c < C; c++) {
    double a = 0.0, b = 0.0;
    for (int64_t ch = 0; ch < chunks; ch++)
      a += part[ch * 2 * C + 2 * c], b += part[ch * 2 * C + 2 * c + 1];
    s1[c] = (float)a, s2[c] = (float)b;
  }
}

size_t cpu_fused_ws_bytes(const cpu_step *s) {
  if (!s->fuse || s->fkind != CPU_FUSE_BN_RELU_BWD) return 0;
  const gs_shape *sh = &s->l.out_desc.shape;
  int64_t N = sh->dim[0], C = sh->dim[1];
  return (size_t)(N < BN_CHUNKS ? N : BN_CHUNKS) * 2 * (size_t)C * sizeof(double);
}

void cpu_fused_run(const cpu_step *s, void *ws) {
  switch (s->fkind) {
  case CPU_FUSE_SCALE_SHIFT: scale_shift(s); break;
  case CPU_FUSE_UPDATES: cpu_updates(s, 1 + (size_t)s->fuse); break;
  case CPU_FUSE_BN_RELU_BWD: bn_relu_bwd(s, ws); break;
  }
}
