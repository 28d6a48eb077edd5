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

/* The 3x3 kernels again for stride 1, padding 1 and a width that is a multiple of 8 (OH = H,
 * OW = W), with 8 neighbouring pixels of a row per work-item, range (W / 8, H, nimg*C), as the
 * element-wise kernels do: CPU devices do not turn one-float work-items into wide accesses. A
 * window column is then a source row vector shifted by one either way, its two neighbours
 * loaded apart (zero past the edges). */
/* Row sh of an H x W channel at columns w .. w + 7, with its neighbours w - 1 in *l and w + 8 in
 * *r: zero past the edges, all zero for a row outside the channel (the padding). */
inline float8 gs_row8(__global const float *src, int sh, int w, int H, int W, float *l, float *r) {
  *l = 0.0f;
  *r = 0.0f;
  if (sh < 0 || sh >= H) return (float8)(0.0f);
  __global const float *row = src + sh * W + w;
  if (w > 0) *l = row[-1];
  if (w + 8 < W) *r = row[8];
  return vload8(0, row);
}

#define GS_SHL(v, r) (float8)((v).s1, (v).s2, (v).s3, (v).s4, (v).s5, (v).s6, (v).s7, (r))
#define GS_SHR(l, v) (float8)((l), (v).s0, (v).s1, (v).s2, (v).s3, (v).s4, (v).s5, (v).s6)

__kernel void gs_im2col_3x3_v8(__global float *col, int colo, __global const float *x, int xo,
                               __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2];
  int w = get_global_id(0) * 8, h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  int npix = H * W;
  __global float *dst = col + colo + nc * 9 * npix + h * W + w;
  __global const float *src = x + xo + nc * npix;
  for (int kh = 0; kh < 3; kh++) {
    float l, r;
    float8 c = gs_row8(src, h + kh - 1, w, H, W, &l, &r);
    vstore8(GS_SHR(l, c), 0, dst + kh * 3 * npix);
    vstore8(c, 0, dst + (kh * 3 + 1) * npix);
    vstore8(GS_SHL(c, r), 0, dst + (kh * 3 + 2) * npix);
  }
}

/* gs_im2col_rows_3x3 likewise, range (W / 8, H, nimg): a work-item takes 8 pixels of a row
 * and every channel in turn, so each pixel's row of colT is written front to back. The
 * one-pixel-per-channel form gathered its reads and scattered its writes across work-items. */
__kernel void gs_im2col_rows_3x3_v8(__global float *col, int colo, __global const float *x, int xo,
                                    __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int C = m[0], H = m[1], W = m[2];
  int w = get_global_id(0) * 8, h = get_global_id(1), n = get_global_id(2);
  if (w >= W || h >= H) return;
  int len = C * 9;
  __global float *dst = col + colo + ((n * H + h) * W + w) * len;
  for (int c = 0; c < C; c++) {
    __global const float *src = x + xo + (n * C + c) * H * W;
    float a[3][10]; /* the window rows, with a neighbour either side */
    for (int kh = 0; kh < 3; kh++)
      vstore8(gs_row8(src, h + kh - 1, w, H, W, &a[kh][0], &a[kh][9]), 0, &a[kh][1]);
    for (int j = 0; j < 8; j++) {
      __global float *d = dst + j * len + c * 9;
      d[0] = a[0][j], d[1] = a[0][j + 1], d[2] = a[0][j + 2];
      d[3] = a[1][j], d[4] = a[1][j + 1], d[5] = a[1][j + 2];
      d[6] = a[2][j], d[7] = a[2][j + 1], d[8] = a[2][j + 2];
    }
  }
}

/* gs_col2im_3x3s1 likewise, summing in the same order (output row, then column, ascending). */
__kernel void gs_col2im_3x3_v8(__global float *dx, int dxo, __global const float *col, int colo,
                               __global const int *meta, int mo) {
  __global const int *m = meta + mo;
  int H = m[1], W = m[2];
  int w = get_global_id(0) * 8, h = get_global_id(1), nc = get_global_id(2);
  if (w >= W || h >= H) return;
  int npix = H * W;
  __global const float *cn = col + colo + nc * 9 * npix + w;
  float8 acc = 0.0f;
  for (int kh = 2; kh >= 0; kh--) {
    int oh = h + 1 - kh;
    if (oh < 0 || oh >= H) continue;
    __global const float *r2 = cn + (kh * 3 + 2) * npix + oh * W, *r1 = r2 - npix, *r0 = r1 - npix;
    acc += GS_SHR(w > 0 ? r2[-1] : 0.0f, vload8(0, r2)); /* kw 2: column w - 1 */
    acc += vload8(0, r1);                                 /* kw 1: column w */
    acc += GS_SHL(vload8(0, r0), w + 8 < W ? r0[8] : 0.0f); /* kw 0: column w + 1 */
  }
  vstore8(acc, 0, dx + dxo + (nc * H + h) * W + w);
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
