/* Max and average pooling, forward and backward. Threads own whole (n, c) planes, so the
 * backward passes add overlapping windows' contributions without races. Padding never wins a
 * max; a window that lies wholly in the padding (possible only when pad >= window) gives 0 and
 * passes no gradient. */
#include "cpu_internal.h"

#include <math.h>
#include <string.h>

typedef struct pool_dims {
  int64_t planes, H, W, OH, OW, KH, KW, sh, sw, ph, pw;
} pool_dims;

static void pool_dims_of(const gs_launch *l, const gs_shape *x, const gs_shape *y, pool_dims *d) {
  d->planes = x->dim[0] * x->dim[1], d->H = x->dim[2], d->W = x->dim[3];
  d->OH = y->dim[2], d->OW = y->dim[3];
  d->KH = l->i[0], d->KW = l->i[1], d->sh = l->i[2], d->sw = l->i[3], d->ph = l->i[4],
  d->pw = l->i[5];
}

/* The window's valid input rows [h0, h1) and columns [w0, w1). */
static inline void window(const pool_dims *d, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1,
                          int64_t *w0, int64_t *w1) {
  int64_t hs = oh * d->sh - d->ph, ws = ow * d->sw - d->pw;
  *h0 = hs < 0 ? 0 : hs, *w0 = ws < 0 ? 0 : ws;
  *h1 = hs + d->KH > d->H ? d->H : hs + d->KH;
  *w1 = ws + d->KW > d->W ? d->W : ws + d->KW;
}

/* Index (in the plane) of the first maximum in row-major window order, or -1 if empty. */
static inline int64_t argmax(const pool_dims *d, const float *xp, int64_t oh, int64_t ow) {
  int64_t h0, h1, w0, w1, best = -1;
  window(d, oh, ow, &h0, &h1, &w0, &w1);
  float bv = 0.0f;
  for (int64_t h = h0; h < h1; h++)
    for (int64_t w = w0; w < w1; w++) {
      float v = xp[h * d->W + w];
      if (best < 0 || v > bv) bv = v, best = h * d->W + w;
    }
  return best;
}

/* The common 2x2, stride 2, unpadded window, written out: index (in the plane) of the first
 * maximum of the window whose top-left cell is (h, w). */
static inline int64_t argmax22(const float *xp, int64_t W, int64_t h, int64_t w) {
  int64_t a = h * W + w, best = a;
  if (xp[a + 1] > xp[best]) best = a + 1;
  if (xp[a + W] > xp[best]) best = a + W;
  if (xp[a + W + 1] > xp[best]) best = a + W + 1;
  return best;
}

static inline int is22(const pool_dims *d) {
  return d->KH == 2 && d->KW == 2 && d->sh == 2 && d->sw == 2 && d->ph == 0 && d->pw == 0;
}

void cpu_maxpool2d(const gs_launch *l) {
  pool_dims d;
  pool_dims_of(l, &l->in_desc[0].shape, &l->out_desc.shape, &d);
  const float *x = cpu_ptr(l->in[0]);
  float *y = cpu_ptr(l->out);
  CPU_PAR_FOR(d.planes * d.OH * d.OW * d.KH * d.KW)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *xp = x + p * d.H * d.W;
    float *yp = y + p * d.OH * d.OW;
    if (is22(&d)) {
      for (int64_t oh = 0; oh < d.OH; oh++)
        for (int64_t ow = 0; ow < d.OW; ow++) {
          const float *c = xp + 2 * oh * d.W + 2 * ow;
          float m0 = c[0] > c[1] ? c[0] : c[1], m1 = c[d.W] > c[d.W + 1] ? c[d.W] : c[d.W + 1];
          yp[oh * d.OW + ow] = m0 >= m1 ? m0 : m1;
        }
      continue;
    }
    for (int64_t oh = 0; oh < d.OH; oh++)
      for (int64_t ow = 0; ow < d.OW; ow++) {
        int64_t a = argmax(&d, xp, oh, ow);
        yp[oh * d.OW + ow] = a < 0 ? 0.0f : xp[a];
      }
  }
}

void cpu_maxpool2d_bwd(const gs_launch *l) {
  pool_dims d;
  pool_dims_of(l, &l->in_desc[0].shape, &l->in_desc[1].shape, &d);
  const float *x = cpu_ptr(l->in[0]), *dy = cpu_ptr(l->in[1]);
  float *dx = cpu_ptr(l->out);
  CPU_PAR_FOR(d.planes * d.OH * d.OW * d.KH * d.KW)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *xp = x + p * d.H * d.W, *dyp = dy + p * d.OH * d.OW;
    float *dxp = dx + p * d.H * d.W;
    if (is22(&d) && d.H == 2 * d.OH && d.W == 2 * d.OW) {
      /* The windows tile the plane: every cell is written once, in order, with its window's dy
       * or 0, so no clearing pass and no scattered stores. Same comparisons as argmax22. */
      for (int64_t oh = 0; oh < d.OH; oh++) {
        const float *r0 = xp + 2 * oh * d.W, *r1 = r0 + d.W;
        float *o0 = dxp + 2 * oh * d.W, *o1 = o0 + d.W;
        const float *g = dyp + oh * d.OW;
        for (int64_t ow = 0; ow < d.OW; ow++) {
          float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], e = r1[2 * ow + 1];
          int sel = 0;
          float best = a;
          if (b > best) sel = 1, best = b;
          if (c > best) sel = 2, best = c;
          if (e > best) sel = 3;
          float v = g[ow];
          o0[2 * ow] = sel == 0 ? v : 0.0f;
          o0[2 * ow + 1] = sel == 1 ? v : 0.0f;
          o1[2 * ow] = sel == 2 ? v : 0.0f;
          o1[2 * ow + 1] = sel == 3 ? v : 0.0f;
        }
      }
      continue;
    }
    memset(dxp, 0, (size_t)(d.H * d.W) * sizeof(float));
    if (is22(&d)) {
      /* windows do not overlap: each cell gets at most one contribution */
      for (int64_t oh = 0; oh < d.OH; oh++)
        for (int64_t ow = 0; ow < d.OW; ow++)
          dxp[argmax22(xp, d.W, 2 * oh, 2 * ow)] = dyp[oh * d.OW + ow];
      continue;
    }
    for (int64_t oh = 0; oh < d.OH; oh++)
      for (int64_t ow = 0; ow < d.OW; ow++) {
        int64_t a = argmax(&d, xp, oh, ow);
        if (a >= 0) dxp[a] += dyp[oh * d.OW + ow];
      }
  }
}

void cpu_avgpool2d(const gs_launch *l) {
  pool_dims d;
  pool_dims_of(l, &l->in_desc[0].shape, &l->out_desc.shape, &d);
  const float *x = cpu_ptr(l->in[0]);
  float *y = cpu_ptr(l->out);
  float inv = 1.0f / (float)(d.KH * d.KW);
  CPU_PAR_FOR(d.planes * d.OH * d.OW * d.KH * d.KW)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *xp = x + p * d.H * d.W;
    float *yp = y + p * d.OH * d.OW;
    for (int64_t oh = 0; oh < d.OH; oh++)
      for (int64_t ow = 0; ow < d.OW; ow++) {
        int64_t h0, h1, w0, w1;
        window(&d, oh, ow, &h0, &h1, &w0, &w1);
        float s = 0.0f;
        for (int64_t h = h0; h < h1; h++)
          for (int64_t w = w0; w < w1; w++) s += xp[h * d.W + w];
        yp[oh * d.OW + ow] = s * inv;
      }
  }
}

void cpu_avgpool2d_bwd(const gs_launch *l) {
  pool_dims d;
  pool_dims_of(l, &l->out_desc.shape, &l->in_desc[0].shape, &d);
  const float *dy = cpu_ptr(l->in[0]);
  float *dx = cpu_ptr(l->out);
  float inv = 1.0f / (float)(d.KH * d.KW);
  CPU_PAR_FOR(d.planes * d.OH * d.OW * d.KH * d.KW)
  for (int64_t p = 0; p < d.planes; p++) {
    const float *dyp = dy + p * d.OH * d.OW;
    float *dxp = dx + p * d.H * d.W;
    memset(dxp, 0, (size_t)(d.H * d.W) * sizeof(float));
    for (int64_t oh = 0; oh < d.OH; oh++)
      for (int64_t ow = 0; ow < d.OW; ow++) {
        int64_t h0, h1, w0, w1;
        window(&d, oh, ow, &h0, &h1, &w0, &w1);
        float g = dyp[oh * d.OW + ow] * inv;
        for (int64_t h = h0; h < h1; h++)
          for (int64_t w = w0; w < w1; w++) dxp[h * d.W + w] += g;
      }
  }
}
