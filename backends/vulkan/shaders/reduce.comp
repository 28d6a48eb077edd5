#version 450
// REDUCE (sum, mean, max) and DOT: one work group per output element, threads stride over the
// reduced index space and combine through shared memory (the work-group size is a power of 2).
// Push words: 0..5 out dims (1 where reduced), 6..11 in dims, 12 in0 offset, 13 in1 offset,
// 14 out offset, 15 kind (0 sum, 1 mean, 2 max, 3 dot), 16 number of outputs,
// 17 number of reduced elements per output, 18 serial: one invocation per output and no shared
// memory, for many outputs of few elements each (the tree would idle most of its threads).
// Words 15 and 18 are read from specialization constants 1 and 2 (the same values).
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint KIND = 0u;
layout(constant_id = 2) const uint SERIAL = 0u;

layout(std430, binding = 0) buffer B0 { float d[]; } b0;
layout(std430, binding = 1) buffer B1 { float d[]; } b1;
layout(std430, binding = 6) buffer BO { float d[]; } bo;

shared float part[WG];

uint stride[6];

// Element offset (within in0) of the first input element of output o.
uint out_base(uint o) {
  uint base = 0, r = o;
  // The host merges and drops dims, padding at the front: the walks end once the index is used.
  for (int k = 5; k >= 0 && r != 0u; k--) {
    uint dk = pc.u[k];
    base += (r % dk) * stride[k];
    r /= dk;
  }
  return base;
}

// Partial reduction of elements first, first + step, ... of the reduced space of one output.
// The reduced index is kept as digits over the reduced dims: found by division for `first` and
// `step` once, then advanced by adding the step's digits with carries (integer division has no
// vector instruction on CPUs, where a CPU driver would divide lane by lane for every element).
float partial(uint base, uint first, uint step) {
  uint kind = KIND, nred = pc.u[17];
  float acc = kind == 2u ? -1.0 / 0.0 : 0.0;
  if (first >= nred) return acc;
  uint rk[6], e[6], s[6];
  uint q = first, t = step;
  [[unroll]] for (int k = 5; k >= 0; k--) {
    rk[k] = pc.u[k] == 1u ? pc.u[6 + k] : 1u;
    e[k] = q % rk[k];
    q /= rk[k];
    s[k] = t % rk[k];
    t /= rk[k];
  }
  for (uint i = first; i < nred; i += step) {
    uint a = base;
    [[unroll]] for (int k = 0; k < 6; k++) a += e[k] * stride[k];
    float v = b0.d[pc.u[12] + a];
    if (kind == 2u)
      acc = max(acc, v);
    else if (kind == 3u)
      acc += v * b1.d[pc.u[13] + a];
    else
      acc += v;
    uint c = 0u;
    [[unroll]] for (int k = 5; k >= 0; k--) {
      e[k] += s[k] + c;
      c = e[k] >= rk[k] ? 1u : 0u;
      e[k] -= c * rk[k];
    }
  }
  return acc;
}

float finish(float v) { return KIND == 1u ? v / float(pc.u[17]) : v; }

void main() {
  uint kind = KIND, nout = pc.u[16];
  uint lid = gl_LocalInvocationID.x;
  uint s = 1;
  for (int k = 5; k >= 0; k--) {
    stride[k] = s;
    s *= pc.u[6 + k];
  }
  if (SERIAL != 0u) {
    for (uint o = gl_GlobalInvocationID.x; o < nout; o += gl_NumWorkGroups.x * WG)
      bo.d[pc.u[14] + o] = finish(partial(out_base(o), 0u, 1u));
    return;
  }
  for (uint o = gl_WorkGroupID.x; o < nout; o += gl_NumWorkGroups.x) {
    part[lid] = partial(out_base(o), lid, WG);
    barrier();
    for (uint h = WG / 2u; h > 0u; h /= 2u) {
      if (lid < h) part[lid] = kind == 2u ? max(part[lid], part[lid + h]) : part[lid] + part[lid + h];
      barrier();
    }
    if (lid == 0u) bo.d[pc.u[14] + o] = finish(part[0]);
    barrier();
  }
}
