/* gs_evaluate: the whole evaluation of a trained run. It opens the run and the data splits, runs
 * the probes (kNN, linear, few-shot) on the run's data and on a transfer set, measures sigma,
 * hands each line of the report to the caller, and writes RUN/eval.json with cJSON only once
 * everything succeeded, so a failure overwrites nothing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_impl.h"
#include "gessl/train.h"
#include "log_line.h"

typedef struct ev {
  const gs_eval_options *o;
  gs_device *dev;
  gs_eval_run *run;
  gs_train_settings cfg; /* the run's settings (config.json) */
  int knn, linear, fewshot, sigma, epochs, episodes, sigma_size, sigma_tasks;
  double holdout;
  uint64_t split_seed;
  int oom; /* a cJSON allocation failed */
} ev;

typedef struct split_feats {
  gs_dataset *train, *test; /* test NULL: unlabelled, nothing to score */
  gs_features ftr, fte;
  char test_note[160];
} split_feats;

static void say(const ev *e, const char *fmt, ...) GS_PRINTF(2, 3);
static void say(const ev *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rt_log_line(e->o->print, e->o->user, fmt, ap);
  va_end(ap);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- The eval.json document ---- */

static cJSON *jadd(ev *e, cJSON *o, const char *key, cJSON *v) {
  if (!v || !o || !cJSON_AddItemToObject(o, key, v)) {
    cJSON_Delete(v);
    e->oom = 1;
    return NULL;
  }
  return v;
}

/* A figure with `digits` significant digits (the report's precision; NaN and Inf print null). */
static void jnum(ev *e, cJSON *o, const char *key, double v, int digits) {
  char b[40];
  snprintf(b, sizeof b, "%.*g", digits, v);
  jadd(e, o, key, cJSON_CreateNumber(isfinite(v) ? strtod(b, NULL) : NAN));
}
static void jstr(ev *e, cJSON *o, const char *key, const char *v) {
  jadd(e, o, key, cJSON_CreateString(v));
}
static void jseconds(ev *e, cJSON *o, double t0) {
  jadd(e, o, "seconds", cJSON_CreateNumber(round((now_s() - t0) * 1000) / 1000));
}

/* ---- Data ---- */

static void split_close(split_feats *s) {
  gs_features_free(&s->ftr);
  gs_features_free(&s->fte);
  if (s->test) gs_dataset_close(s->test);
  if (s->train) gs_dataset_close(s->train);
  memset(s, 0, sizeof *s);
}

/* A setting of the run's config.json, or NULL. */
static const char *run_setting(const ev *e, const char *key) {
  for (int k = 0; k < e->cfg.n; k++)
    if (!strcmp(e->cfg.keys[k], key)) return e->cfg.values[k];
  return NULL;
}

static void on_note(void *user, const char *line) { say(user, "  %s", line); }

/* The cache of the bank's folder: image_cache, else the run's own when the data is the run's, at
 * the size the run built it (so evaluating at another image size does not rebuild it). */
static const char *eval_cache(const ev *e, int size, int *cache_size) {
  const char *cache = e->o->image_cache;
  const char *run_data = run_setting(e, "data");
  if (!cache && (!e->o->data || (run_data && !strcmp(e->o->data, run_data))))
    cache = run_setting(e, "image-cache");
  const char *cs = run_setting(e, "image-cache-size"), *is = run_setting(e, "image-size");
  *cache_size = cs && atoi(cs) > 0 ? atoi(cs) : is && atoi(is) > 0 ? atoi(is) : size;
  return cache && *cache ? cache : NULL;
}

/* The bank (train split) and what is scored: spec's test split (a labelled folder's held-out
 * images, split as in training) or, with test_spec, that data set labelled like the bank. */
static gs_status open_split(const ev *e, const char *spec, const char *test_spec, const char *cache,
                            int cache_size, double holdout, int size, split_feats *s) {
  memset(s, 0, sizeof *s);
  gs_dataset_options dopt = {0};
  dopt.limit = e->o->limit;
  dopt.image_size = size;
  dopt.cache = cache;
  dopt.cache_size = cache_size;
  dopt.threads = e->o->threads;
  dopt.log = on_note;
  dopt.log_user = (void *)e;
  dopt.holdout = test_spec || !(holdout > 0) ? -1.0f : (float)holdout;
  dopt.split_seed = e->split_seed;
  s->train = gs_dataset_open(spec, GS_SPLIT_TRAIN, &dopt);
  if (!s->train) return eval_wrap(GS_ERR_INVALID, spec);
  dopt.limit = e->o->test_limit;
  if (test_spec) {
    dopt.classes_of = s->train;
    dopt.cache = NULL; /* the cache is the bank's folder's */
  }
  s->test = gs_dataset_open(test_spec ? test_spec : spec, GS_SPLIT_TEST, &dopt);
  if (!s->test && (test_spec || gs_dataset_classes(s->train) > 0))
    return eval_wrap(GS_ERR_INVALID, test_spec ? test_spec : spec);
  float held = gs_dataset_holdout(s->train);
  if (test_spec)
    snprintf(s->test_note, sizeof s->test_note, "%s", test_spec);
  else if (!s->test)
    snprintf(s->test_note, sizeof s->test_note, "none (unlabelled)");
  else if (held > 0)
    snprintf(s->test_note, sizeof s->test_note,
             "%.0f%% of each class held out (split seed %llu, %lld images)", 100.0 * held,
             (unsigned long long)e->split_seed, (long long)gs_dataset_size(s->test));
  else
    snprintf(s->test_note, sizeof s->test_note, "test split");
  return GS_OK;
}

/* A test class the bank has no example of cannot be scored: refuse it by name. */
static gs_status check_bank(const char *spec, const split_feats *s, int limited) {
  int nc = s->ftr.classes > s->fte.classes ? s->ftr.classes : s->fte.classes;
  if (nc < 1) return GS_OK;
  int64_t *count = calloc((size_t)nc, sizeof(int64_t));
  if (!count) return gs_fail(GS_ERR_NOMEM, "eval: out of memory");
  for (int64_t i = 0; i < s->ftr.n; i++)
    if (s->ftr.labels[i] >= 0 && s->ftr.labels[i] < nc) count[s->ftr.labels[i]]++;
  int missing = -1;
  for (int64_t i = 0; i < s->fte.n && missing < 0; i++) {
    int32_t c = s->fte.labels[i];
    if (c >= 0 && c < nc && count[c] == 0) missing = c;
  }
  free(count);
  if (missing < 0) return GS_OK;
  const char *name = gs_dataset_class_name(s->train, missing);
  return gs_fail(GS_ERR_INVALID,
                 "%s: test class %d%s%s%s has no example in the bank (%lld train images%s)", spec,
                 missing, name ? " ('" : "", name ? name : "", name ? "')" : "",
                 (long long)s->ftr.n, limited ? ", cut by --limit" : "");
}

static gs_status extract_split(const ev *e, int size, split_feats *s) {
  double t0 = now_s();
  gs_feat_options fo = {0};
  fo.image_size = size;
  gs_model *m = gs_eval_run_model(e->run);
  gs_status st = gs_extract_features(e->dev, m, s->train, &fo, &s->ftr);
  if (st == GS_OK && s->test) st = gs_extract_features(e->dev, m, s->test, &fo, &s->fte);
  if (st != GS_OK) return eval_wrap(st, "features");
  say(e, "  features: %lld train + %lld test images at %dx%d in %.1f s", (long long)s->ftr.n,
      (long long)s->fte.n, size, size, now_s() - t0);
  return GS_OK;
}

/* ---- Probes ---- */

static gs_status probes(ev *e, const char *spec, split_feats *s, cJSON *j) {
  jadd(e, j, "train_images", cJSON_CreateNumber((double)s->ftr.n));
  jadd(e, j, "test_images", cJSON_CreateNumber((double)s->fte.n));
  if (s->ftr.classes < 1 || !s->test) {
    say(e, "  %-22s %-16s (unlabelled: no probes)", "-", spec);
    return GS_OK;
  }
  gs_status st = GS_OK;
  if ((e->knn || e->linear) && (st = check_bank(spec, s, e->o->limit > 0)) != GS_OK) return st;
  if (e->knn) {
    gs_knn_result r;
    double t0 = now_s();
    if ((st = gs_knn_eval(e->dev, &s->ftr, &s->fte, NULL, &r)) != GS_OK) return st;
    say(e, "  %-22s %-16s top-1 %6.2f%%  top-5 %6.2f%%   (%.1f s)", "knn k=200 T=0.1", spec,
        100 * r.top1, 100 * r.top5, now_s() - t0);
    cJSON *k = jadd(e, j, "knn", cJSON_CreateObject());
    jadd(e, k, "k", cJSON_CreateNumber(200));
    jadd(e, k, "temperature", cJSON_CreateNumber(0.1));
    jnum(e, k, "top1", r.top1, 6);
    jnum(e, k, "top5", r.top5, 6);
    jseconds(e, k, t0);
  }
  if (e->linear) {
    gs_linear_options lo = {0};
    lo.epochs = e->epochs;
    lo.seed = e->o->seed;
    gs_linear_result r;
    double t0 = now_s();
    if ((st = gs_linear_probe(&s->ftr, &s->fte, &lo, &r)) != GS_OK) return st;
    char name[32];
    snprintf(name, sizeof name, "linear %d epochs", e->epochs);
    say(e, "  %-22s %-16s top-1 %6.2f%%  top-5 %6.2f%%   (train %.2f%%, %.1f s)", name, spec,
        100 * r.top1, 100 * r.top5, 100 * r.train_top1, now_s() - t0);
    cJSON *l = jadd(e, j, "linear", cJSON_CreateObject());
    jadd(e, l, "epochs", cJSON_CreateNumber(e->epochs));
    jnum(e, l, "top1", r.top1, 6);
    jnum(e, l, "top5", r.top5, 6);
    jnum(e, l, "train_top1", r.train_top1, 6);
    jnum(e, l, "final_loss", r.final_loss, 6);
    jseconds(e, l, t0);
  }
  if (e->fewshot) {
    static const int shots[2] = {1, 5};
    cJSON *arr = jadd(e, j, "fewshot", cJSON_CreateArray());
    for (int k = 0; k < 2; k++) {
      gs_fewshot_options fo = {0};
      fo.shots = shots[k];
      fo.episodes = e->episodes;
      fo.seed = e->o->seed;
      gs_fewshot_result r;
      if ((st = gs_fewshot_eval(&s->fte, &fo, &r)) != GS_OK) return st;
      char name[32];
      snprintf(name, sizeof name, "few-shot 5-way %d-shot", shots[k]);
      say(e, "  %-22s %-16s acc   %6.2f%% +- %.2f%% (95%%, %d episodes, %d queries)", name, spec,
          100 * r.mean, 100 * r.ci95, r.episodes, r.queries);
      cJSON *f = cJSON_CreateObject();
      if (!arr || !f || !cJSON_AddItemToArray(arr, f)) {
        cJSON_Delete(f);
        e->oom = 1;
        continue;
      }
      jadd(e, f, "ways", cJSON_CreateNumber(5));
      jadd(e, f, "shots", cJSON_CreateNumber(shots[k]));
      jadd(e, f, "queries", cJSON_CreateNumber(r.queries));
      jadd(e, f, "episodes", cJSON_CreateNumber(r.episodes));
      jnum(e, f, "mean", r.mean, 6);
      jnum(e, f, "ci95", r.ci95, 6);
    }
  }
  return GS_OK;
}

static gs_status sigma_row(ev *e, const char *label, const char *spec, const gs_dataset *ds,
                           int size, cJSON *j) {
  void *self;
  const gs_method_iface *m = gs_eval_run_method(e->run, &self);
  gs_sigma_options so = {0};
  so.task_size = e->sigma_size;
  so.tasks = e->sigma_tasks;
  so.seed = e->o->seed;
  so.image_size = size;
  so.method_hp = gs_eval_run_method_hp(e->run);
  gs_sigma_result r;
  gs_status st = gs_sigma_measure(e->dev, m, self, gs_eval_run_model(e->run), ds, &so, &r);
  if (st != GS_OK) return st;
  char name[32];
  snprintf(name, sizeof name, "sigma %s", label);
  say(e, "  %-22s %-16s norm  %6.4f   raw %.4f  (%d tasks of %d images, tau 0.1)", name, spec,
      r.norm, r.raw, r.tasks, r.task_size);
  /* The same tasks on the backbone's features: the row above's figure, one level down. */
  say(e, "  %-22s %-16s norm  %6.4f   raw %.4f  (backbone features, BN in eval mode)",
      "  on the backbone", spec, r.backbone_norm, r.backbone_raw);
  cJSON *row = jadd(e, j, label, cJSON_CreateObject());
  jstr(e, row, "data", spec);
  jnum(e, row, "raw", r.raw, 6);
  jnum(e, row, "norm", r.norm, 6);
  jnum(e, row, "backbone_raw", r.backbone_raw, 6);
  jnum(e, row, "backbone_norm", r.backbone_norm, 6);
  return GS_OK;
}

/* ---- The run ---- */

static gs_status evaluate(ev *e, gs_runtime *rt, cJSON *doc, split_feats *main_s,
                          split_feats *tr_s) {
  const gs_eval_options *o = e->o;
  e->run = gs_eval_run_open(e->sigma ? rt : NULL, e->dev, o->dir, e->sigma_size);
  if (!e->run) return eval_wrap(GS_ERR_INVALID, "checkpoint");
  const gs_eval_run_info *info = gs_eval_run_get_info(e->run);
  const char *spec = o->data ? o->data : info->data[0] ? info->data : NULL;
  if (!spec)
    return gs_fail(GS_ERR_INVALID, "%s/config.json names no data set; give --data", o->dir);
  const char *test_spec = o->test_data;
  const char *run_test = run_setting(e, "test-data");
  if (!test_spec && !o->data && run_test && *run_test) test_spec = run_test;
  int size = o->image_size > 0 ? o->image_size : info->image_size > 0 ? info->image_size : 0;
  int cache_size = 0;
  const char *cache = eval_cache(e, size, &cache_size);
  gs_status st = open_split(e, spec, test_spec, cache, cache_size, e->holdout, size, main_s);
  /* The run's split concerns its own data, not the transfer set's. */
  if (st == GS_OK && o->transfer)
    st = open_split(e, o->transfer, NULL, NULL, 0, o->has_holdout ? o->holdout : 0.2, size, tr_s);
  if (st != GS_OK) return st;
  if (size == 0) size = gs_dataset_height(main_s->train);
  say(e, "eval %s: %s (%lld-d features) trained with %s, on %s: %s", o->dir, info->model,
      (long long)info->feat_dim, info->method, gs_device_backend_name(e->dev),
      gs_device_get_info(e->dev)->name);
  say(e, "  data %s: %lld train images, test = %s", spec, (long long)gs_dataset_size(main_s->train),
      main_s->test_note);
  if (o->transfer)
    say(e, "  transfer %s: %lld train images, test = %s", o->transfer,
        (long long)gs_dataset_size(tr_s->train), tr_s->test_note);
  char seed[24];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)e->split_seed);
  jstr(e, doc, "checkpoint", o->dir);
  jstr(e, doc, "model", info->model);
  jstr(e, doc, "method", info->method);
  jadd(e, doc, "feat_dim", cJSON_CreateNumber((double)info->feat_dim));
  jadd(e, doc, "image_size", cJSON_CreateNumber(size));
  jstr(e, doc, "backend", gs_device_backend_name(e->dev));
  jstr(e, doc, "device", gs_device_get_info(e->dev)->name);
  jadd(e, doc, "seed", cJSON_CreateNumber((double)o->seed));
  jstr(e, doc, "data", spec);
  jstr(e, doc, "test_data", test_spec ? test_spec : "");
  jnum(e, doc, "holdout", gs_dataset_holdout(main_s->train), 6);
  jstr(e, doc, "split_seed", seed); /* a string: 64 bits do not fit a JSON number */
  jstr(e, doc, "test", main_s->test_note);

  int any_probe = e->knn || e->linear || e->fewshot;
  if (any_probe && (st = extract_split(e, size, main_s)) == GS_OK)
    st = probes(e, spec, main_s, doc);
  if (st == GS_OK && o->transfer) {
    cJSON *t = jadd(e, doc, "transfer", cJSON_CreateObject());
    jstr(e, t, "data", o->transfer);
    jnum(e, t, "holdout", gs_dataset_holdout(tr_s->train), 6);
    jstr(e, t, "test", tr_s->test_note);
    if (any_probe && (st = extract_split(e, size, tr_s)) == GS_OK)
      st = probes(e, o->transfer, tr_s, t);
  }
  if (st == GS_OK && e->sigma) {
    cJSON *s = jadd(e, doc, "sigma", cJSON_CreateObject());
    jadd(e, s, "tau", cJSON_CreateNumber(0.1));
    jadd(e, s, "task_size", cJSON_CreateNumber(e->sigma_size));
    jadd(e, s, "tasks", cJSON_CreateNumber(e->sigma_tasks));
    st = sigma_row(e, "train", spec, main_s->train, size, s);
    if (st == GS_OK && main_s->test) st = sigma_row(e, "test", spec, main_s->test, size, s);
    if (st == GS_OK && o->transfer)
      st = sigma_row(e, "transfer", o->transfer, tr_s->test ? tr_s->test : tr_s->train, size, s);
  }
  return st;
}

gs_status gs_evaluate(gs_runtime *rt, gs_device *dev, const gs_eval_options *o) {
  if (!dev || !o || !o->dir || !*o->dir)
    return gs_fail(GS_ERR_INVALID, "gs_evaluate: no device, options or run directory");
  ev e = {0};
  e.o = o;
  e.dev = dev;
  e.knn = o->knn, e.linear = o->linear, e.fewshot = o->fewshot, e.sigma = o->sigma;
  if (!e.knn && !e.linear && !e.fewshot && !e.sigma) e.knn = e.linear = e.fewshot = e.sigma = 1;
  e.epochs = o->linear_epochs > 0 ? o->linear_epochs : 100;
  e.episodes = o->episodes > 0 ? o->episodes : 600;
  e.sigma_size = o->sigma_size > 0 ? o->sigma_size : 128;
  e.sigma_tasks = o->sigma_tasks > 0 ? o->sigma_tasks : 8;
  /* The held-out split is the run's own unless overridden: its settings say which. */
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", o->dir);
  if (gs_train_settings_read(path, &e.cfg) != GS_OK) memset(&e.cfg, 0, sizeof e.cfg);
  const char *v = run_setting(&e, "holdout");
  e.holdout = o->has_holdout ? o->holdout : v ? atof(v) : 0.2;
  v = run_setting(&e, "split-seed");
  e.split_seed = o->has_split_seed ? o->split_seed : v ? strtoull(v, NULL, 10) : 0;

  split_feats main_s = {0}, tr_s = {0};
  cJSON *doc = cJSON_CreateObject();
  gs_status st = doc ? evaluate(&e, rt, doc, &main_s, &tr_s)
                     : gs_fail(GS_ERR_NOMEM, "eval.json: out of memory");
  char *text = st == GS_OK && !e.oom ? cJSON_PrintUnformatted(doc) : NULL;
  if (st == GS_OK && !text) st = gs_fail(GS_ERR_NOMEM, "eval.json: out of memory");
  if (st == GS_OK) {
    snprintf(path, sizeof path, "%s/eval.json", o->dir);
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the terminator: the file ends with a newline */
    st = gs_write_file_durable(path, text, len + 1);
    if (st != GS_OK)
      st = eval_wrap(st, "eval.json");
    else
      say(&e, "wrote %s", path);
  }
  cJSON_free(text);
  cJSON_Delete(doc);
  split_close(&main_s);
  split_close(&tr_s);
  gs_eval_run_close(e.run);
  gs_train_settings_free(&e.cfg);
  return st;
}
