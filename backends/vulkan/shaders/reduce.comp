#version 450
// REDUCE (sum, mean, max) and DOT: one work group per output element, threads stride over the
// reduced index space and combine through shared memory (the work-group size is a power of 2).
// Push words: 0..5 out dims (1 where reduced), 6..11 in dims, 12 in0 offset, 13 in1 offset,
// 14 out offset, 15 kind (0 sum, 1 mean, 2 max, 3 dot), 16 number of outputs,
// 17 number of reduced elements per output.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer B0 { float d[]; } b0;
layout(std430, binding = 1) buffer B1 { float d[]; } b1;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

shared float part[WG];

void main() {
  uint kind = pc.u[15], nout = pc.u[16], nred = pc.u[17];
  uint lid = gl_LocalInvocationID.x;
  uint stride[6];
  uint s = 1;
  for (int k = 5; k >= 0; k--) {
    stride[k] = s;
    s *= pc.u[6 + k];
  }
  for (uint o = gl_WorkGroupID.x; o < nout; o += gl_NumWorkGroups.x) {
    uint base = 0, r = o;
    for (int k = 5; k >= 0; k--) {
      uint dk = pc.u[k];
      base += (r % dk) * stride[k];
      r /= dk;
    }
    float acc = kind == 2u ? -1.0 / 0.0 : 0.0;
    for (uint e = lid; e < nred; e += WG) {
      uint a = base, q = e;
      for (int k = 5; k >= 0; k--) {
        uint rk = pc.u[k] == 1u ? pc.u[6 + k] : 1u;
        a += (q % rk) * stride[k];
        q /= rk;
      }
      float v = b0.d[pc.u[12] + a];
      if (kind == 2u)
        acc = max(acc, v);
      else if (kind == 3u)
        acc += v * b1.d[pc.u[13] + a];
      else
        acc += v;
    }
    part[lid] = acc;
    barrier();
    for (uint h = WG / 2u; h > 0u; h /= 2u) {
      if (lid < h) part[lid] = kind == 2u ? max(part[lid], part[lid + h]) : part[lid] + part[lid + h];
      barrier();
    }
    if (lid == 0u) bo.d[pc.u[14] + o] = kind == 1u ? part[0] / float(nred) : part[0];
    barrier();
  }
}
