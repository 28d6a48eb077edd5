/* Elementwise families: fill, unary, unary backward, broadcasting binary, axpby, strided copy. */

__kernel void gs_fill(__global float *y, int yo, int n, float v) {
  int i = get_global_id(0);
  if (i < n) y[yo + i] = v;
}

/* fn numbers follow gs_unary in op.h. */
inline float gs_unary_f(int fn, float x, float a, float b) {
  switch (fn) {
  case 0: return a * x + b;
  case 1: return exp(x);
  case 2: return log(x);
  case 3: return sqrt(x);
  case 4: return rsqrt(x);
  case 5: return x * x;
  case 6: return fabs(x);
  case 7: return x > 0.0f ? x : 0.0f;
  case 8: return 1.0f / (1.0f + exp(-x));
  case 9: return tanh(x);
  case 10: return 1.0f / x;
  }
  return 0.0f;
}

__kernel void gs_unary(__global float *y, int yo, __global const float *x, int xo, int n, int fn,
                       float a, float b) {
  int i = get_global_id(0);
  if (i < n) y[yo + i] = gs_unary_f(fn, x[xo + i], a, b);
}

__kernel void gs_unary_bwd(__global float *dx, int dxo, __global const float *xs, int xo,
                           __global const float *ys, int yo, __global const float *dys, int dyo,
                           int n, int fn, float a, float b) {
  int i = get_global_id(0);
  if (i >= n) return;
  float x = xs[xo + i], y = ys[yo + i], dy = dys[dyo + i], r = 0.0f;
  switch (fn) {
  case 0: r = a * dy; break;
  case 1: r = dy * y; break;
  case 2: r = dy / x; break;
  case 3: r = dy * 0.5f / y; break;
  case 4: r = -0.5f * dy * y * y * y; break;
  case 5: r = 2.0f * x * dy; break;
  case 6: r = x > 0.0f ? dy : (x < 0.0f ? -dy : 0.0f); break;
  case 7: r = x > 0.0f ? dy : 0.0f; break;
  case 8: r = dy * y * (1.0f - y); break;
  case 9: r = dy * (1.0f - y * y); break;
  case 10: r = -dy * y * y; break;
  }
  dx[dxo + i] = r;
}

/* meta: rank, dims[6] (out), a strides[6], b strides[6] (0 along broadcast dims). A 3-D range
 * (see gs_nd3_off); d0 and d1 are the extents of its first two dims. */
__kernel void gs_binary(__global float *y, int yo, __global const float *a, int ao,
                        __global const float *b, int bo, __global const int *meta, int mo, int d0,
                        int d1, int op) {
  int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *m = meta + mo;
  int rank = m[0];
  float u = a[ao + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + GS_MAXR)];
  float v = b[bo + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + 2 * GS_MAXR)];
  float r = 0.0f;
  switch (op) {
  case 0: r = u + v; break;
  case 1: r = u - v; break;
  case 2: r = u * v; break;
  case 3: r = u / v; break;
  case 4: r = fmax(u, v); break;
  case 5: r = fmin(u, v); break;
  case 6: r = u == v ? 1.0f : 0.0f; break;
  case 7: r = u > v ? 1.0f : 0.0f; break;
  }
  y[yo + (i2 * d1 + i1) * d0 + i0] = r;
}

__kernel void gs_axpby(__global float *y, int yo, __global const float *a, int ao,
                       __global const float *b, int bo, int n, float alpha, float beta) {
  int i = get_global_id(0);
  if (i < n) y[yo + i] = alpha * a[ao + i] + beta * b[bo + i];
}

/* Strided copy of 32-bit words (f32 or i32, bit-exact): iterates over dims, reading with src
 * strides and writing with dst strides. EXPAND, PERMUTE, SLICE and INSERT are all this kernel.
 * meta: rank, dims[6], src strides[6], dst strides[6]; a 3-D range as gs_binary's. */
__kernel void gs_copy_nd(__global uint *dst, int dso, __global const uint *src, int so,
                         __global const int *meta, int mo, int d0, int d1) {
  int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *m = meta + mo;
  int rank = m[0];
  dst[dso + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + 2 * GS_MAXR)] =
      src[so + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + GS_MAXR)];
}
