/* Pooling. Backward kernels gather over the windows that cover each input cell, so overlapping
 * windows add up without atomics and the result is deterministic; windows that tile the input
 * (stride = window, no padding) take gs_maxpool_bwd_tiled, which scatters each window's gradient
 * over its own cells. Every kernel is a 3-D range over (w, h, n*c) of its output, so indices
 * need no divisions. meta: NC, H, W, KH, KW, OH, OW, stride_h, stride_w, pad_h, pad_w. */

/* Row-major index (h * W + w) of the first maximum of window (oh, ow); padding never wins. */
inline int gs_pool_argmax(__global const float *x, int H, int W, int KH, int KW, int oh, int ow,
                          int sh, int sw, int ph, int pw) {
  int best = -1;
  float bv = 0.0f;
  for (int kh = 0; kh < KH; kh++) {
    int h = oh * sh - ph + kh;
    if (h < 0 || h >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      int w = ow * sw - pw + kw;
      if (w < 0 || w >= W) continue;
      float v = x[h * W + w];
      if (best < 0 || v > bv) {
        best = h * W + w;
        bv = v;
      }
    }
  }
  return best;
}

__kernel void gs_maxpool(__global float *y, int yo, __global const float *x, int xo,
                         __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH) return;
  __global const float *xp = x + xo + nc * H * W;
  int a = gs_pool_argmax(xp, H, W, KH, KW, oh, ow, m[7], m[8], m[9], m[10]);
  y[yo + (nc * OH + oh) * OW + ow] = a < 0 ? -INFINITY : xp[a];
}

__kernel void gs_maxpool_bwd(__global float *dx, int dxo, __global const float *x, int xo,
                             __global const float *dy, int dyo, __global const int *meta,
                             int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  __global const float *xp = x + xo + nc * H * W;
  float acc = 0.0f;
  int oh0, oh1, ow0, ow1;
  gs_covering(h, KH, sh, ph, OH, &oh0, &oh1);
  gs_covering(w, KW, sw, pw, OW, &ow0, &ow1);
  for (int oh = oh0; oh <= oh1; oh++) {
    for (int ow = ow0; ow <= ow1; ow++) {
      if (gs_pool_argmax(xp, H, W, KH, KW, oh, ow, sh, sw, ph, pw) == h * W + w)
        acc += dy[dyo + (nc * OH + oh) * OW + ow];
    }
  }
  dx[dxo + (nc * H + h) * W + w] = acc;
}

/* One work-item per window (ow, oh, nc) of a tiling: its cells, plus the rows and columns past
 * the last window when it is the last one, get the gradient at its maximum and 0 elsewhere. */
__kernel void gs_maxpool_bwd_tiled(__global float *dx, int dxo, __global const float *x, int xo,
                                   __global const float *dy, int dyo, __global const int *meta,
                                   int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH) return;
  __global const float *xp = x + xo + nc * H * W;
  int a = gs_pool_argmax(xp, H, W, KH, KW, oh, ow, KH, KW, 0, 0);
  float g = dy[dyo + (nc * OH + oh) * OW + ow];
  int h0 = oh * KH, h1 = oh == OH - 1 ? H : h0 + KH;
  int w0 = ow * KW, w1 = ow == OW - 1 ? W : w0 + KW;
  __global float *dp = dx + dxo + nc * H * W;
  for (int h = h0; h < h1; h++)
    for (int w = w0; w < w1; w++) dp[h * W + w] = h * W + w == a ? g : 0.0f;
}

__kernel void gs_avgpool(__global float *y, int yo, __global const float *x, int xo,
                         __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH) return;
  __global const float *xp = x + xo + nc * H * W;
  float acc = 0.0f;
  for (int kh = 0; kh < KH; kh++) {
    int h = oh * sh - ph + kh;
    if (h < 0 || h >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      int w = ow * sw - pw + kw;
      if (w >= 0 && w < W) acc += xp[h * W + w];
    }
  }
  y[yo + (nc * OH + oh) * OW + ow] = acc / (float)(KH * KW);
}

__kernel void gs_avgpool_bwd(__global float *dx, int dxo, __global const float *dy, int dyo,
                             __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  float acc = 0.0f;
  int oh0, oh1, ow0, ow1;
  gs_covering(h, KH, sh, ph, OH, &oh0, &oh1);
  gs_covering(w, KW, sw, pw, OW, &ow0, &ow1);
  for (int oh = oh0; oh <= oh1; oh++) {
    for (int ow = ow0; ow <= ow1; ow++) {
      acc += dy[dyo + (nc * OH + oh) * OW + ow];
    }
  }
  dx[dxo + (nc * H + h) * W + w] = acc / (float)(KH * KW);
}

/* 2x2 windows with stride 2 and no padding, the common case, with no loop (so CPU devices
 * vectorise the work-items): the first maximum of the window in row-major order, as
 * gs_pool_argmax finds it; *a gets its position 0..3. */
inline float gs_max2x2(__global const float *r0, int W, int *a) {
  float bv = r0[0], v;
  int k = 0;
  v = r0[1];
  k = v > bv ? 1 : k;
  bv = v > bv ? v : bv;
  v = r0[W];
  k = v > bv ? 2 : k;
  bv = v > bv ? v : bv;
  v = r0[W + 1];
  k = v > bv ? 3 : k;
  bv = v > bv ? v : bv;
  *a = k;
  return bv;
}

__kernel void gs_maxpool_2x2(__global float *y, int yo, __global const float *x, int xo,
                             __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], OH = m[5], OW = m[6];
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH) return;
  int a;
  y[yo + (nc * OH + oh) * OW + ow] = gs_max2x2(x + xo + (nc * H + 2 * oh) * W + 2 * ow, W, &a);
}

/* As gs_maxpool_bwd_tiled for 2x2 windows: a row or column left over past the last window
 * (odd H or W) gets zeros from the windows next to it. */
__kernel void gs_maxpool_bwd_2x2(__global float *dx, int dxo, __global const float *x, int xo,
                                 __global const float *dy, int dyo, __global const int *meta,
                                 int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], OH = m[5], OW = m[6];
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH) return;
  int a, cell = (nc * H + 2 * oh) * W + 2 * ow;
  gs_max2x2(x + xo + cell, W, &a);
  float g = dy[dyo + (nc * OH + oh) * OW + ow];
  __global float *d = dx + dxo + cell;
  d[0] = a == 0 ? g : 0.0f;
  d[1] = a == 1 ? g : 0.0f;
  d[W] = a == 2 ? g : 0.0f;
  d[W + 1] = a == 3 ? g : 0.0f;
  int last_w = ow == OW - 1 && W > 2 * OW, last_h = oh == OH - 1 && H > 2 * OH;
  if (last_w) d[2] = d[W + 2] = 0.0f;
  if (last_h) d[2 * W] = d[2 * W + 1] = 0.0f;
  if (last_w && last_h) d[2 * W + 2] = 0.0f;
}

/* 2x2 windows, 8 outputs per work-item with explicit 8- and 16-float loads and stores (CPU
 * devices do not turn neighbouring work-items into wide loads). The work-item (b, r, nc) reads
 * the windows' top cells as two runs of 8 floats at A and A + d, the bottom cells a row (W)
 * below, with A = (nc * H) * W + r * m[12] + 16 * b, and writes outputs from
 * (nc * OH) * OW + r * m[13] + 8 * b. Rows of 8 outputs or more: d = 8 and r the output row;
 * rows of 4 outputs (W = 8): d = 2 W and r a pair of output rows. meta[11] = d. */
inline float8 gs_max2x2_x8(float8 tl, float8 tr, float8 bl, float8 br, int8 *k) {
  float8 bv = tl, v = tr;
  int8 kk = 0, gt = isgreater(v, bv);
  kk = select(kk, (int8)1, gt);
  bv = select(bv, v, gt);
  v = bl;
  gt = isgreater(v, bv);
  kk = select(kk, (int8)2, gt);
  bv = select(bv, v, gt);
  v = br;
  gt = isgreater(v, bv);
  kk = select(kk, (int8)3, gt);
  bv = select(bv, v, gt);
  *k = kk;
  return bv;
}

__kernel void gs_maxpool_2x2_x8(__global float *y, int yo, __global const float *x, int xo,
                                __global const int *meta, int mo, int nb, int nr) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], OH = m[5], OW = m[6], d = m[11];
  int b = get_global_id(0), r = get_global_id(1), nc = get_global_id(2);
  if (b >= nb || r >= nr) return;
  __global const float *a = x + xo + nc * H * W + r * m[12] + 16 * b;
  float16 t = (float16)(vload8(0, a), vload8(0, a + d));
  float16 u = (float16)(vload8(0, a + W), vload8(0, a + d + W));
  int8 k;
  float8 v = gs_max2x2_x8(t.even, t.odd, u.even, u.odd, &k);
  vstore8(v, 0, y + yo + nc * OH * OW + r * m[13] + 8 * b);
}

/* As gs_maxpool_bwd_2x2, for windows that tile the input exactly (H = 2 OH, W = 2 OW). */
__kernel void gs_maxpool_bwd_2x2_x8(__global float *dx, int dxo, __global const float *x, int xo,
                                    __global const float *dy, int dyo, __global const int *meta,
                                    int mo, int nb, int nr) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], OH = m[5], OW = m[6], d = m[11];
  int b = get_global_id(0), r = get_global_id(1), nc = get_global_id(2);
  if (b >= nb || r >= nr) return;
  int ai = nc * H * W + r * m[12] + 16 * b;
  __global const float *a = x + xo + ai;
  float16 t = (float16)(vload8(0, a), vload8(0, a + d));
  float16 u = (float16)(vload8(0, a + W), vload8(0, a + d + W));
  int8 k;
  gs_max2x2_x8(t.even, t.odd, u.even, u.odd, &k);
  float8 g = vload8(0, dy + dyo + nc * OH * OW + r * m[13] + 8 * b), z = 0.0f;
  float8 tl = select(z, g, k == 0), tr = select(z, g, k == 1);
  float8 bl = select(z, g, k == 2), br = select(z, g, k == 3);
  float16 dt = (float16)(tl.s0, tr.s0, tl.s1, tr.s1, tl.s2, tr.s2, tl.s3, tr.s3, tl.s4, tr.s4,
                         tl.s5, tr.s5, tl.s6, tr.s6, tl.s7, tr.s7);
  float16 db = (float16)(bl.s0, br.s0, bl.s1, br.s1, bl.s2, br.s2, bl.s3, br.s3, bl.s4, br.s4,
                         bl.s5, br.s5, bl.s6, br.s6, bl.s7, br.s7);
  __global float *o = dx + dxo + ai;
  vstore8(dt.lo, 0, o);
  vstore8(dt.hi, 0, o + d);
  vstore8(db.lo, 0, o + W);
  vstore8(db.hi, 0, o + d + W);
}
