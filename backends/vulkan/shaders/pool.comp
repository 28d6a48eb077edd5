#version 450
// MAXPOOL2D, AVGPOOL2D and their gradients. The gradients are gathers: each input cell sums the
// dy of the windows that cover it (for max, only windows whose first maximum is that cell), so no
// two invocations write the same element and no atomics are needed.
// Push words: 0 mode (0 max, 1 max bwd, 2 avg, 3 avg bwd), 1 planes (N*C), 2 H, 3 W, 4 OH, 5 OW,
// 6 KH, 7 KW, 8 stride_h, 9 stride_w, 10 pad_h, 11 pad_w, 12 x offset, 13 dy offset,
// 14 out offset, 15 number of outputs.
#include "common.glsl"
layout(local_size_x_id = 0) in;
// Word 0, the mode, is read from specialization constant 1 (the same value).
layout(constant_id = 1) const uint MODE = 0u;

layout(std430, binding = 0) buffer B0 { float d[]; } bx;
layout(std430, binding = 1) buffer B1 { float d[]; } bdy;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

uint H, W, OH, OW, KH, KW, SH, SW, PH, PW;

// Index (ih * W + iw) of the first maximum of window (oh, ow) of plane base, or -1 if the
// window holds no real cell.
int window_argmax(uint base, uint oh, uint ow) {
  int best = -1;
  float bv = 0.0;
  for (uint kh = 0; kh < KH; kh++) {
    int ih = int(oh * SH + kh) - int(PH);
    if (ih < 0 || ih >= int(H)) continue;
    for (uint kw = 0; kw < KW; kw++) {
      int iw = int(ow * SW + kw) - int(PW);
      if (iw < 0 || iw >= int(W)) continue;
      float v = bx.d[base + uint(ih) * W + uint(iw)];
      if (best < 0 || v > bv) {
        best = ih * int(W) + iw;
        bv = v;
      }
    }
  }
  return best;
}

void main() {
  uint mode = MODE;
  H = pc.u[2]; W = pc.u[3]; OH = pc.u[4]; OW = pc.u[5]; KH = pc.u[6]; KW = pc.u[7];
  SH = pc.u[8]; SW = pc.u[9]; PH = pc.u[10]; PW = pc.u[11];
  uint ox = pc.u[12], ody = pc.u[13], oo = pc.u[14], nout = pc.u[15];
  float inv = 1.0 / float(KH * KW);
  for (uint i = grid_first(); i < nout; i += grid_step()) {
    if (mode == 0u || mode == 2u) {
      uint plane = i / (OH * OW), p = i % (OH * OW), oh = p / OW, ow = p % OW;
      uint base = ox + plane * H * W;
      if (mode == 0u) {
        int a = window_argmax(base, oh, ow);
        bo.d[oo + i] = a < 0 ? -1.0 / 0.0 : bx.d[base + uint(a)];
      } else {
        float s = 0.0;
        for (uint kh = 0; kh < KH; kh++) {
          int ih = int(oh * SH + kh) - int(PH);
          if (ih < 0 || ih >= int(H)) continue;
          for (uint kw = 0; kw < KW; kw++) {
            int iw = int(ow * SW + kw) - int(PW);
            if (iw >= 0 && iw < int(W)) s += bx.d[base + uint(ih) * W + uint(iw)];
          }
        }
        bo.d[oo + i] = s * inv;
      }
    } else {
      uint plane = i / (H * W), p = i % (H * W);
      int h = int(p / W), w = int(p % W);
      // Windows covering row h: oh*SH - PH <= h < oh*SH - PH + KH.
      int hlo = max(0, (h + int(PH) - int(KH) + int(SH)) / int(SH));
      int hhi = min(int(OH) - 1, (h + int(PH)) / int(SH));
      int wlo = max(0, (w + int(PW) - int(KW) + int(SW)) / int(SW));
      int whi = min(int(OW) - 1, (w + int(PW)) / int(SW));
      float s = 0.0;
      for (int oh = hlo; oh <= hhi; oh++) {
        for (int ow = wlo; ow <= whi; ow++) {
          float g = bdy.d[ody + plane * OH * OW + uint(oh) * OW + uint(ow)];
          if (mode == 3u) {
            s += g * inv;
          } else if (window_argmax(ox + plane * H * W, uint(oh), uint(ow)) == int(p)) {
            s += g;
          }
        }
      }
      bo.d[oo + i] = s;
    }
  }
}
