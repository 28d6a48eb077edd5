/* Elementwise families: fill, unary, unary backward, broadcasting binary, axpby, strided copy. */

/* Each work-item of the flat element-wise kernels takes 8 consecutive elements, with explicit
 * vector loads and stores: CPU devices (PoCL) do not turn one-float work-items into wide memory
 * accesses, and these kernels ran at a third of the memory's speed that way; on GPUs a 32-byte
 * access per work-item coalesces as well. The work-item holding the end of the array, when n is
 * not a multiple of 8, takes its elements one at a time. Offsets need no alignment: vload8 and
 * vstore8 need only that of a float. EXPR is written once for float and float8 alike. */
#define GS_FLAT8(body8, body1)                                                                    \
  int i = get_global_id(0) * 8;                                                                   \
  if (i + 8 <= n) {                                                                               \
    body8;                                                                                        \
  } else {                                                                                        \
    for (; i < n; i++) {                                                                          \
      body1;                                                                                      \
    }                                                                                             \
  }

__kernel void gs_fill(__global float *y, int yo, int n, float v) {
  GS_FLAT8(vstore8((float8)(v), 0, y + yo + i), y[yo + i] = v)
}

/* One kernel per function (the suffix is its number in op.h's gs_unary, gs_binary): a switch
 * on a uniform argument would cost every element a branch. */
#define GS_UNARY(k, expr)                                                                         \
  __kernel void gs_unary_##k(__global float *y, int yo, __global const float *xs, int xo, int n,  \
                             float a, float b) {                                                  \
    GS_FLAT8(float8 x = vload8(0, xs + xo + i); vstore8((expr), 0, y + yo + i),                   \
             float x = xs[xo + i];                                                                \
             y[yo + i] = (expr))                                                                  \
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

/* dx from x (forward input), y (forward output) and dy. On float8 values ?: selects per lane. */
#define GS_UNARY_BWD(k, expr)                                                                     \
  __kernel void gs_unary_bwd_##k(__global float *dx, int dxo, __global const float *xs, int xo,   \
                                 __global const float *ys, int yo, __global const float *dys,     \
                                 int dyo, int n, float a, float b) {                              \
    (void)b;                                                                                      \
    GS_FLAT8(float8 x = vload8(0, xs + xo + i); float8 y = vload8(0, ys + yo + i);                \
             float8 dy = vload8(0, dys + dyo + i); (void)x; (void)y;                              \
             vstore8((expr), 0, dx + dxo + i),                                                    \
             float x = xs[xo + i];                                                                \
             float y = ys[yo + i]; float dy = dys[dyo + i]; (void)x; (void)y;                     \
             dx[dxo + i] = (expr))                                                                \
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

/* meta: rank, dims[6] (out), a strides[6], b strides[6] (0 along broadcast dims), walked by a
 * 3-D range (see gs_off3); d0 and d1 are the extents of its first two dims. gs_binary_K takes
 * rank 3, whose innermost strides are 0 or 1 (the host merges and drops dims so), and walks
 * the innermost dim 8 elements per work-item as the flat kernels do; gs_binary_nd_K takes
 * higher ranks, one element per work-item. */
#define GS_BINARY3(k, expr)                                                                       \
  __kernel void gs_binary_##k(__global float *y, int yo, __global const float *a, int ao,         \
                              __global const float *b, int bo, __global const int *meta, int mo,  \
                              int d0, int d1) {                                                   \
    int i0 = get_global_id(0) * 8, i1 = get_global_id(1), i2 = get_global_id(2);                  \
    if (i0 >= d0 || i1 >= d1) return;                                                             \
    __global const int *sa = meta + mo + 1 + GS_MAXR, *sb = sa + GS_MAXR;                         \
    int oa = ao + gs_off3(i0, i1, i2, sa), ob = bo + gs_off3(i0, i1, i2, sb);                     \
    int oy = yo + (i2 * d1 + i1) * d0 + i0;                                                       \
    if (i0 + 8 <= d0) {                                                                           \
      float8 u = sa[2] ? vload8(0, a + oa) : (float8)(a[oa]);                                     \
      float8 v = sb[2] ? vload8(0, b + ob) : (float8)(b[ob]);                                     \
      vstore8((expr), 0, y + oy);                                                                 \
    } else {                                                                                      \
      for (int j = 0; i0 + j < d0; j++) {                                                         \
        float u = a[oa + j * sa[2]], v = b[ob + j * sb[2]];                                       \
        y[oy + j] = (expr);                                                                       \
      }                                                                                           \
    }                                                                                             \
  }
#define GS_BINARY_ND(k, expr)                                                                     \
  __kernel void gs_binary_nd_##k(__global float *y, int yo, __global const float *a, int ao,      \
                                 __global const float *b, int bo, __global const int *meta,       \
                                 int mo, int d0, int d1) {                                        \
    int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);                      \
    if (i0 >= d0 || i1 >= d1) return;                                                             \
    __global const int *m = meta + mo;                                                            \
    int rank = m[0];                                                                              \
    float u = a[ao + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + GS_MAXR)];                       \
    float v = b[bo + gs_nd3_off(i0, i1, i2, rank, m + 1, m + 1 + 2 * GS_MAXR)];                   \
    y[yo + (i2 * d1 + i1) * d0 + i0] = (expr);                                                    \
  }
#define GS_BINARY(k, expr) GS_BINARY3(k, expr) GS_BINARY_ND(k, expr)
GS_BINARY(0, u + v)
GS_BINARY(1, u - v)
GS_BINARY(2, u *v)
GS_BINARY(3, u / v)
GS_BINARY(4, fmax(u, v))
GS_BINARY(5, fmin(u, v))
GS_BINARY(6, u == v ? 1.0f : 0.0f)
GS_BINARY(7, u > v ? 1.0f : 0.0f)

__kernel void gs_axpby(__global float *y, int yo, __global const float *a, int ao,
                       __global const float *b, int bo, int n, float alpha, float beta) {
  GS_FLAT8(vstore8(alpha * vload8(0, a + ao + i) + beta * vload8(0, b + bo + i), 0, y + yo + i),
           y[yo + i] = alpha * a[ao + i] + beta * b[bo + i])
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

/* gs_copy_3d where the destination's innermost stride is 1 and the source's 0 or 1 (EXPAND,
 * SLICE, INSERT; not a PERMUTE of the innermost dim): 8 elements per work-item along it. */
__kernel void gs_copy_v8(__global uint *dst, int dso, __global const uint *src, int so,
                         __global const int *meta, int mo, int d0, int d1) {
  int i0 = get_global_id(0) * 8, i1 = get_global_id(1), i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *ss = meta + mo + 1 + GS_MAXR, *ds = ss + GS_MAXR;
  int os = so + gs_off3(i0, i1, i2, ss), od = dso + gs_off3(i0, i1, i2, ds);
  if (i0 + 8 <= d0)
    vstore8(ss[2] ? vload8(0, src + os) : (uint8)(src[os]), 0, dst + od);
  else
    for (int j = 0; i0 + j < d0; j++) dst[od + j] = src[os + j * ss[2]];
}

/* gs_copy_3d that swaps the two inner dims of dense tensors: each [d1][d0] matrix of the source
 * (rows of d0 words, both multiples of 8) becomes [d0][d1], as 8x8 blocks read and written 8
 * words at a time, where the scalar form reads or writes one word per work-item at a stride.
 * Range (d0 / 8, d1 / 8, d2); meta's strides give the outer dim's offsets. */
#define GS_COL8(k) (uint8)(r0.s##k, r1.s##k, r2.s##k, r3.s##k, r4.s##k, r5.s##k, r6.s##k, r7.s##k)
__kernel void gs_transpose8(__global uint *dst, int dso, __global const uint *src, int so,
                            __global const int *meta, int mo, int d0, int d1) {
  int i0 = get_global_id(0) * 8, i1 = get_global_id(1) * 8, i2 = get_global_id(2);
  if (i0 >= d0 || i1 >= d1) return;
  __global const int *ss = meta + mo + 1 + GS_MAXR, *ds = ss + GS_MAXR;
  __global const uint *s = src + so + i2 * ss[0] + i1 * d0 + i0;
  __global uint *d = dst + dso + i2 * ds[0] + i0 * d1 + i1;
  uint8 r0 = vload8(0, s), r1 = vload8(0, s + d0), r2 = vload8(0, s + 2 * d0),
        r3 = vload8(0, s + 3 * d0), r4 = vload8(0, s + 4 * d0), r5 = vload8(0, s + 5 * d0),
        r6 = vload8(0, s + 6 * d0), r7 = vload8(0, s + 7 * d0);
  vstore8(GS_COL8(0), 0, d);
  vstore8(GS_COL8(1), 0, d + d1);
  vstore8(GS_COL8(2), 0, d + 2 * d1);
  vstore8(GS_COL8(3), 0, d + 3 * d1);
  vstore8(GS_COL8(4), 0, d + 4 * d1);
  vstore8(GS_COL8(5), 0, d + 5 * d1);
  vstore8(GS_COL8(6), 0, d + 6 * d1);
  vstore8(GS_COL8(7), 0, d + 7 * d1);
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
