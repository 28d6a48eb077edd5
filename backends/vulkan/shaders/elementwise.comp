#version 450
// Same-shape elementwise opcodes over n elements: FILL, UNARY, UNARY_BWD, AXPBY and the fused
// in-place updates SGD, ADAMW, EMA.
// Push words: 0 mode, 1 fn (gs_unary) or nesterov, 2 n, 3..8 element offsets of in0..in5,
// 9 offset of out, 10..13 f[0..3]. Words 0 and 1 also arrive as specialization constants 1 and
// 2, which the shader reads: a CPU driver runs every branch under a mask, so each pipeline keeps
// only its own mode's code.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0u;
layout(constant_id = 2) const uint FN = 0u;

// Operand buffers are never declared readonly: the fused updates write their inputs in place.
layout(std430, binding = 0) buffer B0 { float d[]; } b0;
layout(std430, binding = 1) buffer B1 { float d[]; } b1;
layout(std430, binding = 2) buffer B2 { float d[]; } b2;
layout(std430, binding = 3) buffer B3 { float d[]; } b3;
layout(std430, binding = 4) buffer B4 { float d[]; } b4;
layout(std430, binding = 5) buffer B5 { float d[]; } b5;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

const uint M_FILL = 0, M_UNARY = 1, M_UNARY_BWD = 2, M_AXPBY = 3, M_SGD = 4, M_ADAMW = 5,
           M_EMA = 6;

// tanh through exp(-2|x|) so that large |x| saturates instead of giving inf/inf.
float safe_tanh(float x) {
  float t = exp(-2.0 * abs(x));
  float r = (1.0 - t) / (1.0 + t);
  return x < 0.0 ? -r : r;
}

float unary(uint fn, float x, float f0, float f1) {
  switch (fn) {
  case 0: return f0 * x + f1;
  case 1: return exp(x);
  case 2: return log(x);
  case 3: return sqrt(x);
  case 4: return 1.0 / sqrt(x);
  case 5: return x * x;
  case 6: return abs(x);
  case 7: return max(x, 0.0);
  case 8: return 1.0 / (1.0 + exp(-x));
  case 9: return safe_tanh(x);
  case 10: return 1.0 / x;
  }
  return 0.0;
}

float unary_bwd(uint fn, float x, float y, float dy, float f0) {
  switch (fn) {
  case 0: return f0 * dy;
  case 1: return dy * y;
  case 2: return dy / x;
  case 3: return dy * 0.5 / y;
  case 4: return -0.5 * dy * y * y * y;
  case 5: return 2.0 * x * dy;
  case 6: return sign(x) * dy;
  case 7: return x > 0.0 ? dy : 0.0;
  case 8: return dy * y * (1.0 - y);
  case 9: return dy * (1.0 - y * y);
  case 10: return -dy * y * y;
  }
  return 0.0;
}

void main() {
  uint mode = MODE, fn = FN, n = pc.u[2];
  uint o0 = pc.u[3], o1 = pc.u[4], o2 = pc.u[5], o3 = pc.u[6], o4 = pc.u[7], o5 = pc.u[8];
  uint oo = pc.u[9];
  float f0 = pcf(10), f1 = pcf(11), f2 = pcf(12), f3 = pcf(13);
  for (uint i = grid_first(); i < n; i += grid_step()) {
    if (mode == M_FILL) {
      bo.d[oo + i] = f0;
    } else if (mode == M_UNARY) {
      bo.d[oo + i] = unary(fn, b0.d[o0 + i], f0, f1);
    } else if (mode == M_UNARY_BWD) {
      bo.d[oo + i] = unary_bwd(fn, b0.d[o0 + i], b1.d[o1 + i], b2.d[o2 + i], f0);
    } else if (mode == M_AXPBY) {
      bo.d[oo + i] = f0 * b0.d[o0 + i] + f1 * b1.d[o1 + i];
    } else if (mode == M_SGD) {
      float lr = b3.d[o3];
      float w = b0.d[o0 + i];
      float d = b1.d[o1 + i] + f1 * w;
      float buf = f0 * b2.d[o2 + i] + d;
      b2.d[o2 + i] = buf;
      b0.d[o0 + i] = w - lr * (fn != 0u ? d + f0 * buf : buf);
    } else if (mode == M_ADAMW) {
      float lr = b4.d[o4], t = b5.d[o5];
      float w = b0.d[o0 + i], g = b1.d[o1 + i];
      w -= lr * f3 * w;
      float m = f0 * b2.d[o2 + i] + (1.0 - f0) * g;
      float v = f1 * b3.d[o3 + i] + (1.0 - f1) * g * g;
      b2.d[o2 + i] = m;
      b3.d[o3 + i] = v;
      float mh = m / (1.0 - pow(f0, t));
      float vh = v / (1.0 - pow(f1, t));
      b0.d[o0 + i] = w - lr * mh / (sqrt(vh) + f2);
    } else if (mode == M_EMA) {
      float m = b2.d[o2];
      b0.d[o0 + i] = m * b0.d[o0 + i] + (1.0 - m) * b1.d[o1 + i];
    }
  }
}
