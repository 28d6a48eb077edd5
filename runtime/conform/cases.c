/* The conformance cases: every opcode of op.h with small odd and prime shapes (never multiples of
 * a work-group size) and its attribute variants.
 *
 * NMSE bounds, per opcode (NMSE = sum (ref - got)^2 / sum ref^2):
 *   1e-7  exact or single-rounding ops: fill, expand, permute, slice, insert, gather_rows, onehot,
 *         binary, axpby, max_pool2d and its gradient, avg_pool2d and its gradient (a handful
 *         of terms), scatter_add_rows (sums of a few rows), sgd, ema, unary affine/abs/relu/square
 *   1e-6  transcendental functions (unary exp/log/sqrt/rsqrt/sigmoid/tanh/recip and their
 *         gradients; drivers may differ by a few ulp), adamw (pow and sqrt)
 *   1e-5  long accumulations whose order differs by design: reduce, dot, matmul, conv2d and its
 *         two gradients (tiled GEMM against the reference's f64/BLAS order)
 * Those bounds are far above float rounding (NMSE 1e-7 allows ~3e-4 relative error) and far
 * below any indexing mistake (a wrong element gives NMSE ~1). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conform_impl.h"

#define B_EXACT 1e-7
#define B_TRANSC 1e-6
#define B_ACCUM 1e-5

typedef struct cf_list {
  cf_case *v;
  int n, cap, oom;
} cf_list;

static cf_case *add(cf_list *L, gs_opcode op, double bound, const char *fmt, ...) {
  if (L->n == L->cap) {
    int cap = L->cap ? 2 * L->cap : 64;
    cf_case *v = realloc(L->v, (size_t)cap * sizeof *v);
    if (!v) {
      L->oom = 1;
      static cf_case sink;
      return &sink;
    }
    L->v = v;
    L->cap = cap;
  }
  cf_case *c = &L->v[L->n++];
  memset(c, 0, sizeof *c);
  c->l.op = op;
  c->alias = -1;
  c->bound = bound;
  int at = snprintf(c->label, sizeof c->label, "%s ", gs_opcode_name(op));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->label + at, sizeof c->label - (size_t)at, fmt, ap);
  va_end(ap);
  return c;
}

static void in(cf_case *c, int k, gs_shape s, cf_gen g, float lo, float hi) {
  c->l.in_desc[k].shape = s;
  c->l.in_desc[k].dtype = g == CF_INT ? GS_I32 : GS_F32;
  c->gen[k] = g;
  c->lo[k] = lo;
  c->hi[k] = hi;
  if (c->l.n_in < k + 1) c->l.n_in = k + 1;
}

static void out(cf_case *c, gs_shape s) {
  c->l.out_desc.shape = s;
  c->l.out_desc.dtype = GS_F32;
}

static const char *shp(const gs_shape *s, char *buf) { return gs_shape_str(s, buf, 64); }

static gs_shape mkshape(int rank, const int64_t *d) {
  gs_shape s = {rank, {0}};
  for (int k = 0; k < rank; k++) s.dim[k] = d[k];
  return s;
}

static void unary_cases(cf_list *L) {
  for (int fn = 0; fn < GS_UN_COUNT; fn++) {
    int transc = !(fn == GS_UN_AFFINE || fn == GS_UN_ABS || fn == GS_UN_RELU || fn == GS_UN_SQUARE);
    double b = transc ? B_TRANSC : B_EXACT;
    cf_gen g = CF_UNIFORM;
    float lo = -3, hi = 3;
    if (fn == GS_UN_LOG || fn == GS_UN_SQRT || fn == GS_UN_RSQRT) lo = 0.05f, hi = 4;
    if (fn == GS_UN_RECIP) g = CF_AWAY0, lo = 0.2f, hi = 3;
    gs_shape s = GS_SHAPE(3, 37);
    cf_case *c = add(L, GS_OP_UNARY, b, "%s [3, 37]", gs_unary_name((gs_unary)fn));
    in(c, 0, s, g, lo, hi);
    out(c, s);
    c->l.i[0] = fn;
    c->l.f[0] = 1.5f, c->l.f[1] = -0.25f;
    c = add(L, GS_OP_UNARY_BWD, b, "%s [5, 23]", gs_unary_name((gs_unary)fn));
    s = (gs_shape)GS_SHAPE(5, 23);
    in(c, 0, s, g, lo, hi);
    in(c, 1, s, CF_FORWARD, 0, 0);
    in(c, 2, s, CF_UNIFORM, -1, 1);
    out(c, s);
    c->l.i[0] = fn;
    c->l.f[0] = 1.5f, c->l.f[1] = -0.25f;
  }
  cf_case *c = add(L, GS_OP_UNARY, B_EXACT, "relu in place [7, 11]");
  in(c, 0, (gs_shape)GS_SHAPE(7, 11), CF_UNIFORM, -1, 1);
  out(c, (gs_shape)GS_SHAPE(7, 11));
  c->l.i[0] = GS_UN_RELU;
  c->alias = 0;
  c = add(L, GS_OP_UNARY, B_EXACT, "relu ties at 0 [3, 13]");
  in(c, 0, (gs_shape)GS_SHAPE(3, 13), CF_SMALLINT, -1, 1);
  out(c, (gs_shape)GS_SHAPE(3, 13));
  c->l.i[0] = GS_UN_RELU;
  c = add(L, GS_OP_UNARY_BWD, B_EXACT, "abs/relu at 0 [3, 13]");
  in(c, 0, (gs_shape)GS_SHAPE(3, 13), CF_SMALLINT, -1, 1);
  in(c, 1, (gs_shape)GS_SHAPE(3, 13), CF_FORWARD, 0, 0);
  in(c, 2, (gs_shape)GS_SHAPE(3, 13), CF_UNIFORM, -1, 1);
  out(c, (gs_shape)GS_SHAPE(3, 13));
  c->l.i[0] = GS_UN_ABS;
}

static void binary_cases(cf_list *L) {
  static const int64_t pats[][3][4] = {
      /* a, b, out (rank 3 or 4 when the 4th entry is non-zero). Innermost dims of 21 after
       * merging take whole blocks of 8 and a remainder where a backend walks them so (a
       * per-channel operand, an operand broadcast along the middle dim, one repeated along the
       * innermost). */
      {{3, 5, 7}, {3, 5, 7}, {3, 5, 7}},   {{3, 1, 7}, {1, 5, 1}, {3, 5, 7}},
      {{1, 1, 1}, {3, 5, 7}, {3, 5, 7}},   {{2, 3, 1, 5}, {2, 1, 4, 1}, {2, 3, 4, 5}},
      {{4, 3, 21}, {1, 3, 1}, {4, 3, 21}}, {{4, 1, 21}, {4, 3, 21}, {4, 3, 21}},
      {{4, 3, 1}, {1, 1, 21}, {4, 3, 21}},
  };
  const int npats = (int)(sizeof pats / sizeof pats[0]);
  char s0[64], s1[64];
  for (int op = 0; op < GS_BIN_COUNT; op++)
    for (int p = 0; p < npats; p++) {
      int rank = pats[p][2][3] ? 4 : 3;
      gs_shape a = mkshape(rank, pats[p][0]), b = mkshape(rank, pats[p][1]),
               o = mkshape(rank, pats[p][2]);
      cf_case *c = add(L, GS_OP_BINARY, B_EXACT, "%s %s (op) %s", gs_binary_name((gs_binary)op),
                       shp(&a, s0), shp(&b, s1));
      cf_gen g = (op == GS_BIN_EQ || op == GS_BIN_GT || op == GS_BIN_MAX || op == GS_BIN_MIN)
                     ? CF_SMALLINT
                     : CF_UNIFORM;
      in(c, 0, a, g, -2, 2);
      in(c, 1, b, op == GS_BIN_DIV ? CF_AWAY0 : g, op == GS_BIN_DIV ? 0.3f : -2, 2);
      out(c, o);
      c->l.i[0] = op;
    }
}

static void axpby_cases(cf_list *L) {
  const char *names[] = {"out separate", "in place on in0", "in place on in1"};
  for (int v = 0; v < 3; v++) {
    cf_case *c = add(L, GS_OP_AXPBY, B_EXACT, "%s [13, 7]", names[v]);
    in(c, 0, (gs_shape)GS_SHAPE(13, 7), CF_UNIFORM, -1, 1);
    in(c, 1, (gs_shape)GS_SHAPE(13, 7), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(13, 7));
    c->l.f[0] = 0.75f, c->l.f[1] = -1.25f;
    c->alias = v - 1;
  }
}

static void reduce_cases(cf_list *L) {
  /* Besides small odd shapes, the layouts that backends read in blocks of 8 floats, with lengths
   * that are not multiples of 8: many short rows; rows long enough to be cut into chunks; runs
   * reduced again over an outer dim (NCHW per-channel), with few and with many columns; columns
   * under an outer kept dim; many rows of few columns. */
  static const int64_t ins[][4] = {{3, 5, 7},  {2, 3, 4, 5}, {3, 1031},   {1, 1},     {67, 13},
                                   {2, 12289}, {130, 9, 19}, {3, 515, 5}, {4, 70, 9}, {200, 5}};
  static const int ranks[] = {3, 4, 2, 2, 2, 2, 3, 3, 3, 2};
  /* reduced-axis masks per input shape */
  static const int masks[][6] = {{1, 2, 4, 5, 7, 0},
                                 {10, 15, 1, 5, 0},
                                 {2, 1, 3, 0},
                                 {3, 0},
                                 {2, 0},
                                 {2, 3, 0},
                                 {5, 0},
                                 {5, 0},
                                 {2, 0},
                                 {1, 0}};
  char s0[64], s1[64];
  for (int kind = 0; kind < GS_RED_COUNT; kind++)
    for (int i = 0; i < (int)(sizeof ranks / sizeof ranks[0]); i++)
      for (int m = 0; masks[i][m]; m++) {
        gs_shape a = mkshape(ranks[i], ins[i]), o = a;
        for (int k = 0; k < a.rank; k++)
          if (masks[i][m] & (1 << k)) o.dim[k] = 1;
        static const char *kn[] = {"sum", "mean", "max"};
        cf_case *c =
            add(L, GS_OP_REDUCE, B_ACCUM, "%s %s -> %s", kn[kind], shp(&a, s0), shp(&o, s1));
        in(c, 0, a, kind == 2 && i == 0 ? CF_SMALLINT : CF_UNIFORM, -2, 2);
        out(c, o);
        c->l.i[0] = kind;
      }
}

static void copy_cases(cf_list *L) {
  char s0[64], s1[64];
  static const int64_t ex[][2][4] = {{{3, 1, 7}, {3, 5, 7}},
                                     {{1, 1}, {4, 6}},
                                     {{2, 1, 3, 1}, {2, 4, 3, 5}},
                                     {{5, 1}, {5, 13}},
                                     {{2, 1, 21}, {2, 3, 21}}};
  static const int exr[] = {3, 2, 4, 2, 3};
  for (int i = 0; i < 5; i++) {
    gs_shape a = mkshape(exr[i], ex[i][0]), o = mkshape(exr[i], ex[i][1]);
    cf_case *c = add(L, GS_OP_EXPAND, B_EXACT, "%s -> %s", shp(&a, s0), shp(&o, s1));
    in(c, 0, a, CF_UNIFORM, -1, 1);
    out(c, o);
  }
  /* The last two swap inner dims that are multiples of 8, which a backend may move in blocks. */
  static const int64_t pin[][4] = {{3, 5, 7}, {3, 5, 7},   {2, 3, 5, 7},
                                   {11, 13},  {2, 16, 24}, {8, 16}};
  static const int pr[] = {3, 3, 4, 2, 3, 2};
  static const int perm[][4] = {{2, 0, 1}, {1, 0, 2}, {3, 1, 0, 2}, {1, 0}, {0, 2, 1}, {1, 0}};
  for (int i = 0; i < 6; i++) {
    gs_shape a = mkshape(pr[i], pin[i]), o = a;
    for (int k = 0; k < a.rank; k++) o.dim[k] = a.dim[perm[i][k]];
    cf_case *c = add(L, GS_OP_PERMUTE, B_EXACT, "%s perm %d%d%d%d", shp(&a, s0), perm[i][0],
                     perm[i][1], perm[i][2], a.rank > 3 ? perm[i][3] : 0);
    in(c, 0, a, CF_UNIFORM, -1, 1);
    out(c, o);
    for (int k = 0; k < a.rank; k++) c->l.i[k] = perm[i][k];
  }
  {
    cf_case *c = add(L, GS_OP_SLICE, B_EXACT, "[7, 9, 5] start [1, 2, 0] -> [4, 5, 5]");
    in(c, 0, (gs_shape)GS_SHAPE(7, 9, 5), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(4, 5, 5));
    c->l.i[0] = 1, c->l.i[1] = 2, c->l.i[2] = 0;
    c = add(L, GS_OP_SLICE, B_EXACT, "[13, 11] start [3, 4] -> [7, 3]");
    in(c, 0, (gs_shape)GS_SHAPE(13, 11), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(7, 3));
    c->l.i[0] = 3, c->l.i[1] = 4;
    c = add(L, GS_OP_SLICE, B_EXACT, "[6, 29] start [2, 5] -> [3, 19]");
    in(c, 0, (gs_shape)GS_SHAPE(6, 29), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(3, 19));
    c->l.i[0] = 2, c->l.i[1] = 5;
    c = add(L, GS_OP_INSERT, B_EXACT, "[3, 19] into [6, 29] at [2, 5]");
    in(c, 0, (gs_shape)GS_SHAPE(3, 19), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(6, 29));
    c->l.i[0] = 2, c->l.i[1] = 5;
    c->prefill_out = 1;
    c = add(L, GS_OP_INSERT, B_EXACT, "[4, 5, 3] into [7, 9, 5] at [2, 3, 1]");
    in(c, 0, (gs_shape)GS_SHAPE(4, 5, 3), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(7, 9, 5));
    c->l.i[0] = 2, c->l.i[1] = 3, c->l.i[2] = 1;
    c->prefill_out = 1;
    c = add(L, GS_OP_INSERT, B_EXACT, "[3, 11] into [13, 11] at [10, 0]");
    in(c, 0, (gs_shape)GS_SHAPE(3, 11), CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(13, 11));
    c->l.i[0] = 10;
    c->prefill_out = 1;
  }
  static const int64_t fills[][3] = {{7, 13, 0}, {1, 0, 0}, {3, 5, 11}};
  static const int fr[] = {2, 1, 3};
  for (int i = 0; i < 3; i++) {
    gs_shape o = mkshape(fr[i], fills[i]);
    cf_case *c = add(L, GS_OP_FILL, B_EXACT, "%s = 2.5", shp(&o, s0));
    out(c, o);
    c->l.f[0] = 2.5f;
  }
  static const int64_t dots[][3] = {{1, 0, 0}, {97, 0, 0}, {1031, 0, 0}, {3, 5, 7}};
  static const int dr[] = {1, 1, 1, 3};
  for (int i = 0; i < 4; i++) {
    gs_shape a = mkshape(dr[i], dots[i]);
    cf_case *c = add(L, GS_OP_DOT, B_ACCUM, "%s . %s", shp(&a, s0), shp(&a, s1));
    in(c, 0, a, CF_UNIFORM, -1, 1);
    in(c, 1, a, CF_UNIFORM, -1, 1);
    out(c, (gs_shape)GS_SHAPE(1));
  }
}

static void matmul_cases(cf_list *L) {
  static const int64_t bp[][3] = {{1, 1, 1}, {3, 3, 3}, {1, 3, 3}, {3, 1, 3}}; /* Ba, Bb, Bt */
  static const int64_t mkn[][3] = {{5, 7, 3}, {13, 1, 11}, {33, 65, 17}};
  for (int s = 0; s < 3; s++)
    for (int p = 0; p < 4; p++)
      for (int t = 0; t < 4; t++) {
        if (s == 2 && (p != 0 || t == 3)) continue; /* the big shape once per transpose */
        int ta = t & 1, tb = t >> 1;
        int64_t M = mkn[s][0], K = mkn[s][1], N = mkn[s][2];
        cf_case *c = add(L, GS_OP_MATMUL, B_ACCUM,
                         "Ba=%lld Bb=%lld M=%lld K=%lld N=%lld ta=%d tb=%d", (long long)bp[p][0],
                         (long long)bp[p][1], (long long)M, (long long)K, (long long)N, ta, tb);
        in(c, 0, ta ? (gs_shape)GS_SHAPE(bp[p][0], K, M) : (gs_shape)GS_SHAPE(bp[p][0], M, K),
           CF_UNIFORM, -1, 1);
        in(c, 1, tb ? (gs_shape)GS_SHAPE(bp[p][1], N, K) : (gs_shape)GS_SHAPE(bp[p][1], K, N),
           CF_UNIFORM, -1, 1);
        out(c, (gs_shape)GS_SHAPE(bp[p][2], M, N));
        c->l.i[0] = ta, c->l.i[1] = tb;
      }
}

static void index_cases(cf_list *L) {
  cf_case *c = add(L, GS_OP_GATHER_ROWS, B_EXACT, "x [11, 7] idx [13] (some out of range)");
  in(c, 0, (gs_shape)GS_SHAPE(11, 7), CF_UNIFORM, -1, 1);
  in(c, 1, (gs_shape)GS_SHAPE(13), CF_INT, -2, 12);
  out(c, (gs_shape)GS_SHAPE(13, 7));
  c = add(L, GS_OP_SCATTER_ADD_ROWS, B_EXACT, "src [13, 7] idx [13] -> [11, 7] (repeats)");
  in(c, 0, (gs_shape)GS_SHAPE(13, 7), CF_UNIFORM, -1, 1);
  in(c, 1, (gs_shape)GS_SHAPE(13), CF_INT, -1, 11);
  out(c, (gs_shape)GS_SHAPE(11, 7));
  c = add(L, GS_OP_SCATTER_ADD_ROWS, B_EXACT, "src [29, 3] idx [29] -> [5, 3] (many repeats)");
  in(c, 0, (gs_shape)GS_SHAPE(29, 3), CF_UNIFORM, -1, 1);
  in(c, 1, (gs_shape)GS_SHAPE(29), CF_INT, 0, 4);
  out(c, (gs_shape)GS_SHAPE(5, 3));
  c = add(L, GS_OP_ONEHOT, B_EXACT, "labels [13] -> [13, 10]");
  in(c, 0, (gs_shape)GS_SHAPE(13), CF_INT, 0, 9);
  out(c, (gs_shape)GS_SHAPE(13, 10));
}

/* x [N, C, H, W], w [O, C, KH, KW], stride, pad */
typedef struct convspec {
  int64_t n, c, h, w, o, kh, kw;
  int sh, sw, ph, pw;
} convspec;

static void conv_cases(cf_list *L) {
  static const convspec cs[] = {{2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1},
                                {2, 3, 9, 7, 4, 3, 3, 2, 2, 0, 0},
                                {3, 5, 5, 7, 3, 1, 1, 1, 1, 0, 0},
                                {1, 2, 11, 5, 3, 3, 2, 2, 1, 1, 0},
                                {2, 1, 13, 13, 2, 5, 5, 3, 3, 2, 2},
                                /* Channel counts that make the CPU backend's oneDNN path stage
                                 * through blocked layouts (8/16 channels a block), with a
                                 * partial block and a strided 1x1 shortcut. */
                                {2, 16, 6, 6, 32, 3, 3, 1, 1, 1, 1},
                                {3, 16, 7, 7, 24, 3, 3, 2, 2, 1, 1},
                                {2, 32, 8, 8, 16, 1, 1, 2, 2, 0, 0},
                                /* 3x3, stride 1, padding 1 on rows of whole blocks of 8 pixels,
                                 * which a backend may walk a block at a time: two blocks a row,
                                 * and one block holding both edges. */
                                {2, 3, 5, 16, 4, 3, 3, 1, 1, 1, 1},
                                {1, 2, 3, 8, 3, 3, 3, 1, 1, 1, 1}};
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    const convspec *s = &cs[i];
    int64_t oh = (s->h + 2 * s->ph - s->kh) / s->sh + 1,
            ow = (s->w + 2 * s->pw - s->kw) / s->sw + 1;
    gs_shape x = GS_SHAPE(s->n, s->c, s->h, s->w), w = GS_SHAPE(s->o, s->c, s->kh, s->kw),
             y = GS_SHAPE(s->n, s->o, oh, ow);
    char lab[128];
    snprintf(lab, sizeof lab,
             "x [%lld, %lld, %lld, %lld] w [%lld, %lld, %lld, %lld] s %d,%d p %d,%d",
             (long long)s->n, (long long)s->c, (long long)s->h, (long long)s->w, (long long)s->o,
             (long long)s->c, (long long)s->kh, (long long)s->kw, s->sh, s->sw, s->ph, s->pw);
    cf_case *c = add(L, GS_OP_CONV2D, B_ACCUM, "%s", lab);
    in(c, 0, x, CF_UNIFORM, -1, 1);
    in(c, 1, w, CF_UNIFORM, -1, 1);
    out(c, y);
    int32_t at[4] = {s->sh, s->sw, s->ph, s->pw};
    memcpy(c->l.i, at, sizeof at);
    c = add(L, GS_OP_CONV2D_BWD_DATA, B_ACCUM, "%s", lab);
    in(c, 0, y, CF_UNIFORM, -1, 1);
    in(c, 1, w, CF_UNIFORM, -1, 1);
    out(c, x);
    memcpy(c->l.i, at, sizeof at);
    c = add(L, GS_OP_CONV2D_BWD_FILTER, B_ACCUM, "%s", lab);
    in(c, 0, x, CF_UNIFORM, -1, 1);
    in(c, 1, y, CF_UNIFORM, -1, 1);
    out(c, w);
    memcpy(c->l.i, at, sizeof at);
  }
}

static void pool_cases(cf_list *L) {
  /* N, C, H, W, KH, KW, sh, sw, ph, pw */
  static const int ps[][10] = {{2, 3, 9, 7, 3, 3, 2, 2, 1, 1},
                               {1, 2, 8, 6, 2, 2, 2, 2, 0, 0},
                               {2, 1, 7, 9, 3, 2, 1, 2, 1, 0},
                               {1, 3, 5, 5, 3, 3, 1, 1, 1, 1},
                               /* 2x2 windows that leave a row and a column over */
                               {2, 2, 7, 5, 2, 2, 2, 2, 0, 0},
                               /* 2x2 windows in rows of 8 or 4 (backends take 8 at a time),
                                * tiling the input exactly or leaving a row or column over */
                               {2, 3, 6, 16, 2, 2, 2, 2, 0, 0},
                               {1, 2, 8, 8, 2, 2, 2, 2, 0, 0},
                               {3, 1, 5, 17, 2, 2, 2, 2, 0, 0},
                               {1, 3, 9, 8, 2, 2, 2, 2, 0, 0}};
  for (int i = 0; i < (int)(sizeof ps / sizeof ps[0]); i++)
    for (int ties = 0; ties < 2; ties++) {
      const int *p = ps[i];
      int64_t oh = (p[2] + 2 * p[8] - p[4]) / p[6] + 1, ow = (p[3] + 2 * p[9] - p[5]) / p[7] + 1;
      gs_shape x = GS_SHAPE(p[0], p[1], p[2], p[3]), y = GS_SHAPE(p[0], p[1], oh, ow);
      char lab[128];
      snprintf(lab, sizeof lab, "x [%d, %d, %d, %d] k %d,%d s %d,%d p %d,%d%s", p[0], p[1], p[2],
               p[3], p[4], p[5], p[6], p[7], p[8], p[9], ties ? " (ties)" : "");
      cf_gen g = ties ? CF_SMALLINT : CF_UNIFORM;
      for (int op = 0; op < 4; op++) {
        static const gs_opcode ops[] = {GS_OP_MAXPOOL2D, GS_OP_MAXPOOL2D_BWD, GS_OP_AVGPOOL2D,
                                        GS_OP_AVGPOOL2D_BWD};
        if (ties && op >= 2) continue; /* ties only matter for max */
        cf_case *c = add(L, ops[op], B_EXACT, "%s", lab);
        if (ops[op] == GS_OP_MAXPOOL2D || ops[op] == GS_OP_AVGPOOL2D) {
          in(c, 0, x, g, -2, 2);
          out(c, y);
        } else if (ops[op] == GS_OP_MAXPOOL2D_BWD) {
          in(c, 0, x, g, -2, 2);
          in(c, 1, y, CF_UNIFORM, -1, 1);
          out(c, x);
        } else {
          in(c, 0, y, CF_UNIFORM, -1, 1);
          out(c, x);
        }
        for (int k = 0; k < 6; k++) c->l.i[k] = p[4 + k];
      }
    }
}

static void optim_cases(cf_list *L) {
  gs_shape s = GS_SHAPE(5, 7), one = GS_SHAPE(1);
  static const float sgd[][3] = {{0.9f, 1e-4f, 0}, {0.9f, 1e-4f, 1}, {0, 0, 0}};
  for (int i = 0; i < 3; i++) {
    cf_case *c = add(L, GS_OP_SGD, B_EXACT, "[5, 7] momentum %g wd %g nesterov %d", sgd[i][0],
                     sgd[i][1], (int)sgd[i][2]);
    in(c, 0, s, CF_UNIFORM, -1, 1);
    in(c, 1, s, CF_UNIFORM, -1, 1);
    in(c, 2, s, CF_UNIFORM, -0.5f, 0.5f);
    in(c, 3, one, CF_UNIFORM, 0.05f, 0.1f);
    out(c, s);
    c->alias = 0;
    c->written[2] = 1;
    c->l.f[0] = sgd[i][0], c->l.f[1] = sgd[i][1];
    c->l.i[0] = (int)sgd[i][2];
  }
  cf_case *c = add(L, GS_OP_ADAMW, B_TRANSC, "[5, 7] b1 0.9 b2 0.999 eps 1e-8 wd 0.01 t 3");
  in(c, 0, s, CF_UNIFORM, -1, 1);
  in(c, 1, s, CF_UNIFORM, -1, 1);
  in(c, 2, s, CF_UNIFORM, -0.1f, 0.1f);
  in(c, 3, s, CF_UNIFORM, 0.001f, 0.01f);
  in(c, 4, one, CF_UNIFORM, 0.001f, 0.01f);
  in(c, 5, one, CF_SMALLINT, 3, 3);
  out(c, s);
  c->alias = 0;
  c->written[2] = c->written[3] = 1;
  c->l.f[0] = 0.9f, c->l.f[1] = 0.999f, c->l.f[2] = 1e-8f, c->l.f[3] = 0.01f;
  c = add(L, GS_OP_EMA, B_EXACT, "[13, 3] m 0.99");
  in(c, 0, (gs_shape)GS_SHAPE(13, 3), CF_UNIFORM, -1, 1);
  in(c, 1, (gs_shape)GS_SHAPE(13, 3), CF_UNIFORM, -1, 1);
  in(c, 2, one, CF_UNIFORM, 0.99f, 0.99f);
  out(c, (gs_shape)GS_SHAPE(13, 3));
  c->alias = 0;
}

int cf_make_cases(cf_case **cases) {
  cf_list L = {0};
  copy_cases(&L);
  unary_cases(&L);
  binary_cases(&L);
  axpby_cases(&L);
  reduce_cases(&L);
  matmul_cases(&L);
  index_cases(&L);
  conv_cases(&L);
  pool_cases(&L);
  optim_cases(&L);
  if (L.oom) {
    free(L.v);
    return -1;
  }
  *cases = L.v;
  return L.n;
}

/* ---- multi-launch programs ---- */

static int tensor(cf_chain *ch, gs_shape s, int input, cf_gen g, float lo, float hi) {
  int t = ch->nt++;
  ch->t[t].shape = s;
  ch->t[t].dtype = GS_F32;
  ch->input[t] = input;
  ch->gen[t] = g;
  ch->lo[t] = lo;
  ch->hi[t] = hi;
  return t;
}

static gs_launch *launch(cf_chain *ch, gs_opcode op, int outt, int n_in, const int *ins) {
  int i = ch->nl++;
  gs_launch *l = &ch->l[i];
  memset(l, 0, sizeof *l);
  l->op = op;
  l->n_in = n_in;
  for (int k = 0; k < n_in; k++) ch->lin[i][k] = ins[k];
  ch->lout[i] = outt;
  return l;
}

int cf_make_chains(cf_chain **chains) {
  cf_chain *v = calloc(8, sizeof *v);
  if (!v) return -1;
  /* A small MLP-like chain: matmul -> relu -> column sums -> broadcast subtract -> dot, then an
   * in-place update of a tensor an earlier launch read (write after read). */
  cf_chain *ch = &v[0];
  snprintf(ch->label, sizeof ch->label, "matmul>relu>reduce>expand>sub>dot>axpby-in-place");
  ch->bound = B_ACCUM;
  int X = tensor(ch, (gs_shape)GS_SHAPE(1, 7, 5), 1, CF_UNIFORM, -1, 1);
  int W = tensor(ch, (gs_shape)GS_SHAPE(1, 5, 3), 1, CF_UNIFORM, -1, 1);
  int H = tensor(ch, (gs_shape)GS_SHAPE(1, 7, 3), 0, CF_UNIFORM, 0, 0);
  int R = tensor(ch, (gs_shape)GS_SHAPE(1, 7, 3), 0, CF_UNIFORM, 0, 0);
  int S = tensor(ch, (gs_shape)GS_SHAPE(1, 1, 3), 0, CF_UNIFORM, 0, 0);
  int E = tensor(ch, (gs_shape)GS_SHAPE(1, 7, 3), 0, CF_UNIFORM, 0, 0);
  int D = tensor(ch, (gs_shape)GS_SHAPE(1, 7, 3), 0, CF_UNIFORM, 0, 0);
  int Q = tensor(ch, (gs_shape)GS_SHAPE(1), 0, CF_UNIFORM, 0, 0);
  launch(ch, GS_OP_MATMUL, H, 2, (int[]){X, W});
  launch(ch, GS_OP_UNARY, R, 1, (int[]){H})->i[0] = GS_UN_RELU;
  launch(ch, GS_OP_REDUCE, S, 1, (int[]){R})->i[0] = GS_RED_MEAN;
  launch(ch, GS_OP_EXPAND, E, 1, (int[]){S});
  launch(ch, GS_OP_BINARY, D, 2, (int[]){R, E})->i[0] = GS_BIN_SUB;
  launch(ch, GS_OP_DOT, Q, 2, (int[]){D, D});
  gs_launch *l = launch(ch, GS_OP_AXPBY, H, 2, (int[]){H, D});
  l->f[0] = 0.5f, l->f[1] = 2.0f;

  /* A conv training step: conv -> relu in place -> max pool -> its gradient -> filter gradient
   * -> SGD on the filter the first launch read. */
  ch = &v[1];
  snprintf(ch->label, sizeof ch->label, "conv2d>relu>maxpool>maxpool_bwd>conv_bwd_filter>sgd");
  ch->bound = B_ACCUM;
  int x = tensor(ch, (gs_shape)GS_SHAPE(2, 3, 9, 9), 1, CF_UNIFORM, -1, 1);
  int w = tensor(ch, (gs_shape)GS_SHAPE(4, 3, 3, 3), 1, CF_UNIFORM, -1, 1);
  int y = tensor(ch, (gs_shape)GS_SHAPE(2, 4, 9, 9), 0, CF_UNIFORM, 0, 0);
  int p = tensor(ch, (gs_shape)GS_SHAPE(2, 4, 4, 4), 0, CF_UNIFORM, 0, 0);
  int dy = tensor(ch, (gs_shape)GS_SHAPE(2, 4, 9, 9), 0, CF_UNIFORM, 0, 0);
  int dw = tensor(ch, (gs_shape)GS_SHAPE(4, 3, 3, 3), 0, CF_UNIFORM, 0, 0);
  int mom = tensor(ch, (gs_shape)GS_SHAPE(4, 3, 3, 3), 1, CF_UNIFORM, -0.1f, 0.1f);
  int lr = tensor(ch, (gs_shape)GS_SHAPE(1), 1, CF_UNIFORM, 0.01f, 0.02f);
  ch->written[w] = ch->written[mom] = 1;
  l = launch(ch, GS_OP_CONV2D, y, 2, (int[]){x, w});
  l->i[0] = l->i[1] = l->i[2] = l->i[3] = 1;
  launch(ch, GS_OP_UNARY, y, 1, (int[]){y})->i[0] = GS_UN_RELU;
  l = launch(ch, GS_OP_MAXPOOL2D, p, 1, (int[]){y});
  l->i[0] = l->i[1] = l->i[2] = l->i[3] = 2;
  l = launch(ch, GS_OP_MAXPOOL2D_BWD, dy, 2, (int[]){y, p});
  l->i[0] = l->i[1] = l->i[2] = l->i[3] = 2;
  l = launch(ch, GS_OP_CONV2D_BWD_FILTER, dw, 2, (int[]){x, dy});
  l->i[0] = l->i[1] = l->i[2] = l->i[3] = 1;
  l = launch(ch, GS_OP_SGD, w, 4, (int[]){w, dw, mom, lr});
  l->f[0] = 0.9f;

  /* Batch norm's apply: per-channel scale, shift, ReLU (the CPU backend fuses these into one
   * pass; every intermediate must still be written). */
  ch = &v[2];
  snprintf(ch->label, sizeof ch->label, "mul>add>relu per channel");
  ch->bound = B_EXACT;
  X = tensor(ch, (gs_shape)GS_SHAPE(3, 5, 4, 6), 1, CF_UNIFORM, -1, 1);
  S = tensor(ch, (gs_shape)GS_SHAPE(1, 5, 1, 1), 1, CF_UNIFORM, -2, 2);
  int B = tensor(ch, (gs_shape)GS_SHAPE(1, 5, 1, 1), 1, CF_UNIFORM, -1, 1);
  int T = tensor(ch, (gs_shape)GS_SHAPE(3, 5, 4, 6), 0, CF_UNIFORM, 0, 0);
  int U = tensor(ch, (gs_shape)GS_SHAPE(3, 5, 4, 6), 0, CF_UNIFORM, 0, 0);
  R = tensor(ch, (gs_shape)GS_SHAPE(3, 5, 4, 6), 0, CF_UNIFORM, 0, 0);
  launch(ch, GS_OP_BINARY, T, 2, (int[]){X, S})->i[0] = GS_BIN_MUL;
  launch(ch, GS_OP_BINARY, U, 2, (int[]){T, B})->i[0] = GS_BIN_ADD;
  launch(ch, GS_OP_UNARY, R, 1, (int[]){U})->i[0] = GS_UN_RELU;

  /* The same on [N, C] rows, shift in place, then a launch other than ReLU. */
  ch = &v[3];
  snprintf(ch->label, sizeof ch->label, "mul>add-in-place>square per channel [N, C]");
  ch->bound = B_EXACT;
  X = tensor(ch, (gs_shape)GS_SHAPE(7, 9), 1, CF_UNIFORM, -1, 1);
  S = tensor(ch, (gs_shape)GS_SHAPE(1, 9), 1, CF_UNIFORM, -2, 2);
  B = tensor(ch, (gs_shape)GS_SHAPE(1, 9), 1, CF_UNIFORM, -1, 1);
  T = tensor(ch, (gs_shape)GS_SHAPE(7, 9), 0, CF_UNIFORM, 0, 0);
  R = tensor(ch, (gs_shape)GS_SHAPE(7, 9), 0, CF_UNIFORM, 0, 0);
  launch(ch, GS_OP_BINARY, T, 2, (int[]){X, S})->i[0] = GS_BIN_MUL;
  launch(ch, GS_OP_BINARY, T, 2, (int[]){T, B})->i[0] = GS_BIN_ADD;
  launch(ch, GS_OP_UNARY, R, 1, (int[]){T})->i[0] = GS_UN_SQUARE;

  /* Batch norm's backward pass through a ReLU: the ReLU's gradient, its per-channel sum, its
   * product with the per-channel scale and with the centred input, and that product's sum (the
   * CPU backend runs these as one pass; every intermediate must still be written). */
  ch = &v[4];
  snprintf(ch->label, sizeof ch->label, "relu_bwd>sum>mul>mul>sum per channel");
  ch->bound = B_EXACT;
  gs_shape nchw = GS_SHAPE(3, 5, 8, 6), c1 = GS_SHAPE(1, 5, 1, 1);
  int Ux = tensor(ch, nchw, 1, CF_UNIFORM, -1, 1);
  int Uy = tensor(ch, nchw, 1, CF_UNIFORM, 0, 1);
  int G = tensor(ch, nchw, 1, CF_UNIFORM, -1, 1);
  int Dc = tensor(ch, nchw, 1, CF_UNIFORM, -1, 1);
  S = tensor(ch, c1, 1, CF_UNIFORM, -2, 2);
  int Z = tensor(ch, nchw, 0, CF_UNIFORM, 0, 0);
  int S1 = tensor(ch, c1, 0, CF_UNIFORM, 0, 0);
  int Dt = tensor(ch, nchw, 0, CF_UNIFORM, 0, 0);
  int S2 = tensor(ch, c1, 0, CF_UNIFORM, 0, 0);
  launch(ch, GS_OP_UNARY_BWD, Z, 3, (int[]){Ux, Uy, G})->i[0] = GS_UN_RELU;
  launch(ch, GS_OP_REDUCE, S1, 1, (int[]){Z})->i[0] = GS_RED_SUM;
  launch(ch, GS_OP_BINARY, Dt, 2, (int[]){Z, S})->i[0] = GS_BIN_MUL;
  launch(ch, GS_OP_BINARY, Dc, 2, (int[]){Dc, Z})->i[0] = GS_BIN_MUL; /* in place over d */
  launch(ch, GS_OP_REDUCE, S2, 1, (int[]){Dc})->i[0] = GS_RED_SUM;
  ch->written[Dc] = 1;

  /* The same with the gradient in place over dy, the product's operands the other way round,
   * and rows of 40 per channel (a block and a tail). */
  ch = &v[5];
  snprintf(ch->label, sizeof ch->label, "relu_bwd-in-place>sum>mul>mul>sum per channel");
  ch->bound = B_EXACT;
  gs_shape nc = GS_SHAPE(5, 150, 8, 5), c2 = GS_SHAPE(1, 150, 1, 1);
  Ux = tensor(ch, nc, 1, CF_UNIFORM, -1, 1);
  Uy = tensor(ch, nc, 1, CF_UNIFORM, 0, 1);
  G = tensor(ch, nc, 1, CF_UNIFORM, -1, 1);
  Dc = tensor(ch, nc, 1, CF_UNIFORM, -1, 1);
  S = tensor(ch, c2, 1, CF_UNIFORM, -2, 2);
  S1 = tensor(ch, c2, 0, CF_UNIFORM, 0, 0);
  Dt = tensor(ch, nc, 0, CF_UNIFORM, 0, 0);
  R = tensor(ch, nc, 0, CF_UNIFORM, 0, 0);
  S2 = tensor(ch, c2, 0, CF_UNIFORM, 0, 0);
  launch(ch, GS_OP_UNARY_BWD, G, 3, (int[]){Ux, Uy, G})->i[0] = GS_UN_RELU;
  launch(ch, GS_OP_REDUCE, S1, 1, (int[]){G})->i[0] = GS_RED_SUM;
  launch(ch, GS_OP_BINARY, Dt, 2, (int[]){G, S})->i[0] = GS_BIN_MUL;
  launch(ch, GS_OP_BINARY, R, 2, (int[]){G, Dc})->i[0] = GS_BIN_MUL;
  launch(ch, GS_OP_REDUCE, S2, 1, (int[]){R})->i[0] = GS_RED_SUM;
  ch->written[G] = 1;

  /* Three SGD updates in a row (the CPU backend runs them as one pass over all three; the
   * largest is split across threads), one with Nesterov momentum. */
  ch = &v[6];
  snprintf(ch->label, sizeof ch->label, "sgd>sgd>sgd on three parameters");
  ch->bound = B_EXACT;
  static const int64_t sz[3] = {135, 19500, 7};
  int lr1 = tensor(ch, (gs_shape)GS_SHAPE(1), 1, CF_UNIFORM, 0.01f, 0.02f);
  for (int k = 0; k < 3; k++) {
    gs_shape ps = GS_SHAPE(sz[k]);
    int pw = tensor(ch, ps, 1, CF_UNIFORM, -1, 1);
    int pg = tensor(ch, ps, 1, CF_UNIFORM, -1, 1);
    int pm = tensor(ch, ps, 1, CF_UNIFORM, -0.1f, 0.1f);
    ch->written[pw] = ch->written[pm] = 1;
    l = launch(ch, GS_OP_SGD, pw, 4, (int[]){pw, pg, pm, lr1});
    l->f[0] = 0.9f, l->f[1] = k == 1 ? 5e-4f : 0.0f, l->i[0] = k == 2;
  }

  /* EMA of two parameters, then an SGD whose gradient is the first EMA's target: the SGD must
   * see the target after the EMA wrote it, so it cannot share their pass. */
  ch = &v[7];
  snprintf(ch->label, sizeof ch->label, "ema>ema>sgd reading the first ema's target");
  ch->bound = B_EXACT;
  gs_shape es = GS_SHAPE(20000);
  int Et = tensor(ch, es, 1, CF_UNIFORM, -1, 1);
  int Eo = tensor(ch, es, 1, CF_UNIFORM, -1, 1);
  int Ft = tensor(ch, (gs_shape)GS_SHAPE(9), 1, CF_UNIFORM, -1, 1);
  int Fo = tensor(ch, (gs_shape)GS_SHAPE(9), 1, CF_UNIFORM, -1, 1);
  int Em = tensor(ch, (gs_shape)GS_SHAPE(1), 1, CF_UNIFORM, 0.5f, 0.6f);
  int Sw = tensor(ch, es, 1, CF_UNIFORM, -1, 1);
  int Sm = tensor(ch, es, 1, CF_UNIFORM, -0.1f, 0.1f);
  int Sl = tensor(ch, (gs_shape)GS_SHAPE(1), 1, CF_UNIFORM, 0.5f, 1.0f);
  ch->written[Et] = ch->written[Ft] = ch->written[Sw] = ch->written[Sm] = 1;
  launch(ch, GS_OP_EMA, Et, 3, (int[]){Et, Eo, Em});
  launch(ch, GS_OP_EMA, Ft, 3, (int[]){Ft, Fo, Em});
  launch(ch, GS_OP_SGD, Sw, 4, (int[]){Sw, Et, Sm, Sl})->f[0] = 0.9f;
  *chains = v;
  return 8;
}
