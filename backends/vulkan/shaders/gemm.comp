#version 450
// Tiled shared-memory GEMM, C[b] = A[b] * B[b], each thread computing a 4x4 block of a
// (4*TS) x (4*TS) output tile from TS-deep slices of A and B staged in shared memory. TS comes
// from the device limits (specialization constant 0); MODE (constant 1) picks how B's elements
// are fetched, which makes the same kernel an implicit-GEMM convolution with no im2col buffer:
//   0 strided matrix (MATMUL: transposes and batch-1 broadcast are strides)
//   1 conv forward:     B(k = (c,kh,kw), n = (img,oh,ow)) = x[img][c][oh*sh-ph+kh][ow*sw-pw+kw]
//   2 conv data grad:   B(k = (o,kh,kw), n = (img,h,w)) = dy[img][o][(h+ph-kh)/sh][(w+pw-kw)/sw]
//   3 conv filter grad: B(k = (img,oh,ow), n = (c,kh,kw)) = x[img][c][oh*sh-ph+kh][ow*sw-pw+kw]
// The image index is part of N (modes 1, 2) or K (mode 3), not the batch, so that late layers
// with few output pixels still fill whole tiles; C's column n is then (n / NC, n % NC) with NC
// the pixels per image: C[offC + (n / NC)*sCb + m*sCm + n % NC].
// A(m, k) = A[offA + b*sAb + m*sAm + (k / KinA)*sAk2 + (k % KinA)*sAk], which folds the image
// index into K for the filter gradient and reorders the weights for the data gradient.
// Push words: 0 M, 1 N, 2 K, 3 batch, 4 offA, 5 offB, 6 offC, 7 sAb, 8 sAm, 9 sAk, 10 sAk2,
// 11 KinA, 12 sBb, 13 sBk, 14 sBn, 15 sCb, 16 sCm, 17 C, 18 H, 19 W, 20 OH, 21 OW, 22 KH, 23 KW,
// 24 stride_h, 25 stride_w, 26 pad_h, 27 pad_w, 28 NC.
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

// Convolution modes fetch B through index tables instead of dividing per element (integer
// division is slow everywhere and scalar on CPU devices). Column n of the tile and row k of the
// current K slice each contribute an element offset and a (row, col) displacement:
//   modes 1, 3: x[offB + b*sBb + rowOff + colOff + ih*W + iw], ih = rowH + colH, iw = rowW + colW
//   mode 2:     dy at (th, tw) = (rowH + colH, rowW + colW), kept where th, tw are multiples of the
//               stride; oh = th / stride.
shared int colOff[BM], colH[BM], colW[BM];
shared int rowOff[TS], rowH[TS], rowW[TS];

// Fills the column tables (once per work group) or the row tables (once per K slice) for index i.
void conv_index(uint i, bool col, out int off, out int h, out int w) {
  uint H = pc.u[18], W = pc.u[19], OH = pc.u[20], OW = pc.u[21], KH = pc.u[22], KW = pc.u[23];
  int sh = int(pc.u[24]), sw = int(pc.u[25]), ph = int(pc.u[26]), pw = int(pc.u[27]);
  uint KK = KH * KW;
  // (oh, ow) positions: columns of modes 1, rows of mode 3.
  if ((MODE == 1u && col) || (MODE == 3u && !col)) {
    uint P = OH * OW, img = i / P, p = i % P;
    off = int(img * pc.u[12]);
    h = int(p / OW) * sh - ph;
    w = int(p % OW) * sw - pw;
  } else if (MODE == 2u && col) {
    uint img = i / (H * W), p = i % (H * W);
    off = int(img * pc.u[12]);
    h = int(p / W) + ph;
    w = int(p % W) + pw;
  } else {
    // (channel, kh, kw) triples: rows of modes 1 and 2, columns of mode 3.
    uint c = i / KK, kk = i % KK;
    off = int(c * (MODE == 2u ? OH * OW : H * W));
    h = int(kk / KW);
    w = int(kk % KW);
    if (MODE == 2u) h = -h, w = -w;
  }
}

float loadB(uint b, uint k, uint n) {
  if (k >= K || n >= N) return 0.0;
  if (MODE == 0u) return bb.d[pc.u[5] + b * pc.u[12] + k * pc.u[13] + n * pc.u[14]];
  uint kr = k % TS, nc = n % BM;
  int h = rowH[kr] + colH[nc], w = rowW[kr] + colW[nc];
  uint base = pc.u[5] + uint(rowOff[kr] + colOff[nc]);
  if (MODE == 2u) {
    int sh = int(pc.u[24]), sw = int(pc.u[25]);
    if (h < 0 || w < 0) return 0.0;
    if (sh != 1 || sw != 1) {
      if (h % sh != 0 || w % sw != 0) return 0.0;
      h /= sh, w /= sw;
    }
    uint OH = pc.u[20], OW = pc.u[21];
    if (uint(h) >= OH || uint(w) >= OW) return 0.0;
    return bb.d[base + uint(h) * OW + uint(w)];
  }
  uint H = pc.u[18], W = pc.u[19];
  if (h < 0 || w < 0 || uint(h) >= H || uint(w) >= W) return 0.0;
  return bb.d[base + uint(h) * W + uint(w)];
}

void main() {
  M = pc.u[0];
  N = pc.u[1];
  K = pc.u[2];
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, t = ty * TS + tx;
  uint b = gl_WorkGroupID.z;
  uint m0 = gl_WorkGroupID.y * BM;
  // Column tiles beyond the dispatch limit (convolutions fold images into N) loop here.
  for (uint n0 = gl_WorkGroupID.x * BM; n0 < N; n0 += gl_NumWorkGroups.x * BM) {
    float acc[4][4];
    for (uint i = 0; i < 4u; i++)
      for (uint j = 0; j < 4u; j++) acc[i][j] = 0.0;
    if (MODE != 0u && t < BM) {
      int o, h, w;
      conv_index(n0 + t, true, o, h, w);
      colOff[t] = o, colH[t] = h, colW[t] = w;
    }
    for (uint k0 = 0; k0 < K; k0 += TS) {
      if (MODE != 0u) {
        if (t < TS) {
          int o, h, w;
          conv_index(k0 + t, false, o, h, w);
          rowOff[t] = o, rowH[t] = h, rowW[t] = w;
        }
        barrier();
      }
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
        if (n >= N) continue;
        uint nc = pc.u[28], cn = MODE == 0u ? n : (n / nc) * pc.u[15] + n % nc;
        bc.d[pc.u[6] + b * pc.u[15] + m * pc.u[16] + cn] = acc[i][j];
      }
    }
  }
}
