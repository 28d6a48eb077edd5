/* What the loop watches besides the loss: kNN accuracy on held-out images every few epochs, and
 * collapse of the method's embedding on log steps. Neither changes the training state (eval-mode
 * forward, a read of the embedding copy), so a monitored run follows the same loss curve. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train_impl.h"

#if defined(__has_include)
#if __has_include("gessl/eval.h")
#include "gessl/eval.h"
#define TRAIN_HAVE_EVAL 1
#endif
#endif

#ifdef TRAIN_HAVE_EVAL
static gs_status open_held_out(train_run *r) {
  const gs_train_config *c = r->cfg;
  if (!r->knn_test) {
    gs_dataset_options o;
    train_dataset_options(c, &o);
    const char *spec = c->data;
    if (c->test_data && *c->test_data) {
      spec = c->test_data;
      o.classes_of = r->ds;
      o.cache = NULL; /* the cache is --data's */
    }
    r->knn_test = gs_dataset_open(spec, GS_SPLIT_TEST, &o);
    if (!r->knn_test) {
      char why[768];
      snprintf(why, sizeof why, "%s", gs_errmsg());
      return gs_fail(GS_ERR_INVALID, "--monitor-knn: needs a held-out split: %s", why);
    }
    if (gs_dataset_classes(r->ds) < 1 || gs_dataset_classes(r->knn_test) < 1)
      return gs_fail(GS_ERR_INVALID, "--monitor-knn: data set %s has no labels", c->data);
  }
  return GS_OK;
}
#endif

gs_status train_monitor_sigma(train_run *r, double *raw, double *norm) {
  *raw = *norm = NAN;
#ifdef TRAIN_HAVE_EVAL
  gs_status st = open_held_out(r);
  if (st != GS_OK) return st;
  gs_sigma_options o = {0};
  o.seed = r->cfg->seed;
  o.threads = r->cfg->data_threads;
  o.step = (gs_step_info){r->step, r->horizon, r->epoch};
  o.method_hp = r->method_hp;
  if (gs_dataset_size(r->knn_test) < 256) o.task_size = (int)(gs_dataset_size(r->knn_test) / 2);
  gs_sigma_result sr = {0};
  st = gs_sigma_measure(r->dev, r->method, r->method_self, r->backbone, r->knn_test, &o, &sr);
  if (st != GS_OK) return st;
  *raw = sr.raw;
  *norm = sr.norm;
  return GS_OK;
#else
  (void)r;
  return gs_fail(GS_ERR_UNSUPPORTED, "sigma: not available in this build (no evaluation)");
#endif
}

gs_status train_monitor_knn(train_run *r, double *top1, double *top5) {
  *top1 = *top5 = NAN;
#ifdef TRAIN_HAVE_EVAL
  gs_status st = open_held_out(r);
  if (st != GS_OK) return st;
  gs_features tr = {0}, te = {0};
  gs_feat_options fo = {0};
  st = gs_extract_features(r->dev, r->backbone, r->ds, &fo, &tr);
  if (st == GS_OK) st = gs_extract_features(r->dev, r->backbone, r->knn_test, &fo, &te);
  gs_knn_result kr = {0};
  if (st == GS_OK) st = gs_knn_eval(r->dev, &tr, &te, NULL, &kr);
  gs_features_free(&tr);
  gs_features_free(&te);
  if (st != GS_OK) {
    char why[768];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    return gs_fail(st, "--monitor-knn at step %lld: %s", (long long)r->step, why);
  }
  *top1 = kr.top1;
  *top5 = kr.top5;
  return GS_OK;
#else
  (void)r;
  return gs_fail(GS_ERR_UNSUPPORTED, "--monitor-knn: not available in this build (no evaluation)");
#endif
}

void train_check_collapse(train_run *r, double *std_out) {
  *std_out = NAN;
#ifdef GS_COLLAPSE_RATIO
  if (!r->embed_probe) return;
  gs_shape sh = gs_param_shape(r->embed_probe);
  float *e = malloc((size_t)gs_shape_numel(&sh) * sizeof *e);
  if (!e) return;
  double sd = NAN;
  if (gs_param_read(r->embed_probe, e) == GS_OK &&
      gs_embed_collapse(e, sh.dim[0], sh.dim[1], &sd) == GS_OK) {
    *std_out = sd;
    double ratio = sd * sqrt((double)sh.dim[1]);
    if (ratio < GS_COLLAPSE_RATIO && !r->collapse_warned) {
      train_note(r,
                 "warning: step %lld: the embeddings are collapsing (per-dimension std %.2e, "
                 "%.3f of the healthy 1/sqrt(%lld))",
                 (long long)r->step, sd, ratio, (long long)sh.dim[1]);
      r->collapse_warned = 1;
    } else if (ratio >= 2 * GS_COLLAPSE_RATIO) {
      r->collapse_warned = 0;
    }
  }
  free(e);
#else
  (void)r;
#endif
}
