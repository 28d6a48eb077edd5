/* Reductions: `parts` work-groups per output element, each over a contiguous share of the
 * reduced elements, whose lanes stride over it and combine in local memory (the local size is a
 * power of two chosen from the device's limits). With parts > 1 the host reduces the partial
 * results in a second launch, so a long axis with few outputs still fills the device.
 * meta: rank, out dims[6], in strides[6], reduced dims[6] (1 where kept), in strides[6].
 * kind 2 takes the maximum, else the sum, divided by `divisor` when it is not 0 (a mean). */
__kernel void gs_reduce(__global float *y, int yo, __global const float *x, int xo,
                        __global const int *meta, int mo, int nout, int count, int kind,
                        int parts, int divisor, __local float *part) {
  int g = get_group_id(0), o = g / parts, sh = g % parts;
  int lane = get_local_id(0);
  int L = get_local_size(0);
  __global const int *m = meta + mo;
  int rank = m[0];
  float acc = kind == 2 ? -INFINITY : 0.0f;
  if (o < nout) {
    int base = xo + gs_nd_off(o, rank, m + 1, m + 1 + GS_MAXR);
    /* Reduced index r as (q, j): j along the innermost reduced dim, q over the others, both
     * stepped by L without dividing (CPU devices cannot vectorise divisions). When that dim is
     * contiguous and a multiple of 8 long, the lanes step over blocks of 8 (vload8): the
     * work-items of a kernel with a loop are not vectorised on CPU devices, so the lanes do it
     * themselves; on GPUs it is a wider load per lane. */
    __global const int *rd = m + 1 + 2 * GS_MAXR, *rs = m + 1 + 3 * GS_MAXR;
    int din = rd[rank - 1], sin = rs[rank - 1];
    int w = sin == 1 && din % 8 == 0 ? 8 : 1, dw = din / w, cw = count / w;
    int span = (cw + parts - 1) / parts, r1 = min(cw, (sh + 1) * span);
    int r = sh * span + lane, q = r / dw, j = r - q * dw;
    int qstep = L / dw, jstep = L - qstep * dw;
    float8 acc8 = acc;
    for (; r < r1; r += L) {
      __global const float *xp = x + base + gs_nd_off(q, rank - 1, rd, rs);
      if (w == 8) {
        float8 v = vload8(j, xp);
        acc8 = kind == 2 ? fmax(acc8, v) : acc8 + v;
      } else {
        float v = xp[j * sin];
        acc = kind == 2 ? fmax(acc, v) : acc + v;
      }
      q += qstep;
      j += jstep;
      if (j >= dw) {
        j -= dw;
        q++;
      }
    }
    if (w == 8) {
      float4 h = kind == 2 ? fmax(acc8.lo, acc8.hi) : acc8.lo + acc8.hi;
      float2 h2 = kind == 2 ? fmax(h.lo, h.hi) : h.lo + h.hi;
      acc = kind == 2 ? fmax(h2.x, h2.y) : h2.x + h2.y;
    }
  }
  part[lane] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = L / 2; s > 0; s >>= 1) {
    if (lane < s) part[lane] = kind == 2 ? fmax(part[lane], part[lane + s]) : part[lane] + part[lane + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lane == 0 && o < nout) y[yo + g] = divisor ? part[0] / (float)divisor : part[0];
}

/* y[0] = sum(a * b) with a single work-group. */
__kernel void gs_dot(__global float *y, int yo, __global const float *a, int ao,
                     __global const float *b, int bo, int n, __local float *part) {
  int lane = get_local_id(0);
  int L = get_local_size(0);
  float acc = 0.0f;
  for (int i = lane; i < n; i += L) acc += a[ao + i] * b[bo + i];
  part[lane] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = L / 2; s > 0; s >>= 1) {
    if (lane < s) part[lane] += part[lane + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lane == 0) y[yo] = part[0];
}
