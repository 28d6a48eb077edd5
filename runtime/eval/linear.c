/* Linear probe on cached frozen features: softmax regression trained by minibatch SGD with
 * momentum and a per-step cosine learning rate, on the host. The weights are d x classes, so a
 * step is a few small dot products per row; a device round trip per minibatch would cost more
 * than the arithmetic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

typedef struct probe {
  int64_t d;
  int c;
  float *w, *b; /* [c, d], [c] */
  float *mean, *inv_std;
} probe;

/* Logits of one (raw) feature row into z [c], standardising on the fly into xs [d]. */
static void logits(const probe *p, const float *x, float *xs, double *z) {
  for (int64_t j = 0; j < p->d; j++) xs[j] = (x[j] - p->mean[j]) * p->inv_std[j];
  for (int k = 0; k < p->c; k++) {
    const float *w = p->w + (size_t)k * (size_t)p->d;
    float s = 0;
    for (int64_t j = 0; j < p->d; j++) s += w[j] * xs[j];
    z[k] = (double)s + p->b[k];
  }
}

/* Softmax in place; returns -log p[label] (label < 0: 0). */
static double softmax(double *z, int c, int label) {
  double mx = z[0];
  for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
  double s = 0;
  for (int k = 0; k < c; k++) s += (z[k] = exp(z[k] - mx));
  for (int k = 0; k < c; k++) z[k] /= s;
  return label >= 0 ? -log(fmax(z[label], 1e-300)) : 0.0;
}

static void accuracy(const probe *p, const gs_features *f, float *xs, double *z, double *top1,
                     double *top5) {
  int64_t h1 = 0, h5 = 0;
  for (int64_t i = 0; i < f->n; i++) {
    logits(p, f->x + (size_t)i * (size_t)p->d, xs, z);
    int y = f->labels[i], better = 0;
    for (int k = 0; k < p->c; k++)
      if (k != y && (z[k] > z[y] || (k < y && z[k] == z[y]))) better++;
    h1 += better == 0;
    h5 += better < 5;
  }
  *top1 = f->n ? (double)h1 / (double)f->n : 0;
  *top5 = f->n ? (double)h5 / (double)f->n : 0;
}

static gs_status check_labels(const gs_features *f, int classes, const char *which) {
  for (int64_t i = 0; i < f->n; i++)
    if (f->labels[i] < 0 || f->labels[i] >= classes)
      return gs_fail(GS_ERR_INVALID, "linear probe: %s row %lld has label %d, not in 0..%d", which,
                     (long long)i, f->labels[i], classes - 1);
  return GS_OK;
}

gs_status gs_linear_probe(const gs_features *train, const gs_features *test,
                          const gs_linear_options *opt, gs_linear_result *out) {
  if (!train || !test || !out || !train->x || !test->x || !train->labels || !test->labels)
    return gs_fail(GS_ERR_INVALID, "linear probe: missing features or labels");
  if (train->d != test->d)
    return gs_fail(GS_ERR_SHAPE, "linear probe: train features are %lld wide, test %lld",
                   (long long)train->d, (long long)test->d);
  if (train->n < 1) return gs_fail(GS_ERR_INVALID, "linear probe: no train features");
  gs_linear_options o = {0};
  if (opt) o = *opt;
  int epochs = o.epochs > 0 ? o.epochs : 100, bs = o.batch > 0 ? o.batch : 256;
  float lr0 = o.lr > 0 ? o.lr : 0.1f;
  float mom = o.momentum == 0 ? 0.9f : o.momentum < 0 ? 0.0f : o.momentum;
  float wd = o.weight_decay > 0 ? o.weight_decay : 0.0f;
  int c = train->classes > test->classes ? train->classes : test->classes;
  if (c < 2) return gs_fail(GS_ERR_INVALID, "linear probe: needs at least two classes");
  gs_status st = check_labels(train, c, "train");
  if (st == GS_OK) st = check_labels(test, c, "test");
  if (st != GS_OK) return st;

  int64_t d = train->d, n = train->n;
  probe p = {d, c, NULL, NULL, NULL, NULL};
  size_t wn = (size_t)c * (size_t)d;
  p.w = calloc(wn, sizeof *p.w);
  p.b = calloc((size_t)c, sizeof *p.b);
  p.mean = calloc((size_t)d, sizeof *p.mean);
  p.inv_std = calloc((size_t)d, sizeof *p.inv_std);
  float *gw = calloc(wn, sizeof *gw), *vw = calloc(wn, sizeof *vw);
  float *gb = calloc((size_t)c, sizeof *gb), *vb = calloc((size_t)c, sizeof *vb);
  float *xs = malloc((size_t)d * sizeof *xs);
  double *z = malloc((size_t)c * sizeof *z);
  int64_t *order = malloc((size_t)n * sizeof *order);
  if (!p.w || !p.b || !p.mean || !p.inv_std || !gw || !vw || !gb || !vb || !xs || !z || !order) {
    st = gs_fail(GS_ERR_NOMEM, "linear probe: out of memory");
    goto done;
  }
  /* Standardised inputs make one learning rate fit every backbone's feature scale. */
  for (int64_t j = 0; j < d; j++) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
      double v = train->x[(size_t)i * (size_t)d + j];
      s += v;
      s2 += v * v;
    }
    double mu = s / (double)n, var = s2 / (double)n - mu * mu;
    p.mean[j] = (float)mu;
    p.inv_std[j] = (float)(1.0 / sqrt(fmax(var, 0.0) + 1e-5));
  }
  for (int64_t i = 0; i < n; i++) order[i] = i;
  uint64_t rng = o.seed ^ 0x6c696e6561725f70ull;
  int64_t steps_per_epoch = (n + bs - 1) / bs, total = (int64_t)epochs * steps_per_epoch, step = 0;
  double epoch_loss = 0;
  for (int e = 0; e < epochs; e++) {
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = eval_rng_below(&rng, i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    epoch_loss = 0;
    for (int64_t at = 0; at < n; at += bs, step++) {
      int64_t m = n - at < bs ? n - at : bs;
      memset(gw, 0, wn * sizeof *gw);
      memset(gb, 0, (size_t)c * sizeof *gb);
      for (int64_t r = 0; r < m; r++) {
        int64_t i = order[at + r];
        int y = train->labels[i];
        logits(&p, train->x + (size_t)i * (size_t)d, xs, z);
        epoch_loss += softmax(z, c, y);
        for (int k = 0; k < c; k++) {
          float gk = (float)(z[k] - (k == y));
          float *g = gw + (size_t)k * (size_t)d;
          for (int64_t j = 0; j < d; j++) g[j] += gk * xs[j];
          gb[k] += gk;
        }
      }
      float lr = (float)(0.5 * lr0 * (1.0 + cos(M_PI * (double)step / (double)total)));
      float inv_m = 1.0f / (float)m;
      for (size_t t = 0; t < wn; t++) {
        vw[t] = mom * vw[t] + gw[t] * inv_m + wd * p.w[t];
        p.w[t] -= lr * vw[t];
      }
      for (int k = 0; k < c; k++) {
        vb[k] = mom * vb[k] + gb[k] * inv_m;
        p.b[k] -= lr * vb[k];
      }
    }
  }
  out->final_loss = epoch_loss / (double)n;
  if (!isfinite(out->final_loss)) {
    st = gs_fail(GS_ERR_NUMERIC, "linear probe: the loss diverged (lr %g)", (double)lr0);
    goto done;
  }
  double t5;
  accuracy(&p, train, xs, z, &out->train_top1, &t5);
  accuracy(&p, test, xs, z, &out->top1, &out->top5);
done:
  free(p.w);
  free(p.b);
  free(p.mean);
  free(p.inv_std);
  free(gw);
  free(vw);
  free(gb);
  free(vb);
  free(xs);
  free(z);
  free(order);
  return st;
}
