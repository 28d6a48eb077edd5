/* Elementwise families: fill, unary, unary backward, broadcasting binary, axpby, strided copy. */

__kernel void gs_fill(__global float *y, int yo, int n, float v) {
  int i = get_global_id(0);
  if (i < n) y[yo + i] = v;
}

/* One kernel per function (the suffix is its number in op.h's gs_unary, gs_binary): a switch
 * on a uniform argument keeps CPU devices from vectorising the work-items, which halved these
 * kernels' speed on PoCL. */
#define GS_UNARY(k, expr)                                                                         \
  __kernel void gs_unary_##k(__global float *y, int yo, __global const float *xs, int xo, int n,  \
                             float a, float b) {                                                  \
    int i = get_global_id(0);                                                                     \
    if (i >= n) return;                                                                           \
    float x = xs[xo + i];                                                                         \
    y[yo + i] = (expr);                                                                           \
  }
GS_UNARY(0, a *x + b)
GS_UNARY(1, exp(x))
GS_UNARY(2, log(x))
GS_UNARY(3, sqrt(x))
GS_UNARY(4, rsqrt(x))
GS_UNARY(5, x *x)
GS_UNARY(6, fabs(x))
GS_UNARY(7, x > 0.0f ? x : 0.0f)
GS_UNARY(8, 1.0f / (1.0f + exp(-x)))
GS_UNARY(9, tanh(x))
GS_UNARY(10, 1.0f / x)

/* dx from x (forward input), y (forward output) and dy. */
#define GS_UNARY_BWD(k, expr)                                                                     \
  __kernel void gs_unary_bwd_##k(__global float *dx, int dxo, __global const float *xs, int xo,   \
                                 __global const float *ys, int yo, __global const float *dys,     \
                                 int dyo, int n, float a, float b) {                              \
    int i = get_global_id(0);                                                                     \
    if (i >= n) return;                                                                           \
    float x = xs[xo + i], y = ys[yo + i], dy = dys[dyo + i];                                      \
    (void)x;                                                                                      \
    (void)y;                                                                                      \
    (void)b;                                                                                      \
    dx[dxo + i] = (expr);                                                                         \
  }
GS_UNARY_BWD(0, a *dy)
GS_UNARY_BWD(1, dy *y)
GS_UNARY_BWD(2, dy / x)
GS_UNARY_BWD(3, dy * 0.5f / y)
GS_UNARY_BWD(4, -0.5f * dy * y * y * y)
GS_UNARY_BWD(5, 2.0f * x * dy)
GS_UNARY_BWD(6, x > 0.0f ? dy : (x < 0.0f ? -dy : 0.0f))
GS_UNARY_BWD(7, x > 0.0f ? dy : 0.0f)
GS_UNARY_BWD(8, dy *y *(1.0f - y))
GS_UNARY_BWD(9, dy *(1.0f - y * y))
GS_UNARY_BWD(10, -dy * y * y)

/* meta: rank, dims[6] (out), a strides[6], b strides[6] (0 along broadcast dims). A 3-D range
 * (see gs_off3); d0 and d1 are the extents of its first two dims. gs_binary_K takes rank 3,
 * gs_binary_nd_K higher ranks. */
#define GS_BINARY_AT(name, OFF)                                                                   \
  __kernel void name(__global float *y, int yo, __global const float *a, int ao,                  \
                     __global const float *b, int bo, __global const int *meta, int mo, int d0,   \
                     int d1) {                                                                    \
    int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);                      \
    if (i0 >= d0 || i1 >= d1) return;                                                             \
    __global const int *m = meta + mo;                                                            \
    int rank = m[0];                                                                              \
    (void)rank;                                                                                   \
    float u = a[ao + OFF(m + 1 + GS_MAXR)];                                                       \
    float v = b[bo + OFF(m + 1 + 2 * GS_MAXR)];                                                   \
    y[yo + (i2 * d1 + i1) * d0 + i0] = GS_BINARY_EXPR;                                            \
  }
#define GS_OFF3(st) gs_off3(i0, i1, i2, st)
#define GS_OFFND(st) gs_nd3_off(i0, i1, i2, rank, m + 1, st)
#define GS_BINARY(k)                                                                              \
  GS_BINARY_AT(gs_binary_##k, GS_OFF3)                                                            \
  GS_BINARY_AT(gs_binary_nd_##k, GS_OFFND)
#define GS_BINARY_EXPR (u + v)
GS_BINARY(0)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR (u - v)
GS_BINARY(1)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR (u * v)
GS_BINARY(2)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR (u / v)
GS_BINARY(3)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR fmax(u, v)
GS_BINARY(4)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR fmin(u, v)
GS_BINARY(5)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR (u == v ? 1.0f : 0.0f)
GS_BINARY(6)
#undef GS_BINARY_EXPR
#define GS_BINARY_EXPR (u > v ? 1.0f : 0.0f)
GS_BINARY(7)
#undef GS_BINARY_EXPR

__kernel void gs_axpby(__global float *y, int yo, __global const float *a, int ao,
                       __global const float *b, int bo, int n, float alpha, float beta) {
  int i = get_global_id(0);
  if (i < n) y[yo + i] = alpha * a[ao + i] + beta * b[bo + i];
}

/* Strided copy of 32-bit words (f32 or i32, bit-exact): iterates over dims, reading with src
 * strides and writing with dst strides. EXPAND, PERMUTE, SLICE and INSERT are all this kernel.
 * meta: rank, dims[6], src strides[6], dst strides[6]; a 3-D range as gs_binary's, rank 3 in
 * gs_copy_3d, higher in gs_copy_nd. */
__kernel void gs_copy_3d(__global uint *dst, int dso, __global const uint *src, int so,
                         __global const int *meta, int mo, int d0, int d1) {
  int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *m = meta + mo;
  dst[dso + gs_off3(i0, i1, i2, m + 1 + 2 * GS_MAXR)] = src[so + gs_off3(i0, i1, i2, m + 1 + GS_MAXR)];
}

__kernel void gs_copy_nd(__global uint *dst, int dso, __global const uint *src, int so,
                         __global const int *meta, int mo, int d0, int d1) {
  int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *m = meta + mo;
  int rank = m[0];
  dst[dso + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + 2 * GS_MAXR)] =
      src[so + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + GS_MAXR)];
}
