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

/* The output positions o, lo <= o <= hi, whose pooling/convolution window
 * [o*stride - pad, o*stride - pad + k) covers input position i (none when lo > hi). Backward
 * kernels gather over them per input element instead of scattering, so they need no atomics. */
inline void gs_covering(int i, int k, int stride, int pad, int out, int *lo, int *hi) {
  int t = i + pad, a = t - k + 1;
  *hi = min(t / stride, out - 1);
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
}
