#version 450
// Tiled shared-memory GEMM, C[b] = A[b] * B[b], each thread computing a 4x4 block of a
// (4*TS) x (4*TS) output tile from TS-deep slices of A and B staged in shared memory. TS comes
// from the device limits (specialization constant 0); MODE (constant 1) picks how B's elements
// are fetched, which makes the same kernel an implicit-GEMM convolution with no im2col buffer:
//   0 strided matrix (MATMUL: transposes and batch-1 broadcast are strides)
//   1 conv forward:     B(k = (c,kh,kw), n = (oh,ow)) = x[b][c][oh*sh-ph+kh][ow*sw-pw+kw]
//   2 conv data grad:   B(k = (o,kh,kw), n = (h,w))   = dy[b][o][(h+ph-kh)/sh][(w+pw-kw)/sw]
//   3 conv filter grad: B(k = (img,oh,ow), n = (c,kh,kw)) = x[img][c][oh*sh-ph+kh][ow*sw-pw+kw]
// A(m, k) = A[offA + b*sAb + m*sAm + (k / KinA)*sAk2 + (k % KinA)*sAk], which folds the image
// index into K for the filter gradient and reorders the weights for the data gradient.
// Push words: 0 M, 1 N, 2 K, 3 batch, 4 offA, 5 offB, 6 offC, 7 sAb, 8 sAm, 9 sAk, 10 sAk2,
// 11 KinA, 12 sBb, 13 sBk, 14 sBn, 15 sCb, 16 sCm, 17 C, 18 H, 19 W, 20 OH, 21 OW, 22 KH, 23 KW,
// 24 stride_h, 25 stride_w, 26 pad_h, 27 pad_w.
#include "common.glsl"
layout(constant_id = 0) const uint TS = 16;
layout(constant_id = 1) const uint MODE = 0;
layout(local_size_x_id = 0, local_size_y_id = 0) in;

layout(std430, binding = 0) buffer B0 { float d[]; } ba;
layout(std430, binding = 1) buffer B1 { float d[]; } bb;
layout(std430, binding = 6) buffer BO { float d[]; } bc;

const uint BM = 4u * TS;
shared float As[TS * BM];
shared float Bs[TS * BM];

uint M, N, K;

float loadA(uint b, uint m, uint k) {
  if (m >= M || k >= K) return 0.0;
  uint kin = pc.u[11];
  return ba.d[pc.u[4] + b * pc.u[7] + m * pc.u[8] + (k / kin) * pc.u[10] + (k % kin) * pc.u[9]];
}

// x[img][c][ih][iw] of window offset (kh, kw) at output position (oh, ow), zero in the padding.
float conv_x(uint img, uint c, uint kh, uint kw, uint oh, uint ow) {
  int ih = int(oh * pc.u[24] + kh) - int(pc.u[26]);
  int iw = int(ow * pc.u[25] + kw) - int(pc.u[27]);
  uint H = pc.u[18], W = pc.u[19];
  if (ih < 0 || iw < 0 || ih >= int(H) || iw >= int(W)) return 0.0;
  return bb.d[pc.u[5] + img * pc.u[12] + (c * H + uint(ih)) * W + uint(iw)];
}

float loadB(uint b, uint k, uint n) {
  if (k >= K || n >= N) return 0.0;
  uint KH = pc.u[22], KW = pc.u[23], OW = pc.u[21], KK = KH * KW;
  if (MODE == 0u) {
    return bb.d[pc.u[5] + b * pc.u[12] + k * pc.u[13] + n * pc.u[14]];
  } else if (MODE == 1u) {
    uint c = k / KK, kk = k % KK;
    return conv_x(b, c, kk / KW, kk % KW, n / OW, n % OW);
  } else if (MODE == 2u) {
    uint o = k / KK, kk = k % KK, kh = kk / KW, kw = kk % KW;
    uint W = pc.u[19], OH = pc.u[20];
    int th = int(n / W + pc.u[26]) - int(kh), tw = int(n % W + pc.u[27]) - int(kw);
    int sh = int(pc.u[24]), sw = int(pc.u[25]);
    if (th < 0 || tw < 0 || th % sh != 0 || tw % sw != 0) return 0.0;
    uint oh = uint(th / sh), ow = uint(tw / sw);
    if (oh >= OH || ow >= OW) return 0.0;
    return bb.d[pc.u[5] + b * pc.u[12] + o * OH * OW + oh * OW + ow];
  } else {
    uint P = pc.u[20] * OW, img = k / P, p = k % P;
    uint c = n / KK, kk = n % KK;
    return conv_x(img, c, kk / KW, kk % KW, p / OW, p % OW);
  }
}

void main() {
  M = pc.u[0];
  N = pc.u[1];
  K = pc.u[2];
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, t = ty * TS + tx;
  uint b = gl_WorkGroupID.z;
  uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BM;
  float acc[4][4];
  for (uint i = 0; i < 4u; i++)
    for (uint j = 0; j < 4u; j++) acc[i][j] = 0.0;
  for (uint k0 = 0; k0 < K; k0 += TS) {
    // Each tile holds 4*TS*TS values: four per thread. A is stored k-major (As[kk*BM + mm]).
    for (uint r = 0; r < 4u; r++) {
      uint e = t + r * TS * TS;
      uint mm = e / TS, kk = e % TS;
      As[kk * BM + mm] = loadA(b, m0 + mm, k0 + kk);
      uint kb = e / BM, nn = e % BM;
      Bs[kb * BM + nn] = loadB(b, k0 + kb, n0 + nn);
    }
    barrier();
    for (uint kk = 0; kk < TS; kk++) {
      float a[4], bv[4];
      for (uint i = 0; i < 4u; i++) a[i] = As[kk * BM + ty + i * TS];
      for (uint j = 0; j < 4u; j++) bv[j] = Bs[kk * BM + tx + j * TS];
      for (uint i = 0; i < 4u; i++)
        for (uint j = 0; j < 4u; j++) acc[i][j] += a[i] * bv[j];
    }
    barrier();
  }
  for (uint i = 0; i < 4u; i++) {
    uint m = m0 + ty + i * TS;
    if (m >= M) continue;
    for (uint j = 0; j < 4u; j++) {
      uint n = n0 + tx + j * TS;
      if (n < N) bc.d[pc.u[6] + b * pc.u[15] + m * pc.u[16] + n] = acc[i][j];
    }
  }
}
