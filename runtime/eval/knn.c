/* Weighted kNN on cosine similarity (Wu et al. 2018, the InstDisc protocol): the k nearest
 * train features of a test feature vote for their labels with weight exp(sim / T). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

enum { KNN_CHUNK = 128 }; /* test rows per similarity product */

/* Row-wise L2 normalisation into a new array (NULL when out of memory). */
static float *normalised(const gs_features *f) {
  float *x = malloc((size_t)f->n * (size_t)f->d * sizeof *x);
  if (!x) return NULL;
  for (int64_t i = 0; i < f->n; i++) {
    const float *r = f->x + (size_t)i * (size_t)f->d;
    double s = 0;
    for (int64_t j = 0; j < f->d; j++) s += (double)r[j] * r[j];
    float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
    for (int64_t j = 0; j < f->d; j++) x[(size_t)i * (size_t)f->d + j] = r[j] * inv;
  }
  return x;
}

/* Min-heap of (similarity, index) keeping the k largest similarities seen. */
typedef struct knn_heap {
  float *sim;
  int64_t *idx;
  int n, k;
} knn_heap;

static void heap_push(knn_heap *h, float s, int64_t i) {
  if (h->n < h->k) {
    int c = h->n++;
    while (c > 0) {
      int p = (c - 1) / 2;
      if (h->sim[p] <= s) break;
      h->sim[c] = h->sim[p];
      h->idx[c] = h->idx[p];
      c = p;
    }
    h->sim[c] = s;
    h->idx[c] = i;
    return;
  }
  if (s <= h->sim[0]) return;
  int c = 0;
  for (;;) {
    int l = 2 * c + 1, r = l + 1, m = c;
    float ms = s;
    if (l < h->n && h->sim[l] < ms) m = l, ms = h->sim[l];
    if (r < h->n && h->sim[r] < ms) m = r;
    if (m == c) break;
    h->sim[c] = h->sim[m];
    h->idx[c] = h->idx[m];
    c = m;
  }
  h->sim[c] = s;
  h->idx[c] = i;
}

/* Votes of one test row given its similarities to every train row; updates the hit counts. */
static void vote(const float *sims, int64_t n_train, const int32_t *train_labels, int32_t label,
                 knn_heap *h, double *scores, int classes, float temperature, int64_t *hit1,
                 int64_t *hit5) {
  h->n = 0;
  for (int64_t j = 0; j < n_train; j++) heap_push(h, sims[j], j);
  memset(scores, 0, (size_t)classes * sizeof *scores);
  for (int t = 0; t < h->n; t++) {
    int32_t c = train_labels[h->idx[t]];
    if (c >= 0 && c < classes) scores[c] += exp((double)h->sim[t] / temperature);
  }
  /* Rank of the true class: classes scoring strictly higher, ties broken by lower index. */
  int better = 0;
  for (int c = 0; c < classes; c++)
    if (c != label && (scores[c] > scores[label] || (c < label && scores[c] == scores[label])))
      better++;
  if (better == 0) (*hit1)++;
  if (better < 5) (*hit5)++;
}

static gs_status device_sims_init(gs_device *dev, const float *train, int64_t n, int64_t d,
                                  gs_param **bank, gs_graph **g, gs_tensor **q, gs_tensor **sim,
                                  gs_program **prog) {
  *bank = gs_param_new(dev, "eval.knn.bank", GS_SHAPE(n, d), 0);
  if (!*bank) return eval_wrap(GS_ERR_NOMEM, "knn: feature bank on the device");
  gs_status st = gs_param_write(*bank, train);
  if (st != GS_OK) return eval_wrap(st, "knn: uploading the feature bank");
  *g = gs_graph_new();
  if (!*g) return gs_fail(GS_ERR_NOMEM, "knn: out of memory");
  *q = gs_input(*g, "queries", GS_F32, GS_SHAPE(KNN_CHUNK, d));
  *sim = gs_matmul(*g, *q, gs_param_ref(*g, *bank), 0, 1);
  if (gs_graph_status(*g) != GS_OK)
    return gs_fail(gs_graph_status(*g), "knn: %s", gs_graph_error(*g));
  *prog = gs_compile(dev, *g, sim, 1);
  if (!*prog) return eval_wrap(GS_ERR_BACKEND, "knn: compiling the similarity product");
  return GS_OK;
}

gs_status gs_knn_eval(gs_device *dev, const gs_features *train, const gs_features *test,
                      const gs_knn_options *opt, gs_knn_result *out) {
  if (!train || !test || !out || !train->x || !test->x || !train->labels || !test->labels)
    return gs_fail(GS_ERR_INVALID, "knn: missing features or labels");
  if (train->d != test->d)
    return gs_fail(GS_ERR_SHAPE, "knn: train features are %lld wide, test features %lld",
                   (long long)train->d, (long long)test->d);
  if (train->n < 1 || test->n < 1) return gs_fail(GS_ERR_INVALID, "knn: empty feature set");
  int k = opt && opt->k > 0 ? opt->k : 200;
  float temp = opt && opt->temperature > 0 ? opt->temperature : 0.1f;
  if (k > train->n) k = (int)train->n;
  int classes = train->classes > test->classes ? train->classes : test->classes;
  if (classes < 1) return gs_fail(GS_ERR_INVALID, "knn: the features are unlabelled");
  memset(out, 0, sizeof *out);

  int64_t d = train->d, ntr = train->n;
  float *tr = normalised(train), *te = normalised(test);
  float *sims = malloc((size_t)KNN_CHUNK * (size_t)ntr * sizeof *sims);
  float *qbuf = calloc((size_t)KNN_CHUNK * (size_t)d, sizeof *qbuf);
  double *scores = malloc((size_t)classes * sizeof *scores);
  knn_heap h = {malloc((size_t)k * sizeof(float)), malloc((size_t)k * sizeof(int64_t)), 0, k};
  gs_param *bank = NULL;
  gs_graph *g = NULL;
  gs_program *prog = NULL;
  gs_tensor *q = NULL, *sim = NULL;
  gs_status st = GS_OK;
  if (!tr || !te || !sims || !qbuf || !scores || !h.sim || !h.idx) {
    st = gs_fail(GS_ERR_NOMEM, "knn: out of memory for %lld x %lld similarities",
                 (long long)KNN_CHUNK, (long long)ntr);
    goto done;
  }
  if (dev) st = device_sims_init(dev, tr, ntr, d, &bank, &g, &q, &sim, &prog);
  int64_t hit1 = 0, hit5 = 0;
  for (int64_t at = 0; at < test->n && st == GS_OK; at += KNN_CHUNK) {
    int64_t m = test->n - at < KNN_CHUNK ? test->n - at : KNN_CHUNK;
    const float *qs = te + (size_t)at * (size_t)d;
    if (prog) {
      memcpy(qbuf, qs, (size_t)m * (size_t)d * sizeof *qbuf);
      st = gs_program_feed(prog, q, qbuf);
      if (st == GS_OK) st = gs_program_run(prog);
      if (st == GS_OK) st = gs_program_fetch(prog, sim, sims);
      if (st != GS_OK) break;
    } else {
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ntr; j++) {
          const float *a = qs + (size_t)i * (size_t)d, *b = tr + (size_t)j * (size_t)d;
          float s = 0;
          for (int64_t t = 0; t < d; t++) s += a[t] * b[t];
          sims[(size_t)i * (size_t)ntr + j] = s;
        }
    }
    for (int64_t i = 0; i < m; i++) {
      int32_t label = test->labels[at + i];
      if (label < 0 || label >= classes) {
        st = gs_fail(GS_ERR_INVALID, "knn: test row %lld has no label", (long long)(at + i));
        break;
      }
      vote(sims + (size_t)i * (size_t)ntr, ntr, train->labels, label, &h, scores, classes, temp,
           &hit1, &hit5);
    }
  }
  if (st == GS_OK) {
    out->top1 = (double)hit1 / (double)test->n;
    out->top5 = (double)hit5 / (double)test->n;
  }
done:
  gs_program_free(prog);
  gs_graph_free(g);
  if (bank) gs_param_free(bank);
  free(tr);
  free(te);
  free(sims);
  free(qbuf);
  free(scores);
  free(h.sim);
  free(h.idx);
  return st;
}
