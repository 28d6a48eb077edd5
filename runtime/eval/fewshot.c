/* Few-shot episodes on frozen features: nearest class centroid by cosine similarity, the
 * simplest classifier that uses no training (ProtoNet-style evaluation of a fixed encoder). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

gs_status gs_fewshot_eval(const gs_features *f, const gs_fewshot_options *opt,
                          gs_fewshot_result *out) {
  if (!f || !out || !f->x || !f->labels) return gs_fail(GS_ERR_INVALID, "few-shot: no features");
  gs_fewshot_options o = {0};
  if (opt) o = *opt;
  int ways = o.ways > 0 ? o.ways : 5, shots = o.shots > 0 ? o.shots : 1;
  int queries = o.queries > 0 ? o.queries : 15, episodes = o.episodes > 0 ? o.episodes : 600;
  int classes = f->classes;
  int64_t d = f->d, need = shots + queries;
  memset(out, 0, sizeof *out);
  if (classes < 1) return gs_fail(GS_ERR_INVALID, "few-shot: the features are unlabelled");

  /* Rows of each class, to sample from. */
  int64_t *count = calloc((size_t)classes, sizeof *count);
  int64_t *start = calloc((size_t)classes + 1, sizeof *start);
  int64_t *rows = malloc((size_t)(f->n > 0 ? f->n : 1) * sizeof *rows);
  int *usable = malloc((size_t)classes * sizeof *usable);
  float *xn = malloc((size_t)(f->n > 0 ? f->n : 1) * (size_t)d * sizeof *xn);
  float *cent = malloc((size_t)ways * (size_t)d * sizeof *cent);
  double *acc = malloc((size_t)episodes * sizeof *acc);
  gs_status st = GS_OK;
  if (!count || !start || !rows || !usable || !xn || !cent || !acc) {
    st = gs_fail(GS_ERR_NOMEM, "few-shot: out of memory");
    goto done;
  }
  for (int64_t i = 0; i < f->n; i++) {
    int32_t y = f->labels[i];
    if (y >= 0 && y < classes) count[y]++;
  }
  for (int c = 0; c < classes; c++) start[c + 1] = start[c] + count[c];
  memset(count, 0, (size_t)classes * sizeof *count);
  for (int64_t i = 0; i < f->n; i++) {
    int32_t y = f->labels[i];
    if (y >= 0 && y < classes) rows[start[y] + count[y]++] = i;
  }
  if (o.queries <= 0) {
    /* The default 15 queries, fewer when the classes are small (a short test split): the ways-th
     * largest class must hold the shots and at least one query. */
    int64_t kth = 0;
    for (int c = 0; c < classes; c++) {
      int larger = 0;
      for (int e = 0; e < classes; e++) larger += count[e] > count[c];
      if (larger < ways && (kth == 0 || count[c] < kth)) kth = count[c];
    }
    if (kth - shots >= 1 && kth - shots < queries) queries = (int)(kth - shots);
    need = shots + queries;
  }
  int n_usable = 0;
  for (int c = 0; c < classes; c++)
    if (count[c] >= need) usable[n_usable++] = c;
  if (n_usable < ways) {
    st = gs_fail(GS_ERR_INVALID,
                 "few-shot: %d-way %d-shot with %d queries needs %d classes of %lld images; "
                 "%d have that many",
                 ways, shots, queries, ways, (long long)need, n_usable);
    goto done;
  }
  for (int64_t i = 0; i < f->n; i++) {
    const float *r = f->x + (size_t)i * (size_t)d;
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += (double)r[j] * r[j];
    float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
    for (int64_t j = 0; j < d; j++) xn[(size_t)i * (size_t)d + j] = r[j] * inv;
  }
  uint64_t rng = o.seed ^ 0x66657773686f7473ull;
  for (int e = 0; e < episodes; e++) {
    /* Partial Fisher-Yates over the usable classes picks the episode's classes. */
    for (int w = 0; w < ways; w++) {
      int j = w + (int)eval_rng_below(&rng, n_usable - w), t = usable[w];
      usable[w] = usable[j];
      usable[j] = t;
    }
    int64_t correct = 0;
    /* Supports first, to build every centroid before any query is classified. */
    int64_t *all = malloc((size_t)ways * (size_t)need * sizeof *all);
    if (!all) {
      st = gs_fail(GS_ERR_NOMEM, "few-shot: out of memory");
      goto done;
    }
    for (int w = 0; w < ways; w++) {
      int c = usable[w];
      int64_t *r = rows + start[c];
      for (int64_t t = 0; t < need; t++) {
        int64_t j = t + eval_rng_below(&rng, count[c] - t), tmp = r[t];
        r[t] = r[j];
        r[j] = tmp;
        all[(size_t)w * (size_t)need + t] = r[t];
      }
      float *ce = cent + (size_t)w * (size_t)d;
      memset(ce, 0, (size_t)d * sizeof *ce);
      for (int s = 0; s < shots; s++) {
        const float *x = xn + (size_t)all[(size_t)w * (size_t)need + s] * (size_t)d;
        for (int64_t j = 0; j < d; j++) ce[j] += x[j];
      }
      double s2 = 0;
      for (int64_t j = 0; j < d; j++) s2 += (double)ce[j] * ce[j];
      float inv = (float)(1.0 / fmax(sqrt(s2), 1e-12));
      for (int64_t j = 0; j < d; j++) ce[j] *= inv;
    }
    for (int w = 0; w < ways; w++)
      for (int q = 0; q < queries; q++) {
        const float *x = xn + (size_t)all[(size_t)w * (size_t)need + shots + q] * (size_t)d;
        int best = 0;
        double best_s = -INFINITY;
        for (int v = 0; v < ways; v++) {
          const float *ce = cent + (size_t)v * (size_t)d;
          double s = 0;
          for (int64_t j = 0; j < d; j++) s += (double)x[j] * ce[j];
          if (s > best_s) best_s = s, best = v;
        }
        correct += best == w;
      }
    free(all);
    acc[e] = (double)correct / (double)(ways * queries);
  }
  double mean = 0, var = 0;
  for (int e = 0; e < episodes; e++) mean += acc[e];
  mean /= episodes;
  for (int e = 0; e < episodes; e++) var += (acc[e] - mean) * (acc[e] - mean);
  var = episodes > 1 ? var / (episodes - 1) : 0;
  out->mean = mean;
  out->ci95 = 1.96 * sqrt(var / episodes);
  out->episodes = episodes;
  out->queries = queries;
done:
  free(count);
  free(start);
  free(rows);
  free(usable);
  free(xn);
  free(cent);
  free(acc);
  return st;
}
