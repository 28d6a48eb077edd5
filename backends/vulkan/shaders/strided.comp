#version 450
// One strided walk over an index space of up to 6 dims serves EXPAND, PERMUTE, SLICE, INSERT
// (a copy) and BINARY (a broadcasting op). The host turns each opcode into per-operand strides
// (0 for a broadcast dim) and base offsets, so the shader never sees the opcode's shape rules.
// Push words: 0..5 dims, 6..11 out strides, 12..17 in0 strides, 18..23 in1 strides,
// 24 out offset, 25 in0 offset, 26 in1 offset, 27 mode (0 copy, 1 + gs_binary), 28 n.
// The mode is read from specialization constant 1 (the same value): one pipeline per mode.
#extension GL_EXT_control_flow_attributes : enable
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
  uint i = grid_first(), step = grid_step();
  if (i >= n) return;
  // The index of element i and the grid step as digits over the dims, found by division once;
  // each further element adds the step's digits with carries. Integer division has no vector
  // instruction on CPUs, where a CPU driver would divide lane by lane for every element.
  uint j[6], s[6];
  uint r = i, q = step;
  [[unroll]] for (int k = 5; k >= 0; k--) {
    uint dk = pc.u[k];
    j[k] = r % dk;
    r /= dk;
    s[k] = q % dk;
    q /= dk;
  }
  for (; i < n; i += step) {
    uint ao = pc.u[24], a0 = pc.u[25], a1 = pc.u[26];
    [[unroll]] for (int k = 0; k < 6; k++) {
      ao += j[k] * pc.u[6 + k];
      a0 += j[k] * pc.u[12 + k];
      a1 += j[k] * pc.u[18 + k];
    }
    if (mode == 0u)
      bo.d[ao] = b0.d[a0];
    else
      bo.d[ao] = binary(mode - 1u, b0.d[a0], b1.d[a1]);
    uint c = 0u;
    [[unroll]] for (int k = 5; k >= 0; k--) {
      j[k] += s[k] + c;
      c = j[k] >= pc.u[k] ? 1u : 0u;
      j[k] -= c * pc.u[k];
    }
  }
}
