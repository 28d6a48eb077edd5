/* The CPU backend plugin, launch by launch, against naive loops that accumulate in double.
 *
 * The plugin is dlopen'ed from the path given as argv[1], exactly as the runtime loads it. Every
 * operand lives in its own buffer at a nonzero offset between guard words; after each launch the
 * guards must be intact and the inputs unchanged (except those written in place). Shapes are
 * small, odd and prime so no kernel can rely on a vector width or a tile size. */
#include "cpu_test_harness.h"
#include "test_host.h"

#include <dlfcn.h>

/* ---- elementwise ---- */

static double un_f(int fn, double x, float a, float c) {
  switch (fn) {
  case GS_UN_AFFINE: return a * x + c;
  case GS_UN_EXP: return exp(x);
  case GS_UN_LOG: return log(x);
  case GS_UN_SQRT: return sqrt(x);
  case GS_UN_RSQRT: return 1 / sqrt(x);
  case GS_UN_SQUARE: return x * x;
  case GS_UN_ABS: return fabs(x);
  case GS_UN_RELU: return x > 0 ? x : 0;
  case GS_UN_SIGMOID: return 1 / (1 + exp(-x));
  case GS_UN_TANH: return tanh(x);
  case GS_UN_RECIP: return 1 / x;
  }
  return 0;
}
static double un_df(int fn, double x, double y, double dy, float a) {
  switch (fn) {
  case GS_UN_AFFINE: return a * dy;
  case GS_UN_EXP: return dy * y;
  case GS_UN_LOG: return dy / x;
  case GS_UN_SQRT: return dy * 0.5 / y;
  case GS_UN_RSQRT: return -0.5 * dy * y * y * y;
  case GS_UN_SQUARE: return 2 * x * dy;
  case GS_UN_ABS: return x > 0 ? dy : x < 0 ? -dy : 0;
  case GS_UN_RELU: return x > 0 ? dy : 0;
  case GS_UN_SIGMOID: return dy * y * (1 - y);
  case GS_UN_TANH: return dy * (1 - y * y);
  case GS_UN_RECIP: return -dy * y * y;
  }
  return 0;
}

static void test_fill(void) {
  gs_launch l = mk(GS_OP_FILL, 0);
  l.out_desc = td(GS_SHAPE(7, 13));
  l.f[0] = 3.25f;
  float *o = frandv(91, -1, 1);
  run(&l, NULL, o, -1, 0);
  double *r = dalloc(91);
  for (int i = 0; i < 91; i++) r[i] = 3.25;
  expect_close("fill", o, r, 91);
  l.out_desc = tdi(GS_SHAPE(5));
  l.f[0] = 7;
  int32_t oi[5] = {0};
  run(&l, NULL, oi, -1, 0);
  CHECK(oi[0] == 7 && oi[4] == 7);
  free(o), free(r);
}

static void test_unary(void) {
  const int64_t sizes[] = {1, 37, 20011};
  for (int fn = 0; fn < GS_UN_COUNT; fn++)
    for (int si = 0; si < 3; si++)
      for (int inplace = 0; inplace < 2; inplace++) {
        int64_t n = sizes[si];
        int pos = fn == GS_UN_LOG || fn == GS_UN_SQRT || fn == GS_UN_RSQRT || fn == GS_UN_RECIP;
        float *x = frandv(n, pos ? 0.5f : -2.0f, 2.0f), *y = frandv(n, 0, 1);
        if (n > 1 && fn == GS_UN_ABS) x[0] = 0.0f;
        double *r = dalloc(n);
        gs_launch l = mk(GS_OP_UNARY, 1);
        l.in_desc[0] = l.out_desc = td(GS_SHAPE(n));
        l.i[0] = fn, l.f[0] = 1.5f, l.f[1] = -0.25f;
        for (int64_t i = 0; i < n; i++) r[i] = un_f(fn, x[i], l.f[0], l.f[1]);
        float *xin = malloc((size_t)n * 4);
        memcpy(xin, x, (size_t)n * 4);
        void *ins[1] = {xin};
        run(&l, ins, y, inplace ? 0 : -1, 0);
        char what[64];
        snprintf(what, sizeof what, "unary %d n=%lld%s", fn, (long long)n,
                 inplace ? " in place" : "");
        expect_close(what, y, r, n);

        /* backward, with y the forward output */
        float *yy = malloc((size_t)n * 4), *dy = frandv(n, -1, 1), *dx = frandv(n, 0, 1);
        for (int64_t i = 0; i < n; i++) yy[i] = (float)un_f(fn, x[i], l.f[0], l.f[1]);
        for (int64_t i = 0; i < n; i++) r[i] = un_df(fn, x[i], yy[i], dy[i], l.f[0]);
        gs_launch lb = mk(GS_OP_UNARY_BWD, 3);
        lb.in_desc[0] = lb.in_desc[1] = lb.in_desc[2] = lb.out_desc = td(GS_SHAPE(n));
        lb.i[0] = fn, lb.f[0] = 1.5f, lb.f[1] = -0.25f;
        void *bins[3] = {x, yy, dy};
        run(&lb, bins, dx, -1, 0);
        snprintf(what, sizeof what, "unary_bwd %d n=%lld", fn, (long long)n);
        expect_close(what, dx, r, n);
        free(x), free(xin), free(y), free(yy), free(dy), free(dx), free(r);
      }
}

static double bin_f(int op, double a, double b) {
  switch (op) {
  case GS_BIN_ADD: return a + b;
  case GS_BIN_SUB: return a - b;
  case GS_BIN_MUL: return a * b;
  case GS_BIN_DIV: return a / b;
  case GS_BIN_MAX: return a > b ? a : b;
  case GS_BIN_MIN: return a < b ? a : b;
  case GS_BIN_EQ: return a == b;
  case GS_BIN_GT: return a > b;
  }
  return 0;
}

static void binary_case(int op, gs_shape os, gs_shape as, gs_shape bs) {
  int64_t n = gs_shape_numel(&os), na = gs_shape_numel(&as), nb = gs_shape_numel(&bs);
  float *a = frandv(na, -2, 2), *b = frandv(nb, 0.5f, 2), *o = frandv(n, 0, 1);
  /* quarter steps so EQ/MAX/MIN meet ties */
  for (int64_t i = 0; i < na; i++) a[i] = roundf(a[i] * 4) / 4;
  for (int64_t i = 0; i < nb; i++) b[i] = (rnd() & 1 ? 1 : -1) * roundf(b[i] * 4) / 4;
  double *r = dalloc(n);
  int64_t ix[GS_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(&os, i, ix);
    r[i] = bin_f(op, a[ravel_b(&as, ix)], b[ravel_b(&bs, ix)]);
  }
  gs_launch l = mk(GS_OP_BINARY, 2);
  l.in_desc[0] = td(as), l.in_desc[1] = td(bs), l.out_desc = td(os);
  l.i[0] = op;
  void *ins[2] = {a, b};
  run(&l, ins, o, -1, 0);
  char what[64];
  snprintf(what, sizeof what, "binary %d rank %d n=%lld", op, os.rank, (long long)n);
  expect_close(what, o, r, n);
  free(a), free(b), free(o), free(r);
}

static void test_binary(void) {
  for (int op = 0; op < GS_BIN_COUNT; op++) {
    for (int t = 0; t < 12; t++) {
      int rank = 1 + (int)(rnd() % 4);
      gs_shape os = rshape(rank), as = os, bs = os;
      for (int k = 0; k < rank; k++) {
        if (rnd() % 3 == 0) as.dim[k] = 1;
        if (rnd() % 3 == 0) bs.dim[k] = 1;
      }
      binary_case(op, os, as, bs);
    }
    binary_case(op, GS_SHAPE(20011), GS_SHAPE(20011), GS_SHAPE(20011));
    binary_case(op, GS_SHAPE(20011), GS_SHAPE(20011), GS_SHAPE(1));
    binary_case(op, GS_SHAPE(20011), GS_SHAPE(1), GS_SHAPE(20011));
    binary_case(op, GS_SHAPE(131, 157), GS_SHAPE(131, 1), GS_SHAPE(1, 157));
    binary_case(op, GS_SHAPE(3, 37, 5, 29), GS_SHAPE(3, 37, 5, 29), GS_SHAPE(1, 37, 1, 1));
    binary_case(op, GS_SHAPE(1, 1), GS_SHAPE(1, 1), GS_SHAPE(1, 1));
    binary_case(op, (gs_shape){0, {0}}, (gs_shape){0, {0}}, (gs_shape){0, {0}}); /* scalars */
  }
}

static void test_axpby(void) {
  for (int alias = -1; alias < 2; alias++) {
    int64_t n = alias == 0 ? 20011 : 97;
    float *x = frandv(n, -1, 1), *y = frandv(n, -1, 1), *o = frandv(n, -1, 1);
    double *r = dalloc(n);
    for (int64_t i = 0; i < n; i++) r[i] = 0.75 * x[i] - 1.5 * y[i];
    gs_launch l = mk(GS_OP_AXPBY, 2);
    l.in_desc[0] = l.in_desc[1] = l.out_desc = td(GS_SHAPE(n));
    l.f[0] = 0.75f, l.f[1] = -1.5f;
    void *ins[2] = {x, y};
    run(&l, ins, o, alias, 0);
    expect_close(alias < 0 ? "axpby" : alias == 0 ? "axpby out=in0" : "axpby out=in1", o, r, n);
    free(x), free(y), free(o), free(r);
  }
}

static void test_expand(void) {
  for (int t = 0; t < 20; t++) {
    int rank = 1 + (int)(rnd() % 5);
    gs_shape os = rshape(rank), is = os;
    for (int k = 0; k < rank; k++)
      if (rnd() % 2) is.dim[k] = 1;
    int64_t n = gs_shape_numel(&os), ni = gs_shape_numel(&is);
    float *x = frandv(ni, -1, 1), *o = frandv(n, -1, 1);
    double *r = dalloc(n);
    int64_t ix[GS_MAX_RANK];
    for (int64_t i = 0; i < n; i++) unravel(&os, i, ix), r[i] = x[ravel_b(&is, ix)];
    gs_launch l = mk(GS_OP_EXPAND, 1);
    l.in_desc[0] = td(is), l.out_desc = td(os);
    void *ins[1] = {x};
    run(&l, ins, o, -1, 0);
    expect_close("expand", o, r, n);
    free(x), free(o), free(r);
  }
}

/* ---- reductions ---- */

static void reduce_case(int kind, gs_shape is, unsigned mask) {
  gs_shape os = is;
  for (int k = 0; k < is.rank; k++)
    if (mask >> k & 1) os.dim[k] = 1;
  int64_t n = gs_shape_numel(&is), no = gs_shape_numel(&os);
  float *x = frandv(n, -1, 1), *o = frandv(no, 0, 1);
  double *r = dalloc(no);
  int64_t *cnt = calloc((size_t)no, sizeof *cnt), ix[GS_MAX_RANK];
  for (int64_t i = 0; i < no; i++) r[i] = kind == GS_RED_MAX ? -INFINITY : 0;
  for (int64_t i = 0; i < n; i++) {
    unravel(&is, i, ix);
    int64_t j = ravel_b(&os, ix);
    cnt[j]++;
    if (kind == GS_RED_MAX)
      r[j] = x[i] > r[j] ? x[i] : r[j];
    else
      r[j] += x[i];
  }
  if (kind == GS_RED_MEAN)
    for (int64_t i = 0; i < no; i++) r[i] /= (double)cnt[i];
  gs_launch l = mk(GS_OP_REDUCE, 1);
  l.in_desc[0] = td(is), l.out_desc = td(os), l.i[0] = kind;
  void *ins[1] = {x};
  run(&l, ins, o, -1, 0);
  char what[80];
  snprintf(what, sizeof what, "reduce kind %d rank %d mask %#x n=%lld", kind, is.rank, mask,
           (long long)n);
  expect_close(what, o, r, no);
  free(x), free(o), free(r), free(cnt);
}

static void test_reduce(void) {
  for (int kind = 0; kind < GS_RED_COUNT; kind++) {
    for (int t = 0; t < 25; t++) {
      int rank = 1 + (int)(rnd() % 5);
      reduce_case(kind, rshape(rank), rnd() % (1u << rank));
    }
    reduce_case(kind, GS_SHAPE(64, 301), 1);
    reduce_case(kind, GS_SHAPE(64, 301), 2);
    reduce_case(kind, GS_SHAPE(64, 301), 3);
    reduce_case(kind, GS_SHAPE(3, 50, 40, 7), 0xd);
    reduce_case(kind, GS_SHAPE(3, 50, 40, 7), 0x2);
    reduce_case(kind, GS_SHAPE(5, 7, 3, 11, 2), 0x15);
    reduce_case(kind, GS_SHAPE(5, 2, 3001), 0x5); /* few outputs, long reductions */
    reduce_case(kind, GS_SHAPE(40009), 0x1);
    reduce_case(kind, (gs_shape){0, {0}}, 0);
  }
}

static void test_dot(void) {
  const int64_t sizes[] = {1, 17, 40009};
  for (int s = 0; s < 3; s++) {
    int64_t n = sizes[s];
    float *a = frandv(n, -1, 1), *b = frandv(n, -1, 1), o = 0;
    double r = 0;
    for (int64_t i = 0; i < n; i++) r += (double)a[i] * b[i];
    gs_launch l = mk(GS_OP_DOT, 2);
    l.in_desc[0] = l.in_desc[1] = td(GS_SHAPE(n)), l.out_desc = td(GS_SHAPE(1));
    void *ins[2] = {a, b};
    run(&l, ins, &o, -1, 0);
    CHECKF(fabs(o - r) <= TOL * (fabs(r) > 1 ? fabs(r) : 1), "dot n=%lld: %g vs %g", (long long)n,
           o, r);
    free(a), free(b);
  }
}

/* ---- data movement ---- */

static void permute_case(gs_shape is, const int *perm, gs_dtype dt) {
  gs_shape os = is;
  for (int k = 0; k < is.rank; k++) os.dim[k] = is.dim[perm[k]];
  int64_t n = gs_shape_numel(&is);
  float *x = frandv(n, -1, 1), *o = frandv(n, 0, 1);
  double *r = dalloc(n);
  int64_t ix[GS_MAX_RANK], jx[GS_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(&os, i, ix);
    for (int k = 0; k < is.rank; k++) jx[perm[k]] = ix[k];
    r[i] = x[ravel_b(&is, jx)];
  }
  gs_launch l = mk(GS_OP_PERMUTE, 1);
  l.in_desc[0] = (gs_tdesc){dt, is}, l.out_desc = (gs_tdesc){dt, os};
  for (int k = 0; k < is.rank; k++) l.i[k] = perm[k];
  void *ins[1] = {x};
  run(&l, ins, o, -1, 0);
  expect_close("permute", o, r, n);
  free(x), free(o), free(r);
}

static void test_permute(void) {
  for (int t = 0; t < 30; t++) {
    int rank = 1 + (int)(rnd() % 5), perm[GS_MAX_RANK];
    for (int k = 0; k < rank; k++) perm[k] = k;
    for (int k = rank - 1; k > 0; k--) {
      int j = (int)(rnd() % (unsigned)(k + 1)), tmp = perm[k];
      perm[k] = perm[j], perm[j] = tmp;
    }
    permute_case(rshape(rank), perm, GS_F32);
  }
  permute_case(GS_SHAPE(137, 153), (int[]){1, 0}, GS_F32);
  permute_case(GS_SHAPE(3, 67, 33), (int[]){0, 2, 1}, GS_I32);
  permute_case(GS_SHAPE(6, 7, 11, 13), (int[]){3, 2, 1, 0}, GS_F32);
  permute_case(GS_SHAPE(6, 7, 11, 13), (int[]){0, 2, 3, 1}, GS_F32);
}

static void test_slice_insert(void) {
  for (int t = 0; t < 30; t++) {
    int rank = 1 + (int)(rnd() % 4);
    gs_shape whole = rshape(rank), win = whole;
    int32_t start[GS_MAX_RANK];
    for (int k = 0; k < rank; k++) {
      win.dim[k] = 1 + rnd() % whole.dim[k];
      start[k] = (int32_t)(rnd() % (whole.dim[k] - win.dim[k] + 1));
    }
    int64_t nw = gs_shape_numel(&win), nh = gs_shape_numel(&whole);
    float *h = frandv(nh, -1, 1), *w = frandv(nw, -1, 1), *o = frandv(nw, 0, 1);
    double *r = dalloc(nh > nw ? nh : nw);
    int64_t ix[GS_MAX_RANK];
    for (int64_t i = 0; i < nw; i++) {
      unravel(&win, i, ix);
      for (int k = 0; k < rank; k++) ix[k] += start[k];
      r[i] = h[ravel_b(&whole, ix)];
    }
    gs_launch l = mk(GS_OP_SLICE, 1);
    l.in_desc[0] = td(whole), l.out_desc = td(win);
    for (int k = 0; k < rank; k++) l.i[k] = start[k];
    void *ins[1] = {h};
    run(&l, ins, o, -1, 0);
    expect_close("slice", o, r, nw);

    /* insert w into a copy of h: the rest of h stays */
    float *dst = malloc((size_t)nh * 4);
    memcpy(dst, h, (size_t)nh * 4);
    for (int64_t i = 0; i < nh; i++) r[i] = h[i];
    for (int64_t i = 0; i < nw; i++) {
      unravel(&win, i, ix);
      for (int k = 0; k < rank; k++) ix[k] += start[k];
      r[ravel_b(&whole, ix)] = w[i];
    }
    gs_launch li = mk(GS_OP_INSERT, 1);
    li.in_desc[0] = td(win), li.out_desc = td(whole);
    for (int k = 0; k < rank; k++) li.i[k] = start[k];
    void *iins[1] = {w};
    run(&li, iins, dst, -1, 0);
    expect_close("insert", dst, r, nh);
    free(h), free(w), free(o), free(r), free(dst);
  }
}

static void test_rows(void) {
  const int64_t R = 11, D = 37, N = 23;
  float *x = frandv(R * D, -1, 1), *src = frandv(N * D, -1, 1);
  int32_t idx[23];
  for (int n = 0; n < N; n++) idx[n] = (int32_t)(rnd() % (R + 4)) - 2; /* some out of range */
  idx[0] = 3, idx[1] = 3;                                              /* a shared row */
  float *o = frandv(N * D, 0, 1), *so = frandv(R * D, 0, 1);
  double *r = dalloc(N * D), *sr = dalloc(R * D);
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) {
      int ok = idx[n] >= 0 && idx[n] < R;
      r[n * D + d] = ok ? x[idx[n] * D + d] : 0;
      if (ok) sr[idx[n] * D + d] += src[n * D + d];
    }
  gs_launch l = mk(GS_OP_GATHER_ROWS, 2);
  l.in_desc[0] = td(GS_SHAPE(R, D)), l.in_desc[1] = tdi(GS_SHAPE(N)),
  l.out_desc = td(GS_SHAPE(N, D));
  void *ins[2] = {x, idx};
  run(&l, ins, o, -1, 0);
  expect_close("gather_rows", o, r, N * D);
  gs_launch ls = mk(GS_OP_SCATTER_ADD_ROWS, 2);
  ls.in_desc[0] = td(GS_SHAPE(N, D)), ls.in_desc[1] = tdi(GS_SHAPE(N)),
  ls.out_desc = td(GS_SHAPE(R, D));
  void *sins[2] = {src, idx};
  run(&ls, sins, so, -1, 0);
  expect_close("scatter_add_rows", so, sr, R * D);

  int32_t lab[7] = {0, 4, 2, -1, 5, 4, 1};
  float *oh = frandv(7 * 5, 0, 1);
  double *ohr = dalloc(35);
  for (int n = 0; n < 7; n++)
    for (int c = 0; c < 5; c++) ohr[n * 5 + c] = lab[n] == c;
  gs_launch lo = mk(GS_OP_ONEHOT, 1);
  lo.in_desc[0] = tdi(GS_SHAPE(7)), lo.out_desc = td(GS_SHAPE(7, 5));
  void *oins[1] = {lab};
  run(&lo, oins, oh, -1, 0);
  expect_close("onehot", oh, ohr, 35);
  free(x), free(src), free(o), free(so), free(r), free(sr), free(oh), free(ohr);
}

/* ---- matmul ---- */

static void matmul_case(int ta, int tb, int64_t ba, int64_t bb, int64_t bt, int64_t M, int64_t K,
                        int64_t N) {
  gs_shape as = ta ? GS_SHAPE(ba, K, M) : GS_SHAPE(ba, M, K);
  gs_shape bs = tb ? GS_SHAPE(bb, N, K) : GS_SHAPE(bb, K, N);
  float *a = frandv(ba * M * K, -1, 1), *b = frandv(bb * K * N, -1, 1);
  float *o = frandv(bt * M * N, 0, 1);
  double *r = dalloc(bt * M * N);
  for (int64_t t = 0; t < bt; t++) {
    const float *A = a + (ba == 1 ? 0 : t * M * K), *Bm = b + (bb == 1 ? 0 : t * K * N);
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? Bm[j * K + k] : Bm[k * N + j]);
        r[(t * M + i) * N + j] = s;
      }
  }
  gs_launch l = mk(GS_OP_MATMUL, 2);
  l.in_desc[0] = td(as), l.in_desc[1] = td(bs), l.out_desc = td(GS_SHAPE(bt, M, N));
  l.i[0] = ta, l.i[1] = tb;
  void *ins[2] = {a, b};
  run(&l, ins, o, -1, 0);
  char what[96];
  snprintf(what, sizeof what, "matmul t%d%d batch %lld,%lld->%lld %lldx%lldx%lld", ta, tb,
           (long long)ba, (long long)bb, (long long)bt, (long long)M, (long long)K, (long long)N);
  expect_close(what, o, r, bt * M * N);
  free(a), free(b), free(o), free(r);
}

static void test_matmul(void) {
  const int64_t dims[] = {1, 3, 7, 13, 33};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int bc = 0; bc < 4; bc++)
        for (int t = 0; t < 3; t++) {
          int64_t bt = bc == 0 ? 1 : 3;
          int64_t ba = bc == 2 ? 1 : bt, bb = bc == 3 ? 1 : bt;
          matmul_case(ta, tb, ba, bb, bt, dims[rnd() % 5], dims[rnd() % 5], dims[rnd() % 5]);
        }
  matmul_case(0, 0, 5, 1, 5, 17, 29, 31); /* batch folded into M */
  matmul_case(0, 1, 5, 1, 5, 17, 29, 31);
  matmul_case(1, 0, 1, 4, 4, 19, 23, 11);
  matmul_case(0, 0, 1, 1, 1, 67, 129, 71);
}

/* ---- convolution ---- */

typedef struct conv_case {
  int64_t N, C, H, W, O, KH, KW, sh, sw, ph, pw;
} conv_case;

static void conv_test(const conv_case *c) {
  int64_t OH = (c->H + 2 * c->ph - c->KH) / c->sh + 1, OW = (c->W + 2 * c->pw - c->KW) / c->sw + 1;
  int64_t nx = c->N * c->C * c->H * c->W, nw = c->O * c->C * c->KH * c->KW,
          ny = c->N * c->O * OH * OW;
  float *x = frandv(nx, -1, 1), *w = frandv(nw, -1, 1), *dy = frandv(ny, -1, 1);
  float *y = frandv(ny, 0, 1), *dx = frandv(nx, 0, 1), *dw = frandv(nw, 0, 1);
  double *ry = dalloc(ny), *rdx = dalloc(nx), *rdw = dalloc(nw);
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t o = 0; o < c->O; o++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t yi = ((n * c->O + o) * OH + oh) * OW + ow;
          for (int64_t ch = 0; ch < c->C; ch++)
            for (int64_t kh = 0; kh < c->KH; kh++)
              for (int64_t kw = 0; kw < c->KW; kw++) {
                int64_t ih = oh * c->sh - c->ph + kh, iw = ow * c->sw - c->pw + kw;
                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                int64_t xi = ((n * c->C + ch) * c->H + ih) * c->W + iw;
                int64_t wi = ((o * c->C + ch) * c->KH + kh) * c->KW + kw;
                ry[yi] += (double)x[xi] * w[wi];
                rdx[xi] += (double)dy[yi] * w[wi];
                rdw[wi] += (double)dy[yi] * x[xi];
              }
        }
  gs_shape xs = GS_SHAPE(c->N, c->C, c->H, c->W), ws = GS_SHAPE(c->O, c->C, c->KH, c->KW),
           ys = GS_SHAPE(c->N, c->O, OH, OW);
  char what[128];
  snprintf(what, sizeof what, "x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] s%lld,%lld p%lld,%lld",
           (long long)c->N, (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->O,
           (long long)c->C, (long long)c->KH, (long long)c->KW, (long long)c->sh, (long long)c->sw,
           (long long)c->ph, (long long)c->pw);
  char full[160];
  gs_launch l = mk(GS_OP_CONV2D, 2);
  l.i[0] = (int32_t)c->sh, l.i[1] = (int32_t)c->sw, l.i[2] = (int32_t)c->ph,
  l.i[3] = (int32_t)c->pw;
  l.in_desc[0] = td(xs), l.in_desc[1] = td(ws), l.out_desc = td(ys);
  void *fins[2] = {x, w};
  run(&l, fins, y, -1, 0);
  snprintf(full, sizeof full, "conv2d %s", what);
  expect_close(full, y, ry, ny);

  l.op = GS_OP_CONV2D_BWD_DATA;
  l.in_desc[0] = td(ys), l.in_desc[1] = td(ws), l.out_desc = td(xs);
  void *dins[2] = {dy, w};
  run(&l, dins, dx, -1, 0);
  snprintf(full, sizeof full, "conv2d_bwd_data %s", what);
  expect_close(full, dx, rdx, nx);

  l.op = GS_OP_CONV2D_BWD_FILTER;
  l.in_desc[0] = td(xs), l.in_desc[1] = td(ys), l.out_desc = td(ws);
  void *wins[2] = {x, dy};
  run(&l, wins, dw, -1, 0);
  snprintf(full, sizeof full, "conv2d_bwd_filter %s", what);
  expect_close(full, dw, rdw, nw);
  free(x), free(w), free(dy), free(y), free(dx), free(dw), free(ry), free(rdx), free(rdw);
}

static void test_conv(void) {
  static const conv_case cases[] = {
      {2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1},   {3, 2, 9, 11, 5, 3, 3, 2, 2, 1, 1},
      {2, 5, 8, 8, 3, 1, 1, 1, 1, 0, 0},   {2, 4, 9, 9, 6, 1, 1, 2, 2, 0, 0},
      {1, 3, 11, 13, 2, 5, 3, 1, 2, 2, 1}, {2, 2, 5, 5, 3, 3, 3, 1, 1, 2, 2},
      {2, 1, 47, 47, 2, 3, 3, 1, 1, 1, 1}, {2, 3, 50, 45, 4, 1, 1, 1, 1, 0, 0},
      {5, 3, 4, 4, 7, 3, 3, 1, 1, 1, 1},   {3, 2, 6, 6, 3, 2, 2, 2, 2, 0, 0},
      {2, 2, 10, 9, 3, 3, 2, 2, 1, 0, 1},  {45, 1, 7, 7, 2, 3, 3, 1, 1, 1, 1},
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},   {3, 13, 3, 3, 11, 3, 3, 1, 1, 1, 1},
      {2, 3, 2, 3, 2, 3, 3, 3, 3, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_test(&cases[i]);
}

/* Launches whose oneDNN copies would exceed the backend's share size (16 MiB) run on shares of
 * the batch, the last one smaller, and the filter gradient adds the shares' up. */
static void test_conv_shares(void) {
  static const conv_case cases[] = {
      {37, 8, 96, 96, 8, 1, 1, 1, 1, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_test(&cases[i]);
}

/* ---- pooling ---- */

typedef struct pool_case {
  int64_t N, C, H, W, KH, KW, sh, sw, ph, pw;
} pool_case;

static void pool_test(const pool_case *c) {
  int64_t OH = (c->H + 2 * c->ph - c->KH) / c->sh + 1, OW = (c->W + 2 * c->pw - c->KW) / c->sw + 1;
  int64_t P = c->N * c->C, nx = P * c->H * c->W, ny = P * OH * OW;
  float *x = frandv(nx, -1, 1), *dy = frandv(ny, -1, 1);
  for (int64_t i = 0; i < nx; i++) x[i] = (float)(rnd() % 4) - 3.0f; /* ties, all <= 0 */
  float *y = frandv(ny, 0, 1), *dx = frandv(nx, 0, 1);
  double *rmy = dalloc(ny), *rmdx = dalloc(nx), *ray = dalloc(ny), *radx = dalloc(nx);
  for (int64_t p = 0; p < P; p++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t yi = (p * OH + oh) * OW + ow, best = -1;
        double s = 0;
        for (int64_t kh = 0; kh < c->KH; kh++)
          for (int64_t kw = 0; kw < c->KW; kw++) {
            int64_t ih = oh * c->sh - c->ph + kh, iw = ow * c->sw - c->pw + kw;
            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
            int64_t xi = (p * c->H + ih) * c->W + iw;
            s += x[xi];
            if (best < 0 || x[xi] > x[best]) best = xi;
          }
        rmy[yi] = best < 0 ? 0 : x[best];
        if (best >= 0) rmdx[best] += dy[yi];
        ray[yi] = s / (double)(c->KH * c->KW);
        for (int64_t kh = 0; kh < c->KH; kh++)
          for (int64_t kw = 0; kw < c->KW; kw++) {
            int64_t ih = oh * c->sh - c->ph + kh, iw = ow * c->sw - c->pw + kw;
            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
            radx[(p * c->H + ih) * c->W + iw] += dy[yi] / (double)(c->KH * c->KW);
          }
      }
  gs_shape xs = GS_SHAPE(c->N, c->C, c->H, c->W), ys = GS_SHAPE(c->N, c->C, OH, OW);
  gs_launch l = mk(GS_OP_MAXPOOL2D, 1);
  int32_t at[6] = {(int32_t)c->KH, (int32_t)c->KW, (int32_t)c->sh,
                   (int32_t)c->sw, (int32_t)c->ph, (int32_t)c->pw};
  memcpy(l.i, at, sizeof at);
  l.in_desc[0] = td(xs), l.out_desc = td(ys);
  void *ins[1] = {x};
  run(&l, ins, y, -1, 0);
  expect_close("maxpool2d", y, rmy, ny);
  l.op = GS_OP_AVGPOOL2D;
  run(&l, ins, y, -1, 0);
  expect_close("avgpool2d", y, ray, ny);

  gs_launch lb = mk(GS_OP_MAXPOOL2D_BWD, 2);
  memcpy(lb.i, at, sizeof at);
  lb.in_desc[0] = td(xs), lb.in_desc[1] = td(ys), lb.out_desc = td(xs);
  void *bins[2] = {x, dy};
  run(&lb, bins, dx, -1, 0);
  expect_close("maxpool2d_bwd", dx, rmdx, nx);
  gs_launch la = mk(GS_OP_AVGPOOL2D_BWD, 1);
  memcpy(la.i, at, sizeof at);
  la.in_desc[0] = td(ys), la.out_desc = td(xs);
  void *ains[1] = {dy};
  run(&la, ains, dx, -1, 0);
  expect_close("avgpool2d_bwd", dx, radx, nx);
  free(x), free(dy), free(y), free(dx), free(rmy), free(rmdx), free(ray), free(radx);
}

static void test_pool(void) {
  static const pool_case cases[] = {
      {2, 3, 8, 8, 2, 2, 2, 2, 0, 0}, {1, 2, 7, 9, 3, 3, 2, 2, 1, 1},
      {2, 1, 5, 5, 3, 3, 1, 1, 1, 1}, {1, 3, 6, 7, 2, 3, 1, 2, 0, 1},
      {2, 3, 5, 5, 5, 5, 1, 1, 0, 0}, {3, 5, 11, 13, 3, 2, 2, 3, 1, 1},
      {2, 2, 7, 9, 2, 2, 2, 2, 0, 0}, {64, 8, 6, 6, 2, 2, 2, 2, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) pool_test(&cases[i]);
}

/* ---- optimizer updates (in place) ---- */

static void test_optim(void) {
  const int64_t n = 1031;
  for (int nesterov = 0; nesterov < 2; nesterov++) {
    float *w = frandv(n, -1, 1), *g = frandv(n, -1, 1), *buf = frandv(n, -1, 1), lr = 0.05f;
    double *rw = dalloc(n), *rb = dalloc(n);
    const double mom = 0.9, wd = 0.01;
    for (int64_t i = 0; i < n; i++) {
      double d = g[i] + wd * w[i], b = mom * buf[i] + d;
      rb[i] = b, rw[i] = w[i] - lr * (nesterov ? d + mom * b : b);
    }
    gs_launch l = mk(GS_OP_SGD, 4);
    l.in_desc[0] = l.in_desc[1] = l.in_desc[2] = l.out_desc = td(GS_SHAPE(n));
    l.in_desc[3] = td(GS_SHAPE(1));
    l.f[0] = (float)mom, l.f[1] = (float)wd, l.i[0] = nesterov;
    void *ins[4] = {w, g, buf, &lr};
    run(&l, ins, w, 0, 1u << 2);
    expect_close(nesterov ? "sgd nesterov w" : "sgd w", w, rw, n);
    expect_close("sgd buf", buf, rb, n);
    free(w), free(g), free(buf), free(rw), free(rb);
  }
  {
    float *w = frandv(n, -1, 1), *g = frandv(n, -1, 1), *m = frandv(n, -0.1f, 0.1f);
    float *v = frandv(n, 0.001f, 0.01f), lr = 0.01f, t = 3;
    double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
    double *rw = dalloc(n), *rm = dalloc(n), *rv = dalloc(n);
    for (int64_t i = 0; i < n; i++) {
      double wi = w[i] - lr * wd * w[i];
      rm[i] = b1 * m[i] + (1 - b1) * g[i];
      rv[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
      rw[i] = wi - lr * (rm[i] / (1 - pow(b1, t))) / (sqrt(rv[i] / (1 - pow(b2, t))) + eps);
    }
    gs_launch l = mk(GS_OP_ADAMW, 6);
    for (int k = 0; k < 4; k++) l.in_desc[k] = td(GS_SHAPE(n));
    l.in_desc[4] = l.in_desc[5] = td(GS_SHAPE(1));
    l.out_desc = td(GS_SHAPE(n));
    l.f[0] = (float)b1, l.f[1] = (float)b2, l.f[2] = (float)eps, l.f[3] = (float)wd;
    void *ins[6] = {w, g, m, v, &lr, &t};
    run(&l, ins, w, 0, (1u << 2) | (1u << 3));
    expect_close("adamw w", w, rw, n);
    expect_close("adamw m", m, rm, n);
    expect_close("adamw v", v, rv, n);
    free(w), free(g), free(m), free(v), free(rw), free(rm), free(rv);
  }
  {
    float *tg = frandv(n, -1, 1), *on = frandv(n, -1, 1), mm = 0.99f;
    double *r = dalloc(n);
    for (int64_t i = 0; i < n; i++) r[i] = (double)mm * tg[i] + (1 - (double)mm) * on[i];
    gs_launch l = mk(GS_OP_EMA, 3);
    l.in_desc[0] = l.in_desc[1] = l.out_desc = td(GS_SHAPE(n));
    l.in_desc[2] = td(GS_SHAPE(1));
    void *ins[3] = {tg, on, &mm};
    run(&l, ins, tg, 0, 0);
    expect_close("ema", tg, r, n);
    free(tg), free(on), free(r);
  }
}

/* ---- the plugin's own contract: devices, supports, refusals ---- */

static gs_backend *ctx;

static void test_contract(void) {
  int n = -1;
  char why[128];
  /* Device 1, where oneDNN is built in: the plain path the fast one is checked against. */
  CHECK(B->probe(ctx, &n, why, sizeof why) == GS_OK && (n == 1 || n == 2));
  gs_device_info info;
  CHECK(B->device_info(ctx, 0, &info) == GS_OK);
  CHECK(strcmp(info.name, "cpu") == 0 && info.available && info.type == GS_DEVICE_CPU);
  CHECK(info.memory_bytes > 0);
  printf("device: %s, %s, %s, %s\n", info.name, info.vendor, info.driver, info.extra);
  if (n == 2) {
    CHECK(B->device_info(ctx, 1, &info) == GS_OK);
    CHECK(strcmp(info.name, "cpu-reference") == 0 && info.available);
  }
  CHECK(B->device_info(ctx, n, &info) != GS_OK);
  gs_bdev *other = NULL;
  CHECK(B->open(ctx, n, &other) != GS_OK);

  gs_launch l = mk(GS_OP_COUNT, 0);
  CHECK(B->supports(dev, &l) == 0);
  l.op = (gs_opcode)99;
  CHECK(B->supports(dev, &l) == 0);
  /* The contract is the runtime's (gs_launch_check, tests/runtime/test_opcode.c); the CPU has
   * no device limit, so it runs every launch that keeps it. */
  l = mk(GS_OP_BINARY, 2);
  l.in_desc[0] = l.in_desc[1] = l.out_desc = td(GS_SHAPE(3, 4));
  CHECK(gs_launch_check(&l, NULL, 0) == 1 && B->supports(dev, &l) == 1);

  /* An operand window past its buffer is refused at compile, with a message. */
  gs_bbuf *small = NULL;
  CHECK(B->buf_alloc(dev, 16, &small) == GS_OK);
  l = mk(GS_OP_FILL, 0);
  l.out_desc = td(GS_SHAPE(5));
  l.out = (gs_bref){small, 0};
  gs_bprog *p = NULL;
  CHECK(B->prog_compile(dev, &l, 1, &p) != GS_OK && p == NULL);
  CHECK(strstr(gs_errmsg(), "fill") != NULL);
  float v[4];
  CHECK(B->buf_read(dev, small, 8, v, 16) != GS_OK);
  B->buf_free(dev, small);

  /* A two-launch program runs in order and can run again. */
  gs_bbuf *a = NULL;
  CHECK(B->buf_alloc(dev, 8 * 4, &a) == GS_OK);
  gs_launch two[2] = {mk(GS_OP_FILL, 0), mk(GS_OP_UNARY, 1)};
  two[0].out_desc = td(GS_SHAPE(8)), two[0].out = (gs_bref){a, 0}, two[0].f[0] = 2;
  two[1].in_desc[0] = two[1].out_desc = td(GS_SHAPE(8));
  two[1].in[0] = two[1].out = (gs_bref){a, 0}, two[1].i[0] = GS_UN_SQUARE;
  CHECK(B->prog_compile(dev, two, 2, &p) == GS_OK);
  CHECK(B->prog_run(dev, p) == GS_OK && B->prog_run(dev, p) == GS_OK);
  CHECK(B->buf_read(dev, a, 0, v, 16) == GS_OK && v[0] == 4.0f && v[3] == 4.0f);
  B->prog_free(dev, p);
  B->buf_free(dev, a);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/libgessl-cpu.so\n", argv[0]);
    return 2;
  }
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 1;
  }
  gs_backend_entry_fn entry = (gs_backend_entry_fn)(uintptr_t)dlsym(h, GS_BACKEND_ENTRY_SYMBOL);
  CHECK(entry != NULL);
  if (!entry) return check_summary();
  gs_backend_host host = test_host();
  B = entry();
  CHECK(B && B->abi_version == GS_BACKEND_ABI_VERSION && strcmp(B->name, "cpu") == 0);
  CHECK(B->struct_size == sizeof(gs_backend_iface));
  if (!B) return check_summary();
  CHECK(B->create(&host, &ctx) == GS_OK);
  CHECK(B->open(ctx, 0, &dev) == GS_OK);

  test_contract();
  test_fill();
  test_unary();
  test_binary();
  test_axpby();
  test_expand();
  test_reduce();
  test_dot();
  test_permute();
  test_slice_insert();
  test_rows();
  test_matmul();
  test_conv();
  test_conv_shares();
  test_pool();
  test_optim();

  /* The threaded paths again with one thread and with an odd team (convolution chunking,
   * GEMM splitting and the filter-gradient partials all depend on the count). */
  for (int t = 0; t < 2; t++) {
    B->close(dev);
    B->destroy(ctx);
    host.threads = t == 0 ? 1 : 3;
    CHECK(B->create(&host, &ctx) == GS_OK && B->open(ctx, 0, &dev) == GS_OK);
    test_matmul();
    test_conv();
    test_reduce();
    test_binary();
  }

  B->close(dev);
  B->destroy(ctx);
  dlclose(h);
  return check_summary();
}
