/* Row gather/scatter and one-hot. Scatter is written as a gather over the sources of each output
 * row: deterministic, and needs no float atomics (absent from OpenCL 1.2). */

__kernel void gs_gather_rows(__global float *y, int yo, __global const float *x, int xo,
                             __global const int *idx, int io, int n, int d, int rows) {
  int i = get_global_id(0);
  if (i >= n * d) return;
  int r = idx[io + i / d];
  y[yo + i] = (r >= 0 && r < rows) ? x[xo + r * d + i % d] : 0.0f;
}

__kernel void gs_scatter_add_rows(__global float *y, int yo, __global const float *src, int so,
                                  __global const int *idx, int io, int n, int d, int rows) {
  int i = get_global_id(0);
  if (i >= rows * d) return;
  int r = i / d, c = i % d;
  float acc = 0.0f;
  for (int k = 0; k < n; k++)
    if (idx[io + k] == r) acc += src[so + k * d + c];
  y[yo + i] = acc;
}

__kernel void gs_onehot(__global float *y, int yo, __global const int *labels, int lo, int n,
                        int classes) {
  int i = get_global_id(0);
  if (i >= n * classes) return;
  y[yo + i] = labels[lo + i / classes] == i % classes ? 1.0f : 0.0f;
}
