#version 450
// One strided walk over an index space of up to 6 dims serves EXPAND, PERMUTE, SLICE, INSERT
// (a copy) and BINARY (a broadcasting op). The host turns each opcode into per-operand strides
// (0 for a broadcast dim) and base offsets, so the shader never sees the opcode's shape rules.
// Push words: 0..5 dims, 6..11 out strides, 12..17 in0 strides, 18..23 in1 strides,
// 24 out offset, 25 in0 offset, 26 in1 offset, 27 mode (0 copy, 1 + gs_binary), 28 n.
// The mode is read from specialization constant 1 (the same value): one pipeline per mode.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0u;

layout(std430, binding = 0) buffer B0 { float d[]; } b0;
layout(std430, binding = 1) buffer B1 { float d[]; } b1;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

float binary(uint op, float a, float b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return a / b;
  case 4: return max(a, b);
  case 5: return min(a, b);
  case 6: return a == b ? 1.0 : 0.0;
  case 7: return a > b ? 1.0 : 0.0;
  }
  return 0.0;
}

void main() {
  uint mode = MODE, n = pc.u[28];
  for (uint i = grid_first(); i < n; i += grid_step()) {
    uint r = i, ao = pc.u[24], a0 = pc.u[25], a1 = pc.u[26];
    // The host drops size-1 dims and pads at the front, so the walk ends once r is used up.
    for (int k = 5; k >= 0 && r != 0u; k--) {
      uint dk = pc.u[k];
      uint j = r % dk;
      r /= dk;
      ao += j * pc.u[6 + k];
      a0 += j * pc.u[12 + k];
      a1 += j * pc.u[18 + k];
    }
    if (mode == 0u)
      bo.d[ao] = b0.d[a0];
    else
      bo.d[ao] = binary(mode - 1u, b0.d[a0], b1.d[a1]);
  }
}
