/* Convolution over a chunk of images as GEMMs in pixel-major layout: im2col writes one row per
 * output pixel of every image of the chunk (colT[n*OH*OW + p][c*KH*KW + kh*KW + kw]), so the
 * products are tall and skinny with every operand dense (see lower_conv in ocl_prog.c).
 * meta: C, H, W, KH, KW, OH, OW, stride_h, stride_w, pad_h, pad_w. */

/* One work-item per (row, channel): the KH x KW window of that channel, contiguous in colT. */
__kernel void gs_im2col(__global float *col, int colo, __global const float *x, int xo,
                        __global const int *meta, int mo, int nimg) {
  __global const int *m = meta + mo;
  int C = m[0], H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int npix = OH * OW;
  int i = get_global_id(0);
  if (i >= nimg * npix * C) return;
  int c = i % C, q = i / C;
  int p = q % npix, n = q / npix;
  int ow = p % OW, oh = p / OW;
  __global float *dst = col + colo + i * KH * KW;
  __global const float *src = x + xo + (n * C + c) * H * W;
  int h0 = oh * sh - ph, w0 = ow * sw - pw;
  for (int kh = 0; kh < KH; kh++) {
    int h = h0 + kh;
    for (int kw = 0; kw < KW; kw++) {
      int w = w0 + kw;
      dst[kh * KW + kw] = (h >= 0 && h < H && w >= 0 && w < W) ? src[h * W + w] : 0.0f;
    }
  }
}

/* dx[n, c, h, w] = sum of the colT entries that im2col copied from (n, c, h, w). */
__kernel void gs_col2im(__global float *dx, int dxo, __global const float *col, int colo,
                        __global const int *meta, int mo, int nimg) {
  __global const int *m = meta + mo;
  int C = m[0], H = m[1], W = m[2], KH = m[3], KW = m[4], OH = m[5], OW = m[6];
  int sh = m[7], sw = m[8], ph = m[9], pw = m[10];
  int ckk = C * KH * KW;
  int i = get_global_id(0);
  if (i >= nimg * C * H * W) return;
  int w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
  __global const float *cn = col + colo + n * OH * OW * ckk;
  float acc = 0.0f;
  int oh0, oh1, ow0, ow1;
  gs_covering(h, KH, sh, ph, OH, &oh0, &oh1);
  gs_covering(w, KW, sw, pw, OW, &ow0, &ow1);
  for (int oh = oh0; oh <= oh1; oh++) {
    int kh = h + ph - oh * sh;
    for (int ow = ow0; ow <= ow1; ow++) {
      int kw = w + pw - ow * sw;
      acc += cn[(oh * OW + ow) * ckk + (c * KH + kh) * KW + kw];
    }
  }
  dx[dxo + i] = acc;
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
