/* Fused optimizer updates, in place: SGD (momentum, weight decay, Nesterov), AdamW, EMA. The
 * scalar operands (lr, step) live in device buffers so a schedule can change them without
 * recompiling. */
#include "cpu_internal.h"

#include <math.h>

void cpu_sgd(const gs_launch *l) {
  int64_t n = cpu_numel(&l->in_desc[0]);
  float *w = cpu_ptr(l->in[0]), *buf = cpu_ptr(l->in[2]);
  const float *g = cpu_ptr(l->in[1]);
  float lr = cpu_ptr(l->in[3])[0], mom = l->f[0], wd = l->f[1];
  int nesterov = l->i[0] != 0;
  CPU_PAR_FOR(n)
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * w[i];
    float b = mom * buf[i] + d;
    buf[i] = b;
    w[i] -= lr * (nesterov ? d + mom * b : b);
  }
}

void cpu_adamw(const gs_launch *l) {
  int64_t n = cpu_numel(&l->in_desc[0]);
  float *w = cpu_ptr(l->in[0]), *m = cpu_ptr(l->in[2]), *v = cpu_ptr(l->in[3]);
  const float *g = cpu_ptr(l->in[1]);
  float lr = cpu_ptr(l->in[4])[0];
  double t = cpu_ptr(l->in[5])[0];
  float b1 = l->f[0], b2 = l->f[1], eps = l->f[2], wd = l->f[3];
  float c1 = (float)(1.0 - pow((double)b1, t)), c2 = (float)(1.0 - pow((double)b2, t));
  float decay = lr * wd;
  CPU_PAR_FOR(n)
  for (int64_t i = 0; i < n; i++) {
    float wi = w[i] - decay * w[i];
    float mi = b1 * m[i] + (1.0f - b1) * g[i];
    float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    m[i] = mi, v[i] = vi;
    w[i] = wi - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

void cpu_ema(const gs_launch *l) {
  int64_t n = cpu_numel(&l->in_desc[0]);
  float *t = cpu_ptr(l->in[0]);
  const float *o = cpu_ptr(l->in[1]);
  float m = cpu_ptr(l->in[2])[0];
  CPU_PAR_FOR(n)
  for (int64_t i = 0; i < n; i++) t[i] = m * t[i] + (1.0f - m) * o[i];
}
