/* Reductions of the layouts that gs_reduce_rows and gs_reduce_cols (below) do not take: `parts`
 * work-groups per output element, each over a contiguous share of the reduced elements, whose
 * lanes stride over it and combine in local memory (the local size is a power of two chosen from
 * the device's limits). With parts > 1 the host reduces the partial
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

/* The two common layouts, at memory speed on CPU devices and coalesced on GPUs. Lanes load 8
 * contiguous floats each (vload8): the work-items of a kernel with a loop are not vectorised on
 * CPU devices, so the lanes do it themselves. kind 2 takes the maximum, else the sum, divided by
 * `divisor` when it is not 0 (a mean: once per output, never per element). */
#define GS_RED_INIT(kind) ((kind) == 2 ? -INFINITY : 0.0f)
inline float gs_red_h8(float8 a, int kind) {
  float4 h = kind == 2 ? fmax(a.lo, a.hi) : a.lo + a.hi;
  float2 h2 = kind == 2 ? fmax(h.lo, h.hi) : h.lo + h.hi;
  return kind == 2 ? fmax(h2.x, h2.y) : h2.x + h2.y;
}

/* Rows of I contiguous floats (row r at r * I), each cut into `parts` chunks of C floats (the
 * last shorter): virtual row v = r * parts + chunk, its result written to y[v]. 1 << ls lanes
 * share a virtual row (a power of two: 1 on CPU devices, where one lane streams it best; more on
 * GPUs, whose lanes then load neighbouring floats) and combine in local memory. */
__kernel void gs_reduce_rows(__global float *y, int yo, __global const float *x, int xo, int nv,
                             int parts, int I, int C, int ls, int kind, int divisor,
                             __local float *part) {
  int lane = get_local_id(0), S = 1 << ls, s = lane & (S - 1);
  int v = get_group_id(0) * (get_local_size(0) >> ls) + (lane >> ls);
  float acc = GS_RED_INIT(kind);
  if (v < nv) {
    int r = parts == 1 ? v : v / parts, sh = v - r * parts;
    __global const float *xp = x + xo + r * I + sh * C;
    int len = min(C, I - sh * C), n8 = len >> 3, j = s, c = (n8 << 3) + s;
    float8 a8 = acc, b8 = acc;
    /* Two accumulators, so the adds of neighbouring loads do not wait on each other. */
    if (kind == 2) {
      for (; j + S < n8; j += 2 * S) {
        a8 = fmax(a8, vload8(j, xp));
        b8 = fmax(b8, vload8(j + S, xp));
      }
      if (j < n8) a8 = fmax(a8, vload8(j, xp));
      for (; c < len; c += S) acc = fmax(acc, xp[c]);
      acc = fmax(acc, gs_red_h8(fmax(a8, b8), kind));
    } else {
      for (; j + S < n8; j += 2 * S) {
        a8 += vload8(j, xp);
        b8 += vload8(j + S, xp);
      }
      if (j < n8) a8 += vload8(j, xp);
      for (; c < len; c += S) acc += xp[c];
      acc += gs_red_h8(a8 + b8, kind);
    }
  }
  part[lane] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int st = S >> 1; st > 0; st >>= 1) {
    if (s < st)
      part[lane] = kind == 2 ? fmax(part[lane], part[lane + st]) : part[lane] + part[lane + st];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (s == 0 && v < nv) y[yo + v] = divisor ? part[lane] / (float)divisor : part[lane];
}

/* Innermost dim kept and contiguous (K floats), the reduced dims outside it as one (Q, stride
 * qs), the kept dims outside K as index a (meta: rank, dims[6], strides[6]). A 3-D range over
 * (ceil(K / 8), A, parts): work-item (c8, a, sh) owns columns 8 c8 .. 8 c8 + 7 of a, over the
 * rows of span sh, and writes y[(sh * A + a) * K + c] (partial results when parts > 1). */
__kernel void gs_reduce_cols(__global float *y, int yo, __global const float *x, int xo,
                             __global const int *meta, int mo, int A, int K, int Q, int qs,
                             int parts, int kind, int divisor) {
  int c8 = get_global_id(0), a = get_global_id(1), sh = get_global_id(2);
  if (8 * c8 >= K || a >= A) return;
  __global const int *m = meta + mo;
  int span = (Q + parts - 1) / parts, q = sh * span, q1 = min(Q, q + span);
  __global const float *xp = x + xo + gs_nd_off(a, m[0], m + 1, m + 1 + GS_MAXR) + 8 * c8;
  __global float *yp = y + yo + (sh * A + a) * K + 8 * c8;
  float init = GS_RED_INIT(kind);
  if (8 * c8 + 8 <= K) {
    float8 a8 = init, b8 = init;
    xp += q * qs;
    if (kind == 2) {
      for (; q + 1 < q1; q += 2, xp += 2 * qs) {
        a8 = fmax(a8, vload8(0, xp));
        b8 = fmax(b8, vload8(0, xp + qs));
      }
      if (q < q1) a8 = fmax(a8, vload8(0, xp));
      a8 = fmax(a8, b8);
    } else {
      for (; q + 1 < q1; q += 2, xp += 2 * qs) {
        a8 += vload8(0, xp);
        b8 += vload8(0, xp + qs);
      }
      if (q < q1) a8 += vload8(0, xp);
      a8 += b8;
    }
    vstore8(divisor ? a8 / (float)divisor : a8, 0, yp);
    return;
  }
  /* The last K % 8 columns, one at a time. */
  for (int c = 0; c < K - 8 * c8; c++) {
    float acc = init;
    for (int r = q; r < q1; r++) acc = kind == 2 ? fmax(acc, xp[r * qs + c]) : acc + xp[r * qs + c];
    yp[c] = divisor ? acc / (float)divisor : acc;
  }
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
