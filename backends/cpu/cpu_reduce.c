/* Reductions: REDUCE (sum, mean, max over any set of axes) and DOT. Sums accumulate in double,
 * since this backend is the reference others are measured against.
 *
 * The input shape is collapsed into alternating kept/reduced groups of dims. When the innermost
 * group is reduced, each output is a sum of contiguous runs; when it is kept, outputs are made
 * in blocks of consecutive elements that add whole contiguous input rows, which keeps the loads
 * sequential (e.g. a bias gradient summing [N, C] over N). */
#include "cpu_internal.h"

#include <math.h>

typedef struct red_layout {
  int m;                   /* collapsed dims */
  int64_t sz[GS_MAX_RANK]; /* their sizes */
  int64_t st[GS_MAX_RANK]; /* their input strides */
  int red[GS_MAX_RANK];    /* reduced? */
  int nk, nr;              /* kept / reduced dims among them */
  int kd[GS_MAX_RANK], rd[GS_MAX_RANK];
  int64_t nkept, nred; /* elements kept (= output size), reduced per output */
} red_layout;

static void red_make(const gs_shape *in, const gs_shape *out, red_layout *L) {
  int64_t stride[GS_MAX_RANK], acc = 1;
  for (int k = in->rank - 1; k >= 0; k--) stride[k] = acc, acc *= in->dim[k];
  int m = 0;
  for (int k = 0; k < in->rank; k++) {
    if (in->dim[k] == 1) continue;
    int r = out->dim[k] == 1;
    if (m > 0 && L->red[m - 1] == r) {
      L->sz[m - 1] *= in->dim[k];
      L->st[m - 1] = stride[k];
      continue;
    }
    L->sz[m] = in->dim[k], L->st[m] = stride[k], L->red[m] = r;
    m++;
  }
  if (m == 0) L->sz[0] = 1, L->st[0] = 1, L->red[0] = 0, m = 1;
  L->m = m;
  L->nk = L->nr = 0;
  L->nkept = L->nred = 1;
  for (int k = 0; k < m; k++) {
    if (L->red[k])
      L->rd[L->nr++] = k, L->nred *= L->sz[k];
    else
      L->kd[L->nk++] = k, L->nkept *= L->sz[k];
  }
}

/* Input offset of the idx-th combination of the dims listed in `dims` (row-major). */
static inline int64_t sub_offset(const red_layout *L, const int *dims, int n, int64_t idx) {
  int64_t off = 0;
  for (int j = n - 1; j >= 0; j--) {
    int k = dims[j];
    off += (idx % L->sz[k]) * L->st[k];
    idx /= L->sz[k];
  }
  return off;
}

#define RED_BLOCK 64
#define LANES 8

/* Sums and maxima of contiguous runs in LANES independent accumulators: one accumulator is a
 * chain of dependent additions the compiler may not reorder, several vectorise. The lane order is
 * fixed, so results do not vary between runs. */
static inline double sum_run(const float *restrict p, int64_t n) {
  double acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += (double)p[i + j];
  double tail = 0.0;
  for (; i < n; i++) tail += (double)p[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

static inline float max_run(const float *restrict p, int64_t n, float mx) {
  float m[LANES];
  for (int j = 0; j < LANES; j++) m[j] = mx;
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) m[j] = p[i + j] > m[j] ? p[i + j] : m[j];
  for (; i < n; i++) mx = p[i] > mx ? p[i] : mx;
  for (int j = 0; j < LANES; j++) mx = m[j] > mx ? m[j] : mx;
  return mx;
}

/* One output of an innermost-reduced layout, its work split across the threads in blocks of
 * whole runs (or of one long run), each block summed in double. */
static float red_one(const red_layout *L, const float *base, int64_t nouter, int64_t run, int ismax,
                     double scale) {
  int64_t total = nouter * run, blk = 4096;
  int64_t nblk = (total + blk - 1) / blk;
  double s = 0.0;
  float mx = -INFINITY;
#ifdef _OPENMP
#pragma omp parallel for num_threads(cpu_nthreads) schedule(static) reduction(+ : s)             \
    reduction(max : mx)
#endif
  for (int64_t b = 0; b < nblk; b++) {
    /* flat index range [i0, i1) over (outer, run) */
    int64_t i0 = b * blk, i1 = i0 + blk < total ? i0 + blk : total;
    double ps = 0.0;
    float pm = -INFINITY;
    while (i0 < i1) {
      int64_t r = i0 / run, j = i0 % run, len = run - j < i1 - i0 ? run - j : i1 - i0;
      const float *restrict p = base + sub_offset(L, L->rd, L->nr - 1, r) + j;
      if (ismax)
        pm = max_run(p, len, pm);
      else
        ps += sum_run(p, len);
      i0 += len;
    }
    s += ps;
    mx = pm > mx ? pm : mx;
  }
  return ismax ? mx : (float)(s * scale);
}

void cpu_reduce(const gs_launch *l) {
  red_layout L;
  red_make(&l->in_desc[0].shape, &l->out_desc.shape, &L);
  const float *in = cpu_ptr(l->in[0]);
  float *out = cpu_ptr(l->out);
  gs_reduce kind = (gs_reduce)l->i[0];
  int ismax = kind == GS_RED_MAX;
  double scale = kind == GS_RED_MEAN ? 1.0 / (double)L.nred : 1.0;
  int64_t total = L.nkept * L.nred;

  if (L.red[L.m - 1]) {
    /* Innermost group reduced: contiguous runs of length run, outer reduced combos nouter. */
    int64_t run = L.sz[L.m - 1], nouter = L.nred / run;
    if (L.nkept < cpu_nthreads && L.nred > 16384) {
      /* Few outputs over much data (a loss, a norm): split each output's sum instead. */
      for (int64_t o = 0; o < L.nkept; o++)
        out[o] = red_one(&L, in + sub_offset(&L, L.kd, L.nk, o), nouter, run, ismax, scale);
      return;
    }
    /* Blocks of consecutive outputs, each block walking the outer reduced combinations in the
     * outer loop: for a batch-norm statistic over [N, C, H*W] a thread then reads its channels
     * of one image after another, in memory order, instead of jumping a whole image ahead for
     * every H*W run (each run starting cold, as prefetchers stop at page boundaries). Every
     * output still adds its runs in the same order, so results are unchanged. */
    int64_t ob = (L.nkept + cpu_nthreads - 1) / cpu_nthreads;
    if (ob > RED_BLOCK) ob = RED_BLOCK;
    int64_t nob = (L.nkept + ob - 1) / ob;
    CPU_PAR_FOR(total)
    for (int64_t t = 0; t < nob; t++) {
      int64_t o0 = t * ob, len = L.nkept - o0 < ob ? L.nkept - o0 : ob;
      int64_t base[RED_BLOCK];
      double sum[RED_BLOCK];
      float mx[RED_BLOCK];
      for (int64_t j = 0; j < len; j++) {
        base[j] = sub_offset(&L, L.kd, L.nk, o0 + j);
        sum[j] = 0.0;
        mx[j] = -INFINITY;
      }
      for (int64_t r = 0; r < nouter; r++) {
        const float *p = in + sub_offset(&L, L.rd, L.nr - 1, r);
        if (ismax)
          for (int64_t j = 0; j < len; j++) mx[j] = max_run(p + base[j], run, mx[j]);
        else
          for (int64_t j = 0; j < len; j++) sum[j] += sum_run(p + base[j], run);
      }
      for (int64_t j = 0; j < len; j++) out[o0 + j] = ismax ? mx[j] : (float)(sum[j] * scale);
    }
    return;
  }

  /* Innermost group kept: blocks of up to RED_BLOCK consecutive outputs. */
  int64_t inner = L.sz[L.m - 1], rows = L.nkept / inner;
  int64_t nblk = (inner + RED_BLOCK - 1) / RED_BLOCK;
  CPU_PAR_FOR(total)
  for (int64_t t = 0; t < rows * nblk; t++) {
    int64_t row = t / nblk, j0 = (t % nblk) * RED_BLOCK;
    int64_t len = inner - j0 < RED_BLOCK ? inner - j0 : RED_BLOCK;
    int64_t base = sub_offset(&L, L.kd, L.nk - 1, row) + j0;
    float *o = out + row * inner + j0;
    if (ismax) {
      float mx[RED_BLOCK];
      for (int64_t j = 0; j < len; j++) mx[j] = -INFINITY;
      for (int64_t r = 0; r < L.nred; r++) {
        const float *p = in + base + sub_offset(&L, L.rd, L.nr, r);
        for (int64_t j = 0; j < len; j++) mx[j] = p[j] > mx[j] ? p[j] : mx[j];
      }
      for (int64_t j = 0; j < len; j++) o[j] = mx[j];
    } else {
      double s[RED_BLOCK];
      for (int64_t j = 0; j < len; j++) s[j] = 0.0;
      for (int64_t r = 0; r < L.nred; r++) {
        const float *restrict p = in + base + sub_offset(&L, L.rd, L.nr, r);
        for (int64_t j = 0; j < len; j++) s[j] += (double)p[j];
      }
      for (int64_t j = 0; j < len; j++) o[j] = (float)(s[j] * scale);
    }
  }
}

void cpu_dot(const gs_launch *l) {
  int64_t n = cpu_numel(&l->in_desc[0]);
  const float *restrict a = cpu_ptr(l->in[0]), *restrict b = cpu_ptr(l->in[1]);
  int64_t blk = 4096, nblk = (n + blk - 1) / blk;
  double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(cpu_nthreads) if (n > 16384) reduction(+ : s) schedule(static)
#endif
  for (int64_t k = 0; k < nblk; k++) {
    int64_t i0 = k * blk, i1 = i0 + blk < n ? i0 + blk : n, i = i0;
    double acc[LANES] = {0}, tail = 0.0;
    for (; i + LANES <= i1; i += LANES)
      for (int j = 0; j < LANES; j++) acc[j] += (double)a[i + j] * (double)b[i + j];
    for (; i < i1; i++) tail += (double)a[i] * (double)b[i];
    s += ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
  }
  cpu_ptr(l->out)[0] = (float)s;
}
