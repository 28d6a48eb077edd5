/* Convolution over a chunk of images as GEMMs (see lower_conv in ocl_prog.c), with the im2col
 * matrices in one of two layouts:
 *   image-major  col[n][c*KH*KW + kh*KW + kw][oh*OW + ow]: the forward and data-gradient
 *                products, batched over images, read and write NCHW tensors directly;
 *   pixel-major  colT[n*OH*OW + p][c*KH*KW + kh*KW + kw]: the filter gradient, whose sum over
 *                every pixel of the chunk is one product with a long K.
 * Kernels walk 3-D ranges, so their indices need (almost) no divisions.
 * meta: C, H, W, KH, KW, OH, OW, stride_h, stride_w, pad_h, pad_w. */

/* Each im2col kernel comes twice: for any window (KH, KW from meta) and for 3x3 windows, whose
 * constant loops unroll, leaving no loop, so CPU devices vectorise the work-items (col2im's
 * 3x3 form also needs stride 1). */

/* Image-major, range (OW, OH, nimg*C): one work-item per (n, c, oh, ow) writes its KH*KW
 * entries, the neighbouring work-items' entries next to them. */
#define GS_IM2COL(name, KH_, KW_)                                                                 \
  __kernel void name(__global float *col, int colo, __global const float *x, int xo,              \
                     __global const int *meta, int mo) {                                          \
    __global const int *m = meta + mo;                                                            \
    int H = m[1], W = m[2], KH = KH_, KW = KW_, OH = m[5], OW = m[6];                             \
    int sh = m[7], sw = m[8], ph = m[9], pw = m[10];                                              \
    int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);                      \
    if (ow >= OW || oh >= OH) return;                                                             \
    int npix = OH * OW;                                                                           \
    __global float *dst = col + colo + nc * KH * KW * npix + oh * OW + ow;                        \
    __global const float *src = x + xo + nc * H * W;                                              \
    int h0 = oh * sh - ph, w0 = ow * sw - pw;                                                     \
    for (int kh = 0; kh < KH; kh++) {                                                             \
      int h = h0 + kh;                                                                            \
      for (int kw = 0; kw < KW; kw++) {                                                           \
        int w = w0 + kw;                                                                          \
        dst[(kh * KW + kw) * npix] =                                                              \
            (h >= 0 && h < H && w >= 0 && w < W) ? src[h * W + w] : 0.0f;                         \
      }                                                                                           \
    }                                                                                             \
  }
GS_IM2COL(gs_im2col, m[3], m[4])
GS_IM2COL(gs_im2col_3x3, 3, 3)

/* Pixel-major, range (C, OW, nimg*OH): one work-item per (row, channel) writes the KH x KW
 * window of that channel, contiguous in colT. */
#define GS_IM2COL_ROWS(name, KH_, KW_)                                                            \
  __kernel void name(__global float *col, int colo, __global const float *x, int xo,              \
                     __global const int *meta, int mo) {                                          \
    __global const int *m = meta + mo;                                                            \
    int C = m[0], H = m[1], W = m[2], KH = KH_, KW = KW_, OH = m[5], OW = m[6];                   \
    int sh = m[7], sw = m[8], ph = m[9], pw = m[10];                                              \
    int c = get_global_id(0), ow = get_global_id(1), z = get_global_id(2);                        \
    if (c >= C || ow >= OW) return;                                                               \
    int oh = z % OH, n = z / OH;                                                                  \
    __global float *dst = col + colo + ((z * OW + ow) * C + c) * KH * KW;                         \
    __global const float *src = x + xo + (n * C + c) * H * W;                                     \
    int h0 = oh * sh - ph, w0 = ow * sw - pw;                                                     \
    for (int kh = 0; kh < KH; kh++) {                                                             \
      int h = h0 + kh;                                                                            \
      for (int kw = 0; kw < KW; kw++) {                                                           \
        int w = w0 + kw;                                                                          \
        dst[kh * KW + kw] = (h >= 0 && h < H && w >= 0 && w < W) ? src[h * W + w] : 0.0f;        \
      }                                                                                           \
    }                                                                                             \
  }
GS_IM2COL_ROWS(gs_im2col_rows, m[3], m[4])
GS_IM2COL_ROWS(gs_im2col_rows_3x3, 3, 3)

/* dx[n, c, h, w] = sum of the image-major col entries that gs_im2col copied from (n, c, h, w);
 * range (W, H, nimg*C). */
__kernel void gs_col2im(__global float *dx, int dxo, __global const float *col, int colo,
                        __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  int npix = OH * OW;
  __global const float *cn = col + colo + nc * KH * KW * npix;
  float acc = 0.0f;
  int oh0, oh1, ow0, ow1;
  gs_covering(h, KH, sh, ph, OH, &oh0, &oh1);
  gs_covering(w, KW, sw, pw, OW, &ow0, &ow1);
  for (int oh = oh0; oh <= oh1; oh++) {
    int kh = h + ph - oh * sh;
    for (int ow = ow0; ow <= ow1; ow++) {
      int kw = w + pw - ow * sw;
      acc += cn[(kh * KW + kw) * npix + oh * OW + ow];
    }
  }
  dx[dxo + (nc * H + h) * W + w] = acc;
}

/* gs_col2im for 3x3 windows with stride 1: output (oh, ow) = (h + ph - kh, w + pw - kw), in the
 * same order of summation as gs_col2im (oh, then ow, ascending). */
__kernel void gs_col2im_3x3s1(__global float *dx, int dxo, __global const float *col, int colo,
                              __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2], OH = m[5], OW = m[6], ph = m[9], pw = m[10];
  int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  int npix = OH * OW;
  __global const float *cn = col + colo + nc * 9 * npix;
  float acc = 0.0f;
  for (int kh = 2; kh >= 0; kh--) {
    int oh = h + ph - kh;
    for (int kw = 2; kw >= 0; kw--) {
      int ow = w + pw - kw;
      if (oh >= 0 && oh < OH && ow >= 0 && ow < OW) acc += cn[(kh * 3 + kw) * npix + oh * OW + ow];
    }
  }
  dx[dxo + (nc * H + h) * W + w] = acc;
}

/* out[i] = sum over s < nparts of part[s * len + i] (+ out[i] when accumulate): the K-split
 * partial products of a filter gradient, added up. */
__kernel void gs_sum_parts(__global float *out, int oo, __global const float *part, int po,
                           int len, int nparts, int accumulate) {
  int i = get_global_id(0);
  if (i >= len) return;
  float acc = accumulate ? out[oo + i] : 0.0f;
  for (int s = 0; s < nparts; s++) acc += part[po + s * len + i];
  out[oo + i] = acc;
}
