/* im2col / col2im for one image; the GEMMs around them run in CLBlast.
 * meta: C, H, W, KH, KW, OH, OW, stride_h, stride_w, pad_h, pad_w.
 * col is [C*KH*KW, OH*OW], row-major, rows ordered (c, kh, kw) like the filter. */

__kernel void gs_im2col(__global float *col, __global const float *x, int xo,
                        __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int C = m[0], H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int i = get_global_id(0);
  int npix = OH * OW;
  if (i >= C * KH * KW * npix) return;
  int p = i % npix, row = i / npix;
  int ow = p % OW, oh = p / OW;
  int kw = row % KW, kh = (row / KW) % KH, c = row / (KW * KH);
  int h = oh * sh - ph + kh, w = ow * sw - pw + kw;
  col[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[xo + (c * H + h) * W + w] : 0.0f;
}

/* dx[c, h, w] = sum of the col entries that im2col copied from (c, h, w). */
__kernel void gs_col2im(__global float *dx, int dxo, __global const float *col,
                        __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int C = m[0], H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int i = get_global_id(0);
  if (i >= C * H * W) return;
  int w = i % W, h = (i / W) % H, c = i / (W * H);
  float acc = 0.0f;
  int oh0, oh1, ow0, ow1;
  gs_covering(h, KH, sh, ph, OH, &oh0, &oh1);
  gs_covering(w, KW, sw, pw, OW, &ow0, &ow1);
  for (int oh = oh0; oh <= oh1; oh++) {
    int kh = h + ph - oh * sh;
    for (int ow = ow0; ow <= ow1; ow++) {
      int kw = w + pw - ow * sw;
      acc += col[((c * KH + kh) * KW + kw) * OH * OW + oh * OW + ow];
    }
  }
  dx[dxo + i] = acc;
}
