/* C = op(A) op(B) + beta C, row-major, a batch of them along dimension 2 (element strides sa,
 * sb, sc; 0 shares an operand). op(A)[i][k] = ta ? a[k*lda + i] : a[i*lda + k], likewise B.
 * Each work-item computes one 4x16 tile of C with its accumulators in registers: on CPU devices
 * (PoCL) that is a vectorised micro-kernel, on GPUs a plain register-tiled GEMM. Tiles at the
 * edges and transposed B take the scalar path. */
#define GS_TM 4
#define GS_TN 16
__kernel void gs_gemm(__global float *c, int co, int ldc, int sc, __global const float *a, int ao,
                      int lda, int sa, __global const float *b, int bo, int ldb, int sb, int M,
                      int N, int K, int ta, int tb, float beta) {
  int j0 = get_global_id(0) * GS_TN, i0 = get_global_id(1) * GS_TM, z = get_global_id(2);
  if (i0 >= M || j0 >= N) return;
  a += ao + z * sa;
  b += bo + z * sb;
  c += co + z * sc;
  int ai = ta ? 1 : lda, ak = ta ? lda : 1;
  if (i0 + GS_TM <= M && j0 + GS_TN <= N && !tb) {
    float8 c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f, c20 = 0.0f, c21 = 0.0f, c30 = 0.0f,
           c31 = 0.0f;
    __global const float *ap = a + i0 * ai, *bp = b + j0;
    for (int k = 0; k < K; k++) {
      float8 b0 = vload8(0, bp), b1 = vload8(1, bp);
      float a0 = ap[0], a1 = ap[ai], a2 = ap[2 * ai], a3 = ap[3 * ai];
      c00 = fma((float8)a0, b0, c00);
      c01 = fma((float8)a0, b1, c01);
      c10 = fma((float8)a1, b0, c10);
      c11 = fma((float8)a1, b1, c11);
      c20 = fma((float8)a2, b0, c20);
      c21 = fma((float8)a2, b1, c21);
      c30 = fma((float8)a3, b0, c30);
      c31 = fma((float8)a3, b1, c31);
      ap += ak;
      bp += ldb;
    }
    __global float *cp = c + i0 * ldc + j0;
    if (beta != 0.0f) {
      c00 = fma((float8)beta, vload8(0, cp), c00);
      c01 = fma((float8)beta, vload8(1, cp), c01);
      c10 = fma((float8)beta, vload8(0, cp + ldc), c10);
      c11 = fma((float8)beta, vload8(1, cp + ldc), c11);
      c20 = fma((float8)beta, vload8(0, cp + 2 * ldc), c20);
      c21 = fma((float8)beta, vload8(1, cp + 2 * ldc), c21);
      c30 = fma((float8)beta, vload8(0, cp + 3 * ldc), c30);
      c31 = fma((float8)beta, vload8(1, cp + 3 * ldc), c31);
    }
    vstore8(c00, 0, cp);
    vstore8(c01, 1, cp);
    vstore8(c10, 0, cp + ldc);
    vstore8(c11, 1, cp + ldc);
    vstore8(c20, 0, cp + 2 * ldc);
    vstore8(c21, 1, cp + 2 * ldc);
    vstore8(c30, 0, cp + 3 * ldc);
    vstore8(c31, 1, cp + 3 * ldc);
    return;
  }
  /* Edge tiles and transposed B: the same register tile, its rows and columns clamped to the
   * matrix for loading (B gathered element by element) and only the cells inside it stored. */
  int bk = tb ? 1 : ldb, bj = tb ? ldb : 1;
  int im = min(GS_TM, M - i0), jm = min(GS_TN, N - j0);
  int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
  int8 o0 = min((int8)j0 + lane, (int8)(N - 1)) * bj;
  int8 o1 = min((int8)(j0 + 8) + lane, (int8)(N - 1)) * bj;
  __global const float *ap0 = a + i0 * ai, *ap1 = a + min(i0 + 1, M - 1) * ai,
                       *ap2 = a + min(i0 + 2, M - 1) * ai, *ap3 = a + min(i0 + 3, M - 1) * ai;
  float8 acc[GS_TM][2];
  for (int i = 0; i < GS_TM; i++) acc[i][0] = acc[i][1] = 0.0f;
  for (int k = 0; k < K; k++) {
    __global const float *bp = b + k * bk;
    float8 b0 = (float8)(bp[o0.s0], bp[o0.s1], bp[o0.s2], bp[o0.s3], bp[o0.s4], bp[o0.s5],
                         bp[o0.s6], bp[o0.s7]);
    float8 b1 = (float8)(bp[o1.s0], bp[o1.s1], bp[o1.s2], bp[o1.s3], bp[o1.s4], bp[o1.s5],
                         bp[o1.s6], bp[o1.s7]);
    float av[GS_TM] = {ap0[k * ak], ap1[k * ak], ap2[k * ak], ap3[k * ak]};
    for (int i = 0; i < GS_TM; i++) {
      acc[i][0] = fma((float8)av[i], b0, acc[i][0]);
      acc[i][1] = fma((float8)av[i], b1, acc[i][1]);
    }
  }
  for (int i = 0; i < im; i++) {
    float r[GS_TN];
    vstore8(acc[i][0], 0, r);
    vstore8(acc[i][1], 1, r);
    __global float *cp = c + (i0 + i) * ldc + j0;
    for (int j = 0; j < jm; j++) cp[j] = beta != 0.0f ? fma(beta, cp[j], r[j]) : r[j];
  }
}
