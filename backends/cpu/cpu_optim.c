/* Fused optimizer updates, in place: SGD (momentum, weight decay, Nesterov), AdamW, EMA. The
 * scalar operands (lr, step) live in device buffers so a schedule can change them without
 * recompiling.
 *
 * A run of update launches (one per parameter, as the optimizer emits them) runs as one parallel
 * pass over their elements laid end to end: each thread takes an equal share of the total, so
 * small tensors (biases, batch-norm scales) no longer run serially one after another and the
 * whole run costs one fork/join instead of one per parameter. The element-wise arithmetic is the
 * same whether a launch runs alone or in a run; cpu_fuse.c groups only launches whose written
 * operands no other launch of the group touches, so their order does not matter. */
#include "cpu_internal.h"

#include <math.h>

static void sgd_range(const gs_launch *l, int64_t i0, int64_t i1) {
  float *w = cpu_ptr(l->in[0]), *buf = cpu_ptr(l->in[2]);
  const float *g = cpu_ptr(l->in[1]);
  float lr = cpu_ptr(l->in[3])[0], mom = l->f[0], wd = l->f[1];
  int nesterov = l->i[0] != 0;
  for (int64_t i = i0; i < i1; i++) {
    float d = g[i] + wd * w[i];
    float b = mom * buf[i] + d;
    buf[i] = b;
    w[i] -= lr * (nesterov ? d + mom * b : b);
  }
}

static void adamw_range(const gs_launch *l, int64_t i0, int64_t i1) {
  float *w = cpu_ptr(l->in[0]), *m = cpu_ptr(l->in[2]), *v = cpu_ptr(l->in[3]);
  const float *g = cpu_ptr(l->in[1]);
  float lr = cpu_ptr(l->in[4])[0];
  double t = cpu_ptr(l->in[5])[0];
  float b1 = l->f[0], b2 = l->f[1], eps = l->f[2], wd = l->f[3];
  float c1 = (float)(1.0 - pow((double)b1, t)), c2 = (float)(1.0 - pow((double)b2, t));
  float decay = lr * wd;
  for (int64_t i = i0; i < i1; i++) {
    float wi = w[i] - decay * w[i];
    float mi = b1 * m[i] + (1.0f - b1) * g[i];
    float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    m[i] = mi, v[i] = vi;
    w[i] = wi - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

static void ema_range(const gs_launch *l, int64_t i0, int64_t i1) {
  float *t = cpu_ptr(l->in[0]);
  const float *o = cpu_ptr(l->in[1]);
  float m = cpu_ptr(l->in[2])[0];
  for (int64_t i = i0; i < i1; i++) t[i] = m * t[i] + (1.0f - m) * o[i];
}

static void update_range(const gs_launch *l, int64_t i0, int64_t i1) {
  switch (l->op) {
  case GS_OP_SGD: sgd_range(l, i0, i1); break;
  case GS_OP_ADAMW: adamw_range(l, i0, i1); break;
  case GS_OP_EMA: ema_range(l, i0, i1); break;
  default: break;
  }
}

/* Start of thread id's share of total elements, on a 16-element (cache line) boundary. */
static int64_t share_start(int64_t total, int id, int nt) {
  return id >= nt ? total : (total * id / nt) & ~(int64_t)15;
}

void cpu_updates(const cpu_step *s, size_t n) {
  int64_t total = 0;
  for (size_t k = 0; k < n; k++) total += cpu_numel(&s[k].l.in_desc[0]);
#ifdef _OPENMP
#pragma omp parallel num_threads(cpu_nthreads) if (total > 16384)
#endif
  {
    int nt = 1, id = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
    int64_t lo = share_start(total, id, nt), hi = share_start(total, id + 1, nt), base = 0;
    for (size_t k = 0; k < n && base < hi; k++) {
      int64_t len = cpu_numel(&s[k].l.in_desc[0]);
      int64_t a = lo > base ? lo - base : 0, b = hi < base + len ? hi - base : len;
      if (a < b) update_range(&s[k].l, a, b);
      base += len;
    }
  }
}
