/* gessl eval: the probes of a trained run's frozen backbone, printed as a table and written to
 * RUN/eval.json (only once everything succeeded, so a failure overwrites nothing). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "gessl/eval.h"
#include "gessl/io.h"
#include "gessl/train.h"

static const char *const eval_help =
    "usage: gessl eval --checkpoint RUN [OPTIONS]\n"
    "\n"
    "Evaluates the backbone saved in RUN/checkpoint.safetensors (RUN/config.json says which\n"
    "model and method) on frozen features, prints a table and writes RUN/eval.json.\n"
    "Without a probe flag every probe runs.\n"
    "\n"
    "options:\n"
    "  --checkpoint RUN     run directory written by 'gessl train --out RUN'\n"
    "  --data SPEC          data set (default: the one the run trained on); its train split is\n"
    "                       the kNN bank and linear-probe training set, its test split is what\n"
    "                       is scored (a labelled folder: the images held out of training)\n"
    "  --test-data SPEC     score on this data set instead (a folder with the same class\n"
    "                       folders); --data is then the bank whole (default: the run's)\n"
    "  --holdout X          fraction of each class held out where the data set has no test\n"
    "                       split, 0..0.9 (default: the run's, else 0.2; 0: none; the\n"
    "                       transfer set's: 0.2 unless given)\n"
    "  --split-seed N       seed of that split (default: the run's, else 0)\n"
    "  --image-size N       resolution of the features (default: the run's)\n"
    "  --image-cache FILE   decode-once cache of the --data folder, at the run's cache size\n"
    "                       (default: the run's cache when --data is the run's)\n"
    "  --knn                weighted kNN, k = 200, T = 0.1, cosine (InstDisc), top-1 and top-5\n"
    "  --linear             linear probe on cached features: SGD momentum 0.9, cosine schedule\n"
    "  --fewshot            5-way 1-shot and 5-shot episodes, nearest cosine centroid, 95% CI\n"
    "  --sigma              sigma (universality gap) on train, test and transfer tasks, on the\n"
    "                       method's embedding and on the backbone's features (BN eval mode)\n"
    "  --transfer SPEC      run the probes (and sigma) on a second data set as well (digits:\n"
    "                       real handwritten digits); images are resized to the run's size,\n"
    "                       1 <-> 3 channels converted\n"
    "  --backend SPEC       device for the features (default cpu)\n"
    "  --threads N          CPU threads of the backend (default 0: all cores)\n"
    "  --limit N            use the first N train images (default 0: all)\n"
    "  --test-limit N       use the first N test images (default 0: all)\n"
    "  --linear-epochs N    linear-probe epochs (default 100)\n"
    "  --episodes N         few-shot episodes (default 600)\n"
    "  --sigma-size N       images per sigma task, 2N views (default 128)\n"
    "  --sigma-tasks N      sigma tasks averaged (default 8)\n"
    "  --seed N             seed of the probes' sampling (default 0)\n"
    "  --help               this text\n"
    "\n"
    "Exit status: 0 done, 1 the evaluation failed (bad checkpoint, data), 2 bad option.\n";

static cli_opt_kind eval_opt(const char *n) {
  static const char *const flags[] = {"--help", "--knn", "--linear", "--fewshot", "--sigma"};
  static const char *const values[] = {
      "--checkpoint", "--data",          "--transfer",  "--backend",    "--threads",
      "--limit",      "--test-limit",    "--episodes",  "--sigma-size", "--sigma-tasks",
      "--seed",       "--linear-epochs", "--test-data", "--holdout",    "--split-seed",
      "--image-size", "--image-cache"};
  for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
    if (!strcmp(n, flags[k])) return CLI_OPT_FLAG;
  for (size_t k = 0; k < sizeof values / sizeof *values; k++)
    if (!strcmp(n, values[k])) return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

typedef struct eval_opts {
  const char *dir, *data, *transfer, *backend, *test_data, *image_cache;
  int knn, linear, fewshot, sigma;
  long long threads, limit, test_limit, epochs, episodes, sigma_size, sigma_tasks, image_size;
  uint64_t seed, split_seed;
  double holdout; /* < 0: not given */
  int has_split_seed, has_holdout;
  gs_train_settings run; /* the run's settings (config.json) */
} eval_opts;

/* ---- A growing JSON text (the CLI does not link cJSON) ---- */

typedef struct jbuf {
  char *s;
  size_t len, cap;
  int bad;
} jbuf;

static void jprintf(jbuf *j, const char *fmt, ...) GS_PRINTF(2, 3);
static void jprintf(jbuf *j, const char *fmt, ...) {
  if (j->bad) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->s ? j->s + j->len : NULL, j->s ? j->cap - j->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      j->bad = 1;
      return;
    }
    if (j->s && j->len + (size_t)n < j->cap) {
      j->len += (size_t)n;
      return;
    }
    size_t cap = (j->cap ? j->cap * 2 : 4096) + (size_t)n;
    char *s = realloc(j->s, cap);
    if (!s) {
      j->bad = 1;
      return;
    }
    j->s = s;
    j->cap = cap;
  }
}

static void jstr(jbuf *j, const char *v) {
  jprintf(j, "\"");
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    if (*p == '"' || *p == '\\')
      jprintf(j, "\\%c", *p);
    else if (*p < 0x20)
      jprintf(j, "\\u%04x", *p);
    else
      jprintf(j, "%c", *p);
  }
  jprintf(j, "\"");
}

/* A number JSON accepts (NaN and Inf become null). */
static void jnum(jbuf *j, double v) {
  if (isfinite(v))
    jprintf(j, "%.6g", v);
  else
    jprintf(j, "null");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- One data set's probes ---- */

typedef struct split_feats {
  gs_dataset *train, *test; /* test NULL: unlabelled, nothing to score */
  gs_features ftr, fte;
  char test_note[160];
} split_feats;

static void split_close(split_feats *s) {
  gs_features_free(&s->ftr);
  gs_features_free(&s->fte);
  if (s->test) gs_dataset_close(s->test);
  if (s->train) gs_dataset_close(s->train);
  memset(s, 0, sizeof *s);
}

/* what NULL: the library's message already names the probe. */
static int fail(const char *what) {
  if (!what)
    fprintf(stderr, "gessl eval: %s\n", gs_errmsg());
  else
    fprintf(stderr, "gessl eval: %s: %s\n", what, gs_errmsg());
  return CLI_FAIL;
}

/* A setting of the run's config.json, or NULL. */
static const char *run_setting(const eval_opts *o, const char *key) {
  for (int k = 0; k < o->run.n; k++)
    if (!strcmp(o->run.keys[k], key)) return o->run.values[k];
  return NULL;
}

/* The bank (train split) and what is scored: spec's test split (a labelled folder's held-out
 * images, split as in training) or, with test_spec, that data set labelled like the bank. */
static void on_note(void *user, const char *line) {
  (void)user;
  printf("  %s\n", line);
  fflush(stdout);
}

/* The cache of the bank's folder: --image-cache, else the run's own when --data is the run's, at
 * the size the run built it (so evaluating at another --image-size does not rebuild it). */
static const char *eval_cache(const eval_opts *o, int size, int *cache_size) {
  const char *cache = o->image_cache;
  const char *run_data = run_setting(o, "data");
  if (!cache && (!o->data || (run_data && !strcmp(o->data, run_data))))
    cache = run_setting(o, "image-cache");
  const char *cs = run_setting(o, "image-cache-size"), *is = run_setting(o, "image-size");
  *cache_size = cs && atoi(cs) > 0 ? atoi(cs) : is && atoi(is) > 0 ? atoi(is) : size;
  return cache && *cache ? cache : NULL;
}

static int open_split(const char *spec, const char *test_spec, const char *cache, int cache_size,
                      const eval_opts *o, double holdout, int size, split_feats *s) {
  memset(s, 0, sizeof *s);
  gs_dataset_options dopt = {0};
  dopt.limit = o->limit;
  dopt.image_size = size;
  dopt.cache = cache;
  dopt.cache_size = cache_size;
  dopt.threads = (int)o->threads;
  dopt.log = on_note;
  dopt.holdout = test_spec || !(holdout > 0) ? -1.0f : (float)holdout;
  dopt.split_seed = o->split_seed;
  s->train = gs_dataset_open(spec, GS_SPLIT_TRAIN, &dopt);
  if (!s->train) return fail(spec);
  dopt.limit = o->test_limit;
  if (test_spec) {
    dopt.classes_of = s->train;
    dopt.cache = NULL; /* the cache is the bank's folder's */
  }
  s->test = gs_dataset_open(test_spec ? test_spec : spec, GS_SPLIT_TEST, &dopt);
  if (!s->test && (test_spec || gs_dataset_classes(s->train) > 0))
    return fail(test_spec ? test_spec : spec);
  float held = gs_dataset_holdout(s->train);
  if (test_spec)
    snprintf(s->test_note, sizeof s->test_note, "%s", test_spec);
  else if (!s->test)
    snprintf(s->test_note, sizeof s->test_note, "none (unlabelled)");
  else if (held > 0)
    snprintf(s->test_note, sizeof s->test_note,
             "%.0f%% of each class held out (split seed %llu, %lld images)", 100.0 * held,
             (unsigned long long)o->split_seed, (long long)gs_dataset_size(s->test));
  else
    snprintf(s->test_note, sizeof s->test_note, "test split");
  return CLI_OK;
}

/* A test class the bank has no example of cannot be scored: refuse it by name. */
static int check_bank(const char *spec, const split_feats *s, int limited) {
  int nc = s->ftr.classes > s->fte.classes ? s->ftr.classes : s->fte.classes;
  if (nc < 1) return CLI_OK;
  int64_t *count = calloc((size_t)nc, sizeof(int64_t));
  if (!count) return fail("out of memory");
  for (int64_t i = 0; i < s->ftr.n; i++)
    if (s->ftr.labels[i] >= 0 && s->ftr.labels[i] < nc) count[s->ftr.labels[i]]++;
  int missing = -1;
  for (int64_t i = 0; i < s->fte.n && missing < 0; i++) {
    int32_t c = s->fte.labels[i];
    if (c >= 0 && c < nc && count[c] == 0) missing = c;
  }
  free(count);
  if (missing < 0) return CLI_OK;
  const char *name = gs_dataset_class_name(s->train, missing);
  fprintf(stderr,
          "gessl eval: %s: test class %d%s%s%s has no example in the bank (%lld train images%s)\n",
          spec, missing, name ? " ('" : "", name ? name : "", name ? "')" : "", (long long)s->ftr.n,
          limited ? ", cut by --limit" : "");
  return CLI_FAIL;
}

static int extract_split_(gs_device *dev, gs_model *m, int size, split_feats *s) {
  gs_feat_options fo = {0};
  fo.image_size = size;
  if (gs_extract_features(dev, m, s->train, &fo, &s->ftr) != GS_OK) return fail("features");
  if (s->test && gs_extract_features(dev, m, s->test, &fo, &s->fte) != GS_OK)
    return fail("features");
  return CLI_OK;
}

static int extract_split(gs_device *dev, gs_model *m, int size, split_feats *s) {
  double t0 = now_s();
  int rc = extract_split_(dev, m, size, s);
  if (rc == CLI_OK)
    printf("  features: %lld train + %lld test images at %dx%d in %.1f s\n", (long long)s->ftr.n,
           (long long)s->fte.n, size, size, now_s() - t0);
  return rc;
}

static int probes(gs_device *dev, const eval_opts *o, const char *spec, split_feats *s, jbuf *j) {
  if (s->ftr.classes < 1 || !s->test) {
    printf("  %-22s %-16s (unlabelled: no probes)\n", "-", spec);
    return CLI_OK;
  }
  if ((o->knn || o->linear) && check_bank(spec, s, o->limit > 0) != CLI_OK) return CLI_FAIL;
  if (o->knn) {
    gs_knn_result r;
    double t0 = now_s();
    if (gs_knn_eval(dev, &s->ftr, &s->fte, NULL, &r) != GS_OK) return fail(NULL);
    printf("  %-22s %-16s top-1 %6.2f%%  top-5 %6.2f%%   (%.1f s)\n", "knn k=200 T=0.1", spec,
           100 * r.top1, 100 * r.top5, now_s() - t0);
    jprintf(j, ",\"knn\":{\"k\":200,\"temperature\":0.1,\"top1\":");
    jnum(j, r.top1);
    jprintf(j, ",\"top5\":");
    jnum(j, r.top5);
    jprintf(j, ",\"seconds\":%.3f}", now_s() - t0);
  }
  if (o->linear) {
    gs_linear_options lo = {0};
    lo.epochs = (int)o->epochs;
    lo.seed = o->seed;
    gs_linear_result r;
    double t0 = now_s();
    if (gs_linear_probe(&s->ftr, &s->fte, &lo, &r) != GS_OK) return fail(NULL);
    char name[32];
    snprintf(name, sizeof name, "linear %lld epochs", o->epochs);
    printf("  %-22s %-16s top-1 %6.2f%%  top-5 %6.2f%%   (train %.2f%%, %.1f s)\n", name, spec,
           100 * r.top1, 100 * r.top5, 100 * r.train_top1, now_s() - t0);
    jprintf(j, ",\"linear\":{\"epochs\":%lld,\"top1\":", o->epochs);
    jnum(j, r.top1);
    jprintf(j, ",\"top5\":");
    jnum(j, r.top5);
    jprintf(j, ",\"train_top1\":");
    jnum(j, r.train_top1);
    jprintf(j, ",\"final_loss\":");
    jnum(j, r.final_loss);
    jprintf(j, ",\"seconds\":%.3f}", now_s() - t0);
  }
  if (o->fewshot) {
    static const int shots[2] = {1, 5};
    jprintf(j, ",\"fewshot\":[");
    for (int k = 0; k < 2; k++) {
      gs_fewshot_options fo = {0};
      fo.shots = shots[k];
      fo.episodes = (int)o->episodes;
      fo.seed = o->seed;
      gs_fewshot_result r;
      if (gs_fewshot_eval(&s->fte, &fo, &r) != GS_OK) return fail(NULL);
      char name[32];
      snprintf(name, sizeof name, "few-shot 5-way %d-shot", shots[k]);
      printf("  %-22s %-16s acc   %6.2f%% +- %.2f%% (95%%, %d episodes, %d queries)\n", name, spec,
             100 * r.mean, 100 * r.ci95, r.episodes, r.queries);
      jprintf(j,
              "%s{\"ways\":5,\"shots\":%d,\"queries\":%d,\"episodes\":%d,\"mean\":", k ? "," : "",
              shots[k], r.queries, r.episodes);
      jnum(j, r.mean);
      jprintf(j, ",\"ci95\":");
      jnum(j, r.ci95);
      jprintf(j, "}");
    }
    jprintf(j, "]");
  }
  return CLI_OK;
}

static int sigma_row(gs_device *dev, gs_eval_run *run, const eval_opts *o, const char *label,
                     const char *spec, const gs_dataset *ds, int size, jbuf *j, int *first) {
  void *self;
  const gs_method_iface *m = gs_eval_run_method(run, &self);
  gs_sigma_options so = {0};
  so.task_size = (int)o->sigma_size;
  so.tasks = (int)o->sigma_tasks;
  so.seed = o->seed;
  so.image_size = size;
  so.method_hp = gs_eval_run_method_hp(run);
  gs_sigma_result r;
  if (gs_sigma_measure(dev, m, self, gs_eval_run_model(run), ds, &so, &r) != GS_OK)
    return fail(NULL);
  char name[32];
  snprintf(name, sizeof name, "sigma %s", label);
  printf("  %-22s %-16s norm  %6.4f   raw %.4f  (%d tasks of %d images, tau 0.1)\n", name, spec,
         r.norm, r.raw, r.tasks, r.task_size);
  /* The same tasks on the backbone's features: the row above's figure, one level down. */
  printf("  %-22s %-16s norm  %6.4f   raw %.4f  (backbone features, BN in eval mode)\n",
         "  on the backbone", spec, r.backbone_norm, r.backbone_raw);
  jprintf(j, "%s\"%s\":{\"data\":", *first ? "" : ",", label);
  jstr(j, spec);
  jprintf(j, ",\"raw\":");
  jnum(j, r.raw);
  jprintf(j, ",\"norm\":");
  jnum(j, r.norm);
  jprintf(j, ",\"backbone_raw\":");
  jnum(j, r.backbone_raw);
  jprintf(j, ",\"backbone_norm\":");
  jnum(j, r.backbone_norm);
  jprintf(j, "}");
  *first = 0;
  return CLI_OK;
}

static int run_eval(gs_runtime *rt, const eval_opts *o) {
  gs_device *dev = gs_device_open(rt, o->backend);
  if (!dev) return fail(o->backend);
  gs_eval_run *run = gs_eval_run_open(o->sigma ? rt : NULL, dev, o->dir, o->sigma_size);
  int rc = run ? CLI_OK : fail("checkpoint");
  const gs_eval_run_info *info = run ? gs_eval_run_get_info(run) : NULL;
  const char *spec = o->data ? o->data : info && info->data[0] ? info->data : NULL;
  if (rc == CLI_OK && !spec) {
    fprintf(stderr, "gessl eval: %s/config.json names no data set; give --data\n", o->dir);
    rc = CLI_FAIL;
  }
  split_feats main_s = {0}, tr_s = {0};
  jbuf j = {0};
  const char *test_spec = o->test_data;
  const char *run_test = run_setting(o, "test-data");
  if (!test_spec && !o->data && run_test && *run_test) test_spec = run_test;
  int size = o->image_size > 0              ? (int)o->image_size
             : info && info->image_size > 0 ? info->image_size
                                            : 0;
  int cache_size = 0;
  const char *cache = eval_cache(o, size, &cache_size);
  if (rc == CLI_OK)
    rc = open_split(spec, test_spec, cache, cache_size, o, o->holdout, size, &main_s);
  /* The run's split concerns its own data, not the transfer set's. */
  if (rc == CLI_OK && o->transfer)
    rc = open_split(o->transfer, NULL, NULL, 0, o, o->has_holdout ? o->holdout : 0.2, size, &tr_s);
  if (size == 0 && main_s.train) size = gs_dataset_height(main_s.train);
  if (rc == CLI_OK) {
    printf("eval %s: %s (%lld-d features) trained with %s, on %s: %s\n", o->dir, info->model,
           (long long)info->feat_dim, info->method, gs_device_backend_name(dev),
           gs_device_get_info(dev)->name);
    printf("  data %s: %lld train images, test = %s\n", spec,
           (long long)gs_dataset_size(main_s.train), main_s.test_note);
    if (o->transfer)
      printf("  transfer %s: %lld train images, test = %s\n", o->transfer,
             (long long)gs_dataset_size(tr_s.train), tr_s.test_note);
    jprintf(&j, "{\"checkpoint\":");
    jstr(&j, o->dir);
    jprintf(&j, ",\"model\":");
    jstr(&j, info->model);
    jprintf(&j, ",\"method\":");
    jstr(&j, info->method);
    jprintf(&j, ",\"feat_dim\":%lld,\"image_size\":%d,\"backend\":", (long long)info->feat_dim,
            size);
    jstr(&j, gs_device_backend_name(dev));
    jprintf(&j, ",\"device\":");
    jstr(&j, gs_device_get_info(dev)->name);
    jprintf(&j, ",\"seed\":%llu,\"data\":", (unsigned long long)o->seed);
    jstr(&j, spec);
    jprintf(&j, ",\"test_data\":");
    jstr(&j, test_spec ? test_spec : "");
    jprintf(&j, ",\"holdout\":");
    jnum(&j, gs_dataset_holdout(main_s.train));
    jprintf(&j, ",\"split_seed\":\"%llu\",\"test\":", (unsigned long long)o->split_seed);
    jstr(&j, main_s.test_note);
  }
  int any_probe = o->knn || o->linear || o->fewshot;
  if (rc == CLI_OK && any_probe) rc = extract_split(dev, gs_eval_run_model(run), size, &main_s);
  if (rc == CLI_OK && any_probe) {
    jprintf(&j, ",\"train_images\":%lld,\"test_images\":%lld", (long long)main_s.ftr.n,
            (long long)main_s.fte.n);
    rc = probes(dev, o, spec, &main_s, &j);
  }
  if (rc == CLI_OK && o->transfer) {
    jprintf(&j, ",\"transfer\":{\"data\":");
    jstr(&j, o->transfer);
    jprintf(&j, ",\"holdout\":");
    jnum(&j, gs_dataset_holdout(tr_s.train));
    jprintf(&j, ",\"test\":");
    jstr(&j, tr_s.test_note);
    if (any_probe) rc = extract_split(dev, gs_eval_run_model(run), size, &tr_s);
    if (rc == CLI_OK && any_probe) {
      jprintf(&j, ",\"train_images\":%lld,\"test_images\":%lld", (long long)tr_s.ftr.n,
              (long long)tr_s.fte.n);
      rc = probes(dev, o, o->transfer, &tr_s, &j);
    }
    jprintf(&j, "}");
  }
  if (rc == CLI_OK && o->sigma) {
    int first = 1;
    jprintf(&j, ",\"sigma\":{\"tau\":0.1,\"task_size\":%lld,\"tasks\":%lld,", o->sigma_size,
            o->sigma_tasks);
    rc = sigma_row(dev, run, o, "train", spec, main_s.train, size, &j, &first);
    if (rc == CLI_OK && main_s.test)
      rc = sigma_row(dev, run, o, "test", spec, main_s.test, size, &j, &first);
    if (rc == CLI_OK && o->transfer)
      rc = sigma_row(dev, run, o, "transfer", o->transfer, tr_s.test ? tr_s.test : tr_s.train, size,
                     &j, &first);
    jprintf(&j, "}");
  }
  if (rc == CLI_OK) {
    jprintf(&j, "}\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.json", o->dir);
    if (j.bad)
      rc = (fprintf(stderr, "gessl eval: eval.json: out of memory\n"), CLI_FAIL);
    else if (gs_write_file_durable(path, j.s, j.len) != GS_OK)
      rc = fail("eval.json");
    else
      printf("wrote %s\n", path);
  }
  free(j.s);
  split_close(&main_s);
  split_close(&tr_s);
  gs_eval_run_close(run);
  gs_device_close(dev);
  return rc;
}

int gs_cli_eval(int argc, char **argv) {
  eval_opts o = {0};
  o.backend = "cpu";
  o.holdout = -1;
  o.epochs = 100;
  o.episodes = 600;
  o.sigma_size = 128;
  o.sigma_tasks = 8;
  cli_args a = {argc - 1, 0, argv + 1, "eval", 0};
  const char *opt, *val;
  int rc = CLI_OK;
  while (rc == CLI_OK && (opt = cli_next(&a, eval_opt, &val))) {
    if (!strcmp(opt, "--help")) {
      fputs(eval_help, stdout);
      return CLI_OK;
    } else if (!strcmp(opt, "--knn")) {
      o.knn = 1;
    } else if (!strcmp(opt, "--linear")) {
      o.linear = 1;
    } else if (!strcmp(opt, "--fewshot")) {
      o.fewshot = 1;
    } else if (!strcmp(opt, "--sigma")) {
      o.sigma = 1;
    } else if (!strcmp(opt, "--checkpoint")) {
      o.dir = val;
    } else if (!strcmp(opt, "--data")) {
      o.data = val;
    } else if (!strcmp(opt, "--transfer")) {
      o.transfer = val;
    } else if (!strcmp(opt, "--backend")) {
      o.backend = val;
    } else if (!strcmp(opt, "--threads")) {
      rc = cli_parse_int("eval", opt, val, 0, 4096, &o.threads);
    } else if (!strcmp(opt, "--limit")) {
      rc = cli_parse_int("eval", opt, val, 0, INT64_MAX, &o.limit);
    } else if (!strcmp(opt, "--test-limit")) {
      rc = cli_parse_int("eval", opt, val, 0, INT64_MAX, &o.test_limit);
    } else if (!strcmp(opt, "--linear-epochs")) {
      rc = cli_parse_int("eval", opt, val, 1, 100000, &o.epochs);
    } else if (!strcmp(opt, "--episodes")) {
      rc = cli_parse_int("eval", opt, val, 1, 1000000, &o.episodes);
    } else if (!strcmp(opt, "--sigma-size")) {
      rc = cli_parse_int("eval", opt, val, 2, 1 << 16, &o.sigma_size);
    } else if (!strcmp(opt, "--sigma-tasks")) {
      rc = cli_parse_int("eval", opt, val, 1, 1 << 20, &o.sigma_tasks);
    } else if (!strcmp(opt, "--seed")) {
      rc = cli_parse_u64("eval", opt, val, &o.seed);
    } else if (!strcmp(opt, "--test-data")) {
      o.test_data = val;
    } else if (!strcmp(opt, "--holdout")) {
      rc = cli_parse_float("eval", opt, val, 0, 0.9, &o.holdout);
      o.has_holdout = 1;
    } else if (!strcmp(opt, "--split-seed")) {
      rc = cli_parse_u64("eval", opt, val, &o.split_seed);
      o.has_split_seed = 1;
    } else if (!strcmp(opt, "--image-size")) {
      rc = cli_parse_int("eval", opt, val, 4, 4096, &o.image_size);
    } else if (!strcmp(opt, "--image-cache")) {
      o.image_cache = val;
    }
  }
  if (rc == CLI_OK) rc = a.err;
  if (rc == CLI_OK && (!o.dir || !*o.dir)) rc = cli_usage_error("eval", "--checkpoint RUN needed");
  if (rc != CLI_OK) return rc;
  if (!o.knn && !o.linear && !o.fewshot && !o.sigma) o.knn = o.linear = o.fewshot = o.sigma = 1;
  /* The held-out split is the run's own unless overridden: its settings say which. */
  char cfg[4200];
  snprintf(cfg, sizeof cfg, "%s/config.json", o.dir);
  if (gs_train_settings_read(cfg, &o.run) != GS_OK) memset(&o.run, 0, sizeof o.run);
  const char *v = run_setting(&o, "holdout");
  if (o.holdout < 0) o.holdout = v ? atof(v) : 0.2;
  v = run_setting(&o, "split-seed");
  if (!o.has_split_seed && v) o.split_seed = strtoull(v, NULL, 10);
  gs_runtime *rt = cli_runtime("eval", (int)o.threads);
  if (!rt) {
    gs_train_settings_free(&o.run);
    return CLI_FAIL;
  }
  rc = run_eval(rt, &o);
  gs_train_settings_free(&o.run);
  gs_runtime_close(rt);
  return rc;
}
