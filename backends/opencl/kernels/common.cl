/* Shared helpers. Shapes and strides reach kernels through a per-program int table ("meta"),
 * which works on every OpenCL 1.2 driver (struct kernel arguments do not, portably). Every
 * kernel is launched on a global size rounded up to the work-group size, so each one checks
 * its id against the element count first. Element offsets arrive as arguments, because
 * sub-buffers would need device-specific alignment. */
#define GS_MAXR 6

/* Offset in a tensor with strides `st` of the element whose row-major index over `dims` is i.
 * The host merges the dims it can (collapse in ocl_prog.c), as divisions are dear. */
inline int gs_nd_off(int i, int rank, __global const int *dims, __global const int *st) {
  int off = 0;
  for (int k = rank - 1; k > 0; k--) {
    int d = dims[k];
    int c = i % d;
    i /= d;
    off += c * st[k];
  }
  return off + i * st[0];
}

/* Offset of element (i0, i1, i2) of an index space launched as a 3-D range: i0 walks the
 * innermost dim, i1 the one outside it and i2 every dim outside those (row-major). Index spaces
 * of rank 3 (the host pads smaller ones) take gs_off3, with no loop and no division: a loop
 * inside a kernel keeps CPU devices from vectorising its work-items. */
inline int gs_off3(int i0, int i1, int i2, __global const int *st) {
  return i0 * st[2] + i1 * st[1] + i2 * st[0];
}
inline int gs_nd3_off(int i0, int i1, int i2, int rank, __global const int *dims,
                      __global const int *st) {
  return i0 * st[rank - 1] + i1 * st[rank - 2] + gs_nd_off(i2, rank - 2, dims, st);
}

/* The output positions o, lo <= o <= hi, whose pooling/convolution window
 * [o*stride - pad, o*stride - pad + k) covers input position i (none when lo > hi). Backward
 * kernels gather over them per input element instead of scattering, so they need no atomics. */
inline void gs_covering(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
  int t = i + pad, a = t - k + 1;
  *hi = min(t / stride, out - 1);
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
}
