#version 450
// Row-indexed opcodes: GATHER_ROWS, SCATTER_ADD_ROWS, ONEHOT. The scatter is written as a gather
// over the index list (each output row sums the source rows that name it), so it needs no float
// atomics and gives the same sum order on every device.
// Push words: 0 mode (0 gather, 1 scatter-add, 2 onehot), 1 R (rows of x or out), 2 D (row
// length, or C for onehot), 3 N (index count), 4 x offset, 5 idx offset, 6 out offset,
// 7 number of outputs.
#include "common.glsl"
layout(local_size_x_id = 0) in;
// Word 0, the mode, is read from specialization constant 1 (the same value).
layout(constant_id = 1) const uint MODE = 0u;

layout(std430, binding = 0) buffer B0 { float d[]; } b0;
layout(std430, binding = 1) buffer B1 { int d[]; } idx;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

void main() {
  uint mode = MODE, R = pc.u[1], D = pc.u[2], N = pc.u[3];
  uint ox = pc.u[4], oi = pc.u[5], oo = pc.u[6], nout = pc.u[7];
  for (uint i = grid_first(); i < nout; i += grid_step()) {
    uint row = i / D, col = i % D;
    float v = 0.0;
    if (mode == 0u) {
      int r = idx.d[oi + row];
      if (r >= 0 && uint(r) < R) v = b0.d[ox + uint(r) * D + col];
    } else if (mode == 1u) {
      for (uint n = 0; n < N; n++)
        if (idx.d[oi + n] == int(row)) v += b0.d[ox + n * D + col];
    } else {
      v = idx.d[oi + row] == int(col) ? 1.0 : 0.0;
    }
    bo.d[oo + i] = v;
  }
}
