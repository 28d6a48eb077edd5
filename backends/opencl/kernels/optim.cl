/* Fused optimizer updates, in place. lr, t and m are one-element device tensors so a schedule can
 * change them without recompiling the program. */

__kernel void gs_sgd(__global float *w, int wo, __global const float *g, int go,
                     __global float *buf, int bo, __global const float *lr, int lo, int n,
                     float momentum, float wd, int nesterov) {
  int i = get_global_id(0);
  if (i >= n) return;
  float d = g[go + i] + wd * w[wo + i];
  float b = momentum * buf[bo + i] + d;
  buf[bo + i] = b;
  w[wo + i] -= lr[lo] * (nesterov ? d + momentum * b : b);
}

__kernel void gs_adamw(__global float *w, int wo, __global const float *g, int go,
                       __global float *mm, int mo, __global float *vv, int vo,
                       __global const float *lr, int lo, __global const float *ts, int to, int n,
                       float b1, float b2, float eps, float wd) {
  int i = get_global_id(0);
  if (i >= n) return;
  float l = lr[lo], t = ts[to];
  float x = w[wo + i];
  x -= l * wd * x;
  float gi = g[go + i];
  float m = b1 * mm[mo + i] + (1.0f - b1) * gi;
  float v = b2 * vv[vo + i] + (1.0f - b2) * gi * gi;
  mm[mo + i] = m;
  vv[vo + i] = v;
  float mh = m / (1.0f - pow(b1, t));
  float vh = v / (1.0f - pow(b2, t));
  w[wo + i] = x - l * mh / (sqrt(vh) + eps);
}

__kernel void gs_ema(__global float *tg, int to, __global const float *on, int oo,
                     __global const float *mom, int mo, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float m = mom[mo];
  tg[to + i] = m * tg[to + i] + (1.0f - m) * on[oo + i];
}
