/* Convolution as GEMM: im2col + sgemm forward, sgemm + col2im for the data gradient, and sgemm
 * accumulating over the batch for the filter gradient. 1x1 stride-1 unpadded convolutions use
 * the input itself as the column matrix.
 *
 * Small feature maps make thin GEMMs (a 4x4 map gives N = 16 per image), which OpenBLAS runs
 * far below its peak, so the plan groups `chunk` images into one GEMM of about CPU_CONV_COLS
 * columns, staging the output (or dy) through the workspace.
 *
 * With a batch of at least one chunk per thread, the chunks themselves run in parallel, each
 * thread doing its own im2col, single-threaded GEMM and copies in its own workspace slice: one
 * parallel region per launch instead of a barrier after every im2col and every GEMM, which
 * matters on small machines where the threads share cores with other work. The filter gradient
 * then sums per-thread partials in a fixed order, so results do not depend on scheduling.
 * Smaller batches run chunk after chunk with every step split across the threads.
 *
 * Workspace sizes are fixed at compile time; nothing is allocated while a program runs. */
#include "cpu_internal.h"

#include <string.h>

#define NT 0 /* no transpose */
#define TR 1 /* transpose */

#define CPU_CONV_COLS 2048
#define CPU_CONV_WS_MAX ((size_t)256 << 20) /* bytes of workspace one convolution may plan */

typedef struct conv_dims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, CKK, P;
} conv_dims;

static void conv_dims_of(const gs_launch *l, conv_dims *d) {
  const gs_shape *x, *w, *y;
  if (l->op == GS_OP_CONV2D)
    x = &l->in_desc[0].shape, w = &l->in_desc[1].shape, y = &l->out_desc.shape;
  else if (l->op == GS_OP_CONV2D_BWD_DATA)
    y = &l->in_desc[0].shape, w = &l->in_desc[1].shape, x = &l->out_desc.shape;
  else
    x = &l->in_desc[0].shape, y = &l->in_desc[1].shape, w = &l->out_desc.shape;
  d->N = x->dim[0], d->C = x->dim[1], d->H = x->dim[2], d->W = x->dim[3];
  d->O = w->dim[0], d->KH = w->dim[2], d->KW = w->dim[3];
  d->OH = y->dim[2], d->OW = y->dim[3];
  d->sh = l->i[0], d->sw = l->i[1], d->ph = l->i[2], d->pw = l->i[3];
  d->CKK = d->C * d->KH * d->KW, d->P = d->OH * d->OW;
}

/* Workspace floats for one chunk of `chunk` images: column matrix, staging, filter partial. */
static size_t slice_floats(const gs_launch *l, const conv_dims *d, int direct, int64_t chunk,
                           int threads) {
  size_t s = 0;
  if (!(direct && chunk == 1)) s += (size_t)(d->CKK * chunk * d->P);
  if (chunk > 1) s += (size_t)(d->O * chunk * d->P);
  if (l->op == GS_OP_CONV2D_BWD_FILTER && threads > 1) s += (size_t)(d->O * d->CKK);
  return (s + 15) / 16 * 16; /* keep every slice 64-byte aligned */
}

void cpu_conv_make_plan(const gs_launch *l, cpu_conv_plan *p) {
  conv_dims d;
  conv_dims_of(l, &d);
  p->direct = d.KH == 1 && d.KW == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0;
  int nt = cpu_nthreads;
  int64_t chunk = d.P >= CPU_CONV_COLS ? 1 : (CPU_CONV_COLS + d.P - 1) / d.P;
  if (nt > 1 && d.N >= nt) {
    /* At least two chunks per thread where the batch allows, so a thread that loses its core
     * for a while does not hold up the whole launch. */
    p->threads = nt;
    int64_t per = d.N >= 2 * nt ? (d.N + 2 * nt - 1) / (2 * nt) : (d.N + nt - 1) / nt;
    if (chunk > per) chunk = per;
  } else {
    p->threads = 1;
    if (chunk > d.N) chunk = d.N;
  }
  if (chunk < 1) chunk = 1;
  while (chunk > 1 &&
         (size_t)p->threads * slice_floats(l, &d, p->direct, chunk, p->threads) * sizeof(float) >
             CPU_CONV_WS_MAX)
    chunk--;
  p->chunk = chunk;
  p->slice = slice_floats(l, &d, p->direct, chunk, p->threads);
  p->ws_floats = (size_t)p->threads * p->slice;
}

/* col[r * ld + q] for rows r = (c, kh, kw) in [r0, r1) and q = (oh, ow): the input cell under
 * that kernel tap, or 0 in the padding. */
static void im2col_rows(const conv_dims *d, const float *restrict x, float *restrict col,
                        int64_t ld, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r / (d->KH * d->KW), kh = r / d->KW % d->KH, kw = r % d->KW;
    const float *xc = x + c * d->H * d->W;
    float *dst = col + r * ld;
    for (int64_t oh = 0; oh < d->OH; oh++) {
      int64_t ih = oh * d->sh - d->ph + kh;
      float *o = dst + oh * d->OW;
      if (ih < 0 || ih >= d->H) {
        for (int64_t ow = 0; ow < d->OW; ow++) o[ow] = 0.0f;
        continue;
      }
      const float *xr = xc + ih * d->W;
      if (d->sw == 1) {
        int64_t off = kw - d->pw; /* iw = ow + off */
        int64_t lo = off < 0 ? -off : 0, hi = d->W - off < d->OW ? d->W - off : d->OW;
        if (hi < lo) hi = lo;
        for (int64_t ow = 0; ow < lo; ow++) o[ow] = 0.0f;
        for (int64_t ow = lo; ow < hi; ow++) o[ow] = xr[ow + off];
        for (int64_t ow = hi; ow < d->OW; ow++) o[ow] = 0.0f;
      } else {
        for (int64_t ow = 0; ow < d->OW; ow++) {
          int64_t iw = ow * d->sw - d->pw + kw;
          o[ow] = iw >= 0 && iw < d->W ? xr[iw] : 0.0f;
        }
      }
    }
  }
}

static void im2col(const conv_dims *d, const float *x, float *col, int64_t ld, int par) {
  if (!par) {
    im2col_rows(d, x, col, ld, 0, d->CKK);
    return;
  }
  CPU_PAR_FOR(d->CKK * d->P)
  for (int64_t r = 0; r < d->CKK; r++) im2col_rows(d, x, col, ld, r, r + 1);
}

/* dx channels [c0, c1) = the sum over taps of col (the inverse scatter of im2col). */
static void col2im_chans(const conv_dims *d, const float *restrict col, int64_t ld,
                         float *restrict dx, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; c++) {
    float *xc = dx + c * d->H * d->W;
    memset(xc, 0, (size_t)(d->H * d->W) * sizeof(float));
    for (int64_t kh = 0; kh < d->KH; kh++)
      for (int64_t kw = 0; kw < d->KW; kw++) {
        const float *src = col + ((c * d->KH + kh) * d->KW + kw) * ld;
        for (int64_t oh = 0; oh < d->OH; oh++) {
          int64_t ih = oh * d->sh - d->ph + kh;
          if (ih < 0 || ih >= d->H) continue;
          float *xr = xc + ih * d->W;
          const float *s = src + oh * d->OW;
          if (d->sw == 1) {
            int64_t off = kw - d->pw;
            int64_t lo = off < 0 ? -off : 0, hi = d->W - off < d->OW ? d->W - off : d->OW;
            for (int64_t ow = lo; ow < hi; ow++) xr[ow + off] += s[ow];
          } else {
            for (int64_t ow = 0; ow < d->OW; ow++) {
              int64_t iw = ow * d->sw - d->pw + kw;
              if (iw >= 0 && iw < d->W) xr[iw] += s[ow];
            }
          }
        }
      }
  }
}

static void col2im(const conv_dims *d, const float *col, int64_t ld, float *dx, int par) {
  if (!par) {
    col2im_chans(d, col, ld, dx, 0, d->C);
    return;
  }
  CPU_PAR_FOR(d->CKK * d->P)
  for (int64_t c = 0; c < d->C; c++) col2im_chans(d, col, ld, dx, c, c + 1);
}

/* Copies nb images' [O, P] blocks to (to_stage) or from a [O, nb*P] staging matrix. */
static void stage(const conv_dims *d, int64_t nb, float *nchw, float *st, int to_stage, int par) {
  int64_t cols = nb * d->P, n = nb * d->O;
  CPU_PAR_FOR(par ? d->O * cols : 0)
  for (int64_t t = 0; t < n; t++) {
    int64_t i = t / d->O, o = t % d->O;
    float *a = nchw + (i * d->O + o) * d->P, *b = st + o * cols + i * d->P;
    if (to_stage)
      memcpy(b, a, (size_t)d->P * sizeof(float));
    else
      memcpy(a, b, (size_t)d->P * sizeof(float));
  }
}

static void gemm(int par, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (par)
    cpu_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  else
    cpu_gemm_serial(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* One chunk of images [n0, n0 + nb) of each pass; `par`: split the work across threads. */
static void fwd_chunk(const conv_dims *d, const cpu_conv_plan *p, const float *x, const float *w,
                      float *y, int64_t n0, int64_t nb, float *ws, int par) {
  int64_t xs = d->C * d->H * d->W, ys = d->O * d->P;
  if (p->chunk == 1) {
    const float *col = x + n0 * xs;
    if (!p->direct) im2col(d, x + n0 * xs, ws, d->P, par), col = ws;
    gemm(par, NT, NT, d->O, d->P, d->CKK, w, d->CKK, col, d->P, 0.0f, y + n0 * ys, d->P);
    return;
  }
  int64_t cols = nb * d->P;
  float *col = ws, *st = ws + d->CKK * p->chunk * d->P;
  for (int64_t i = 0; i < nb; i++) im2col(d, x + (n0 + i) * xs, col + i * d->P, cols, par);
  gemm(par, NT, NT, d->O, cols, d->CKK, w, d->CKK, col, cols, 0.0f, st, cols);
  stage(d, nb, y + n0 * ys, st, 0, par);
}

static void data_chunk(const conv_dims *d, const cpu_conv_plan *p, const float *dy, const float *w,
                       float *dx, int64_t n0, int64_t nb, float *ws, int par) {
  int64_t xs = d->C * d->H * d->W, ys = d->O * d->P;
  if (p->chunk == 1) {
    if (p->direct) {
      gemm(par, TR, NT, d->CKK, d->P, d->O, w, d->CKK, dy + n0 * ys, d->P, 0.0f, dx + n0 * xs,
           d->P);
    } else {
      gemm(par, TR, NT, d->CKK, d->P, d->O, w, d->CKK, dy + n0 * ys, d->P, 0.0f, ws, d->P);
      col2im(d, ws, d->P, dx + n0 * xs, par);
    }
    return;
  }
  int64_t cols = nb * d->P;
  float *dcol = ws, *st = ws + d->CKK * p->chunk * d->P;
  stage(d, nb, (float *)dy + n0 * ys, st, 1, par);
  gemm(par, TR, NT, d->CKK, cols, d->O, w, d->CKK, st, cols, 0.0f, dcol, cols);
  for (int64_t i = 0; i < nb; i++) col2im(d, dcol + i * d->P, cols, dx + (n0 + i) * xs, par);
}

/* dw (+)= this chunk's contribution; beta 0 starts the sum. */
static void filter_chunk(const conv_dims *d, const cpu_conv_plan *p, const float *x,
                         const float *dy, float *dw, float beta, int64_t n0, int64_t nb, float *ws,
                         int par) {
  int64_t xs = d->C * d->H * d->W, ys = d->O * d->P;
  if (p->chunk == 1) {
    const float *col = x + n0 * xs;
    if (!p->direct) im2col(d, x + n0 * xs, ws, d->P, par), col = ws;
    gemm(par, NT, TR, d->O, d->CKK, d->P, dy + n0 * ys, d->P, col, d->P, beta, dw, d->CKK);
    return;
  }
  int64_t cols = nb * d->P;
  float *col = ws, *st = ws + d->CKK * p->chunk * d->P;
  for (int64_t i = 0; i < nb; i++) im2col(d, x + (n0 + i) * xs, col + i * d->P, cols, par);
  stage(d, nb, (float *)dy + n0 * ys, st, 1, par);
  gemm(par, NT, TR, d->O, d->CKK, cols, st, cols, col, cols, beta, dw, d->CKK);
}

static inline int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static inline int64_t chunk_len(const conv_dims *d, const cpu_conv_plan *p, int64_t c) {
  int64_t n0 = c * p->chunk;
  return d->N - n0 < p->chunk ? d->N - n0 : p->chunk;
}

void cpu_conv2d(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  cpu_blas_single();
  const float *x = cpu_ptr(l->in[0]), *w = cpu_ptr(l->in[1]);
  float *y = cpu_ptr(l->out);
  int64_t nch = (d.N + p->chunk - 1) / p->chunk;
  if (p->threads > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(p->threads) schedule(dynamic, 1)
#endif
    for (int64_t c = 0; c < nch; c++)
      fwd_chunk(&d, p, x, w, y, c * p->chunk, chunk_len(&d, p, c), ws + thread_id() * p->slice, 0);
    return;
  }
  for (int64_t c = 0; c < nch; c++)
    fwd_chunk(&d, p, x, w, y, c * p->chunk, chunk_len(&d, p, c), ws, 1);
}

void cpu_conv2d_bwd_data(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  cpu_blas_single();
  const float *dy = cpu_ptr(l->in[0]), *w = cpu_ptr(l->in[1]);
  float *dx = cpu_ptr(l->out);
  int64_t nch = (d.N + p->chunk - 1) / p->chunk;
  if (p->threads > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(p->threads) schedule(dynamic, 1)
#endif
    for (int64_t c = 0; c < nch; c++)
      data_chunk(&d, p, dy, w, dx, c * p->chunk, chunk_len(&d, p, c), ws + thread_id() * p->slice,
                 0);
    return;
  }
  for (int64_t c = 0; c < nch; c++)
    data_chunk(&d, p, dy, w, dx, c * p->chunk, chunk_len(&d, p, c), ws, 1);
}

void cpu_conv2d_bwd_filter(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  cpu_blas_single();
  const float *x = cpu_ptr(l->in[0]), *dy = cpu_ptr(l->in[1]);
  float *dw = cpu_ptr(l->out);
  int64_t nch = (d.N + p->chunk - 1) / p->chunk, nw = d.O * d.CKK;
  if (d.N == 0) {
    memset(dw, 0, (size_t)nw * sizeof(float));
    return;
  }
  if (p->threads > 1) {
    /* Each thread sums its chunks (a fixed round-robin share) into the partial at the end of
     * its slice; the partials are then added in thread order. */
    size_t part = p->slice - (size_t)nw;
#ifdef _OPENMP
#pragma omp parallel num_threads(p->threads)
#endif
    {
      int t = thread_id();
#ifdef _OPENMP
      int team = omp_get_num_threads();
#else
      int team = 1;
#endif
      float *slice = ws + (size_t)t * p->slice, *acc = slice + part;
      memset(acc, 0, (size_t)nw * sizeof(float));
#ifdef _OPENMP
#pragma omp for schedule(static, 1)
#endif
      for (int64_t c = 0; c < nch; c++)
        filter_chunk(&d, p, x, dy, acc, 1.0f, c * p->chunk, chunk_len(&d, p, c), slice, 0);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t i = 0; i < nw; i++) {
        float s = 0.0f;
        for (int k = 0; k < team; k++) s += ws[(size_t)k * p->slice + part + (size_t)i];
        dw[i] = s;
      }
    }
    return;
  }
  for (int64_t c = 0; c < nch; c++)
    filter_chunk(&d, p, x, dy, dw, c ? 1.0f : 0.0f, c * p->chunk, chunk_len(&d, p, c), ws, 1);
}
