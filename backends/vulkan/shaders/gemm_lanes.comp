#version 450
// GEMM for CPU devices (lavapipe), same push words and B-fetch modes as gemm.comp. A CPU driver
// runs a work group as SIMD loops across invocations: arithmetic is one vector instruction for
// all lanes, but a memory access whose address differs between lanes becomes a per-lane scalar
// loop, barriers switch coroutines, and shared memory is ordinary memory. So here each
// invocation owns an RM x RN block of C (rows m0.., columns n, n + WG, ...): per k it makes
// RM / 8 + RN loads straight from the buffers (lane i of the subgroup loads row i of each slice
// of 8 rows of A, and a subgroup broadcast hands it to every lane: an element extract on a CPU
// driver) and RM * RN vector multiply-adds; no shared memory, no barrier, no integer division
// in the k loop. The loads are what costs (each is a loop over the lanes), so the block is as
// tall as measured best: RM 32 ran 2x the speed of RM 8 on lavapipe, RM 64 only 1.2x more while
// its pipelines took 1 s each to compile and half of a 32-row GEMM would be idle. The host uses
// this shader only where the subgroup has at least 8 lanes and broadcasts. A work group is one
// subgroup (WG its size). Work groups: x over column blocks (WG * RN columns each), y over row
// blocks (RM each), z the batch.
// The convolution modes walk k as nested loops ((c|o, kh, kw) or (img, oh, ow)), so the B index
// of each lane is a sum: no division in the k loop.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_ballot : enable
#include "common.glsl"
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MODE = 0;
// 1 when a convolution's strides are both 1: the data gradient then needs no division.
layout(constant_id = 2) const uint UNIT = 0;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer B0 { float d[]; } ba;
layout(std430, binding = 1) readonly buffer B1 { float d[]; } bb;
layout(std430, binding = 6) writeonly buffer BO { float d[]; } bc;

// RM rows in RA slices of 8: each slice is one load per lane (lane i, row i of the slice) and 8
// broadcasts.
const uint RM = 32u, RN = 4u, RA = RM / 8u;
float acc[RM][RN];
uint arow[RA]; // offsets in A of the rows this lane loads (rows past M repeat the last one)
float bv[RN];  // B(k, column j) of the current k

// acc[h + i][j] += A(row h + i, at offset a) * bv[j]; the broadcast lane must be a constant.
#define ROW(own, h, i)                                                                           \
  {                                                                                              \
    float av = subgroupBroadcast(own, i);                                                        \
    [[unroll]] for (uint j = 0u; j < RN; j++) acc[h + i][j] += av * bv[j];                       \
  }
void fma_block(uint a) {
  [[unroll]] for (uint h = 0u; h < RA; h++) {
    float own = ba.d[a + arow[h]];
    ROW(own, 8u * h, 0) ROW(own, 8u * h, 1) ROW(own, 8u * h, 2) ROW(own, 8u * h, 3)
    ROW(own, 8u * h, 4) ROW(own, 8u * h, 5) ROW(own, 8u * h, 6) ROW(own, 8u * h, 7)
  }
}

void main() {
  uint M = pc.u[0], N = pc.u[1], K = pc.u[2];
  uint b = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * RM;
  uint abase = pc.u[4] + b * pc.u[7];
  uint lane = min(gl_SubgroupInvocationID, 7u);
  [[unroll]] for (uint h = 0u; h < RA; h++) arow[h] = min(m0 + 8u * h + lane, M - 1u) * pc.u[8];
  uint C = pc.u[17], H = pc.u[18], W = pc.u[19], OH = pc.u[20], OW = pc.u[21];
  uint KH = pc.u[22], KW = pc.u[23], nc = pc.u[28];
  int sh = int(pc.u[24]), sw = int(pc.u[25]), ph = int(pc.u[26]), pw = int(pc.u[27]);
  for (uint n0 = gl_WorkGroupID.x * WG * RN; n0 < N; n0 += gl_NumWorkGroups.x * WG * RN) {
    [[unroll]] for (uint i = 0u; i < RM; i++)
      [[unroll]] for (uint j = 0u; j < RN; j++) acc[i][j] = 0.0;
    // Per column: an element offset in B and a (row, column) displacement. Columns past N
    // compute column N-1 again and are not stored.
    uint boff[RN];
    int bh[RN], bw[RN];
    [[unroll]] for (uint j = 0u; j < RN; j++) {
      uint nn = min(n0 + j * WG + gl_LocalInvocationID.x, N - 1u);
      uint img = nn / nc, p = nn % nc;
      if (MODE == 0u) {
        boff[j] = pc.u[5] + b * pc.u[12] + nn * pc.u[14];
      } else if (MODE == 1u) {
        boff[j] = pc.u[5] + img * pc.u[12];
        bh[j] = int(p / OW) * sh - ph;
        bw[j] = int(p % OW) * sw - pw;
      } else if (MODE == 2u) {
        boff[j] = pc.u[5] + img * pc.u[12];
        bh[j] = int(p / W) + ph;
        bw[j] = int(p % W) + pw;
      } else {
        uint KK = KH * KW, c = nn / KK, kk = nn % KK;
        boff[j] = pc.u[5] + c * H * W;
        bh[j] = int(kk / KW) - ph;
        bw[j] = int(kk % KW) - pw;
      }
    }
    if (MODE == 0u) {
      uint sbk = pc.u[13], sak = pc.u[9];
      for (uint k = 0u; k < K; k++) {
        [[unroll]] for (uint j = 0u; j < RN; j++) bv[j] = bb.d[boff[j] + k * sbk];
        fma_block(abase + k * sak);
      }
    } else if (MODE == 1u) {
      // k = (c, kh, kw); A(m, k) = w[m][k]; B = x[img][c][oh*sh-ph+kh][ow*sw-pw+kw].
      uint a = abase;
      for (uint c = 0u; c < C; c++) {
        for (uint kh = 0u; kh < KH; kh++) {
          for (uint kw = 0u; kw < KW; kw++, a++) {
            [[unroll]] for (uint j = 0u; j < RN; j++) {
              int ih = bh[j] + int(kh), iw = bw[j] + int(kw);
              bv[j] = 0.0;
              if (ih >= 0 && ih < int(H) && iw >= 0 && iw < int(W))
                bv[j] = bb.d[boff[j] + c * H * W + uint(ih) * W + uint(iw)];
            }
            fma_block(a);
          }
        }
      }
    } else if (MODE == 2u) {
      // k = (o, kh, kw); A(m = c, k) = w[o][c][kh][kw]; B = dy[img][o][th/sh][tw/sw] with
      // (th, tw) = (h+ph-kh, w+pw-kw), where both divide by the stride.
      uint O = K / (KH * KW);
      for (uint o = 0u; o < O; o++) {
        uint a = abase + o * pc.u[10];
        for (uint kh = 0u; kh < KH; kh++) {
          for (uint kw = 0u; kw < KW; kw++, a++) {
            [[unroll]] for (uint j = 0u; j < RN; j++) {
              int th = bh[j] - int(kh), tw = bw[j] - int(kw);
              int oh = UNIT != 0u ? th : th / sh, ow = UNIT != 0u ? tw : tw / sw;
              bv[j] = 0.0;
              if (th >= 0 && tw >= 0 && (UNIT != 0u || (oh * sh == th && ow * sw == tw)) &&
                  oh < int(OH) && ow < int(OW))
                bv[j] = bb.d[boff[j] + o * OH * OW + uint(oh) * OW + uint(ow)];
            }
            fma_block(a);
          }
        }
      }
    } else {
      // k = (img, oh, ow), n = (c, kh, kw); A(m = o, k) = dy[img][o][oh][ow];
      // B = x[img][c][oh*sh-ph+kh][ow*sw-pw+kw]. Few columns and a long k: work groups are
      // few, which a CPU device (a thread per core) does not mind.
      uint Ni = K / (OH * OW);
      for (uint i = 0u; i < Ni; i++) {
        uint a = abase + i * pc.u[10];
        for (uint oh = 0u; oh < OH; oh++) {
          for (uint ow = 0u; ow < OW; ow++, a++) {
            [[unroll]] for (uint j = 0u; j < RN; j++) {
              int ih = int(oh) * sh + bh[j], iw = int(ow) * sw + bw[j];
              bv[j] = 0.0;
              if (ih >= 0 && ih < int(H) && iw >= 0 && iw < int(W))
                bv[j] = bb.d[boff[j] + i * pc.u[12] + uint(ih) * W + uint(iw)];
            }
            fma_block(a);
          }
        }
      }
    }
    [[unroll]] for (uint j = 0u; j < RN; j++) {
      uint n = n0 + j * WG + gl_LocalInvocationID.x;
      if (n >= N) continue;
      uint cn = MODE == 0u ? n : (n / nc) * pc.u[15] + n % nc;
      uint ci = pc.u[6] + b * pc.u[15] + cn;
      [[unroll]] for (uint i = 0u; i < RM; i++)
        if (m0 + i < M) bc.d[ci + (m0 + i) * pc.u[16]] = acc[i][j];
    }
  }
}
