/* Convolution as GEMM: im2col + sgemm forward, sgemm + col2im for the data gradient, and sgemm
 * accumulating over the batch for the filter gradient. 1x1 stride-1 unpadded convolutions use
 * the input itself as the column matrix.
 *
 * Small feature maps make thin GEMMs (a 4x4 map gives N = 16 per image), which OpenBLAS runs
 * far below its peak. The plan therefore groups `chunk` images into one GEMM of about
 * CPU_CONV_COLS columns, staging the output (or dy) through the workspace, whose size is fixed
 * at compile time so nothing is allocated while a program runs. */
#include "cpu_internal.h"

#include <cblas.h>
#include <string.h>

#define CPU_CONV_COLS 2048
#define CPU_CONV_WS_MAX ((size_t)64 << 20) /* bytes of workspace one convolution may plan */

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

void cpu_conv_make_plan(const gs_launch *l, cpu_conv_plan *p) {
  conv_dims d;
  conv_dims_of(l, &d);
  p->direct = d.KH == 1 && d.KW == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0;
  int64_t chunk = d.P >= CPU_CONV_COLS ? 1 : (CPU_CONV_COLS + d.P - 1) / d.P;
  if (chunk > d.N) chunk = d.N;
  if (chunk < 1) chunk = 1;
  while (chunk > 1 && (size_t)((d.CKK + d.O) * chunk * d.P) * sizeof(float) > CPU_CONV_WS_MAX)
    chunk--;
  p->chunk = chunk;
  if (chunk > 1)
    p->ws_floats = (size_t)((d.CKK + d.O) * chunk * d.P);
  else
    p->ws_floats = p->direct ? 0 : (size_t)(d.CKK * d.P);
}

/* col[r * ld + p] for r = (c, kh, kw), p = (oh, ow): the input cell under that kernel tap, or 0
 * in the padding. */
static void im2col(const conv_dims *d, const float *restrict x, float *restrict col, int64_t ld) {
  int64_t rows = d->CKK;
  CPU_PAR_FOR(rows * d->P)
  for (int64_t r = 0; r < rows; r++) {
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

/* dx = sum over taps of col (the inverse scatter of im2col). Threads own whole channels. */
static void col2im(const conv_dims *d, const float *restrict col, int64_t ld, float *restrict dx) {
  CPU_PAR_FOR(d->CKK * d->P)
  for (int64_t c = 0; c < d->C; c++) {
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

/* Copies [nb, O, P] image blocks to/from a [O, nb*P] staging matrix. */
static void stage(const conv_dims *d, int64_t nb, float *restrict nchw, float *restrict st,
                  int to_stage) {
  int64_t cols = nb * d->P;
  CPU_PAR_FOR(d->O * cols)
  for (int64_t t = 0; t < nb * d->O; t++) {
    int64_t i = t / d->O, o = t % d->O;
    float *a = nchw + (i * d->O + o) * d->P, *b = st + o * cols + i * d->P;
    if (to_stage)
      memcpy(b, a, (size_t)d->P * sizeof(float));
    else
      memcpy(a, b, (size_t)d->P * sizeof(float));
  }
}

static void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)N, (blasint)K, 1.0f, A, (blasint)lda, B,
              (blasint)ldb, beta, C, (blasint)ldc);
}

void cpu_conv2d(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  const float *x = cpu_ptr(l->in[0]), *w = cpu_ptr(l->in[1]);
  float *y = cpu_ptr(l->out);
  int64_t xs = d.C * d.H * d.W, ys = d.O * d.P;
  if (p->chunk == 1) {
    for (int64_t n = 0; n < d.N; n++) {
      const float *col = x + n * xs;
      if (!p->direct) im2col(&d, x + n * xs, ws, d.P), col = ws;
      gemm(CblasNoTrans, CblasNoTrans, d.O, d.P, d.CKK, w, d.CKK, col, d.P, 0.0f, y + n * ys, d.P);
    }
    return;
  }
  float *col = ws, *st = ws + d.CKK * p->chunk * d.P;
  for (int64_t n0 = 0; n0 < d.N; n0 += p->chunk) {
    int64_t nb = d.N - n0 < p->chunk ? d.N - n0 : p->chunk, cols = nb * d.P;
    for (int64_t i = 0; i < nb; i++) im2col(&d, x + (n0 + i) * xs, col + i * d.P, cols);
    gemm(CblasNoTrans, CblasNoTrans, d.O, cols, d.CKK, w, d.CKK, col, cols, 0.0f, st, cols);
    stage(&d, nb, y + n0 * ys, st, 0);
  }
}

void cpu_conv2d_bwd_data(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  const float *dy = cpu_ptr(l->in[0]), *w = cpu_ptr(l->in[1]);
  float *dx = cpu_ptr(l->out);
  int64_t xs = d.C * d.H * d.W, ys = d.O * d.P;
  if (p->chunk == 1) {
    for (int64_t n = 0; n < d.N; n++) {
      if (p->direct) {
        gemm(CblasTrans, CblasNoTrans, d.CKK, d.P, d.O, w, d.CKK, dy + n * ys, d.P, 0.0f,
             dx + n * xs, d.P);
      } else {
        gemm(CblasTrans, CblasNoTrans, d.CKK, d.P, d.O, w, d.CKK, dy + n * ys, d.P, 0.0f, ws, d.P);
        col2im(&d, ws, d.P, dx + n * xs);
      }
    }
    return;
  }
  float *dcol = ws, *st = ws + d.CKK * p->chunk * d.P;
  for (int64_t n0 = 0; n0 < d.N; n0 += p->chunk) {
    int64_t nb = d.N - n0 < p->chunk ? d.N - n0 : p->chunk, cols = nb * d.P;
    stage(&d, nb, (float *)dy + n0 * ys, st, 1);
    gemm(CblasTrans, CblasNoTrans, d.CKK, cols, d.O, w, d.CKK, st, cols, 0.0f, dcol, cols);
    for (int64_t i = 0; i < nb; i++) col2im(&d, dcol + i * d.P, cols, dx + (n0 + i) * xs);
  }
}

void cpu_conv2d_bwd_filter(const gs_launch *l, const cpu_conv_plan *p, float *ws) {
  conv_dims d;
  conv_dims_of(l, &d);
  const float *x = cpu_ptr(l->in[0]), *dy = cpu_ptr(l->in[1]);
  float *dw = cpu_ptr(l->out);
  int64_t xs = d.C * d.H * d.W, ys = d.O * d.P;
  if (d.N == 0) {
    memset(dw, 0, (size_t)(d.O * d.CKK) * sizeof(float));
    return;
  }
  if (p->chunk == 1) {
    for (int64_t n = 0; n < d.N; n++) {
      const float *col = x + n * xs;
      if (!p->direct) im2col(&d, x + n * xs, ws, d.P), col = ws;
      gemm(CblasNoTrans, CblasTrans, d.O, d.CKK, d.P, dy + n * ys, d.P, col, d.P, n ? 1.0f : 0.0f,
           dw, d.CKK);
    }
    return;
  }
  float *col = ws, *st = ws + d.CKK * p->chunk * d.P;
  for (int64_t n0 = 0; n0 < d.N; n0 += p->chunk) {
    int64_t nb = d.N - n0 < p->chunk ? d.N - n0 : p->chunk, cols = nb * d.P;
    for (int64_t i = 0; i < nb; i++) im2col(&d, x + (n0 + i) * xs, col + i * d.P, cols);
    stage(&d, nb, (float *)dy + n0 * ys, st, 1);
    gemm(CblasNoTrans, CblasTrans, d.O, d.CKK, cols, st, cols, col, cols, n0 ? 1.0f : 0.0f, dw,
         d.CKK);
  }
}
