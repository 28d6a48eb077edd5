/* The training loop: set-up of every part of a run, the outer-step loop, progress and teardown. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gessl/comm.h"
#include "gessl/hparams.h"
#include "log_line.h"
#include "train_impl.h"

void gs_train_config_init(gs_train_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->backend = "cpu";
  cfg->data = "synthetic";
  cfg->model = "convnet";
  cfg->method = "simclr";
  cfg->meta = "none";
  cfg->batch = 256;
  cfg->epochs = 1;
  cfg->lr = 0.3f;
  cfg->optimizer = GS_OPT_SGD;
  cfg->width = 1.0f;
  cfg->warmup_steps = -1;
  cfg->weight_decay = -1.0f;
  cfg->log_every = 10;
  cfg->holdout = 0.2f;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The backend part of a spec ("opencl" of "opencl:1") must name a loaded backend; each item of a
 * per-rank list (cpu,opencl) likewise. */
static gs_status check_backend(gs_runtime *rt, const char *spec) {
  const char *comma = strchr(spec, ',');
  if (comma) {
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(comma - spec), spec);
    gs_status st = check_backend(rt, first);
    return st == GS_OK ? check_backend(rt, comma + 1) : st;
  }
  size_t len = strcspn(spec, ":");
  char names[256] = "";
  size_t at = 0;
  for (int b = 0; b < gs_runtime_backend_count(rt); b++) {
    const char *name = gs_runtime_backend(rt, b)->name;
    if (strlen(name) == len && !strncmp(name, spec, len)) return GS_OK;
    int w = snprintf(names + at, sizeof names - at, "%s%s", at ? ", " : "", name);
    if (w > 0 && (size_t)w < sizeof names - at) at += (size_t)w;
  }
  return gs_fail(GS_ERR_INVALID, "--backend %s: no such backend (found: %s)", spec,
                 at ? names : "none");
}

gs_status gs_train_validate(gs_runtime *rt, const gs_train_config *c) {
  if (!c) return gs_fail(GS_ERR_INVALID, "train: no configuration");
  gs_status st = train_check_settings(c);
  if (st != GS_OK) return st;
  if (c->n_set < 0 || (c->n_set > 0 && (!c->set_names || !c->set_values)))
    return gs_fail(GS_ERR_INVALID, "--set: malformed list");
  /* Rank 0 alone writes the run directory (data-parallel), so it alone checks it. */
  if (c->out && !c->resume && !c->force && gs_world_rank() == 0) {
    const char *held = train_dir_run_file(c->out);
    if (held)
      return gs_fail(GS_ERR_INVALID,
                     "--out %s: already holds a run (%s); continue it with --resume %s, or give "
                     "--force to replace it",
                     c->out, held, c->out);
  }
  if (!rt) return GS_OK;
  if ((st = check_backend(rt, c->backend)) != GS_OK) return st;
  const gs_method_iface *method = gs_runtime_method(rt, c->method ? c->method : "");
  if (!method) {
    char why[512];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    return gs_fail(GS_ERR_INVALID, "--method %s: %s", c->method ? c->method : "", why);
  }
  const gs_meta_iface *meta = gs_runtime_meta(rt, c->meta ? c->meta : "");
  if (!meta) {
    char why[512];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    return gs_fail(GS_ERR_INVALID, "--meta %s: %s", c->meta ? c->meta : "", why);
  }
  return train_resolve_hparams(c, method, meta, NULL, NULL);
}

/* Frees what set_up opened, in reverse order. */
static void tear_down(train_run *r) {
  train_log_close(r);
  if (r->meta_self) r->meta->destroy(r->meta_self);
  if (r->embed_probe) gs_param_free(r->embed_probe);
  gs_pset_free(r->state);
  for (int v = 0; v < GS_MAX_VIEWS; v++) free(r->fresh[v]);
  train_curve_free(&r->c_loss);
  train_curve_free(&r->c_lr);
  train_curve_free(&r->c_epoch_loss);
  train_curve_free(&r->c_knn);
  train_curve_free(&r->c_sigma);
  if (r->opt) gs_optimizer_free(r->opt);
  if (r->method_self) r->method->destroy(r->method_self);
  gs_pset_free(r->params);
  gs_model_free(r->backbone);
  if (r->loader) gs_loader_free(r->loader);
  if (r->knn_test) gs_dataset_close(r->knn_test);
  if (r->ds) gs_dataset_close(r->ds);
  if (r->dev) gs_device_close(r->dev);
  if (r->own_rt) gs_runtime_close(r->rt);
  free(r->method_hp);
  free(r->meta_hp);
}

void train_note(const train_run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rt_log_line(r->cfg->log, r->cfg->user, fmt, ap);
  va_end(ap);
}

/* Wraps the message of a failed call with what the loop was doing. */
static gs_status failed(gs_status st, const char *what) {
  char why[768];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  return gs_fail(st, "%s: %s", what, why);
}

void train_dataset_options(const gs_train_config *c, gs_dataset_options *o) {
  memset(o, 0, sizeof *o);
  o->image_size = c->image_size;
  o->seed = c->seed;
  /* With test images of their own (--test-data) or --holdout 0, nothing is held out. */
  o->holdout = (c->test_data && *c->test_data) || !(c->holdout > 0.0f) ? -1.0f : c->holdout;
  o->split_seed = c->split_seed;
  o->cache = c->image_cache;
  o->cache_size = c->image_cache_size;
  o->threads = c->data_threads;
  o->log = c->log;
  o->log_user = c->user;
}

/* A folder image that failed to decode: one warning naming it, one log.jsonl event with the count.
 */
static void on_bad_image(void *user, const char *msg) {
  train_run *r = user;
  int64_t n = r->loader ? gs_loader_bad_images(r->loader) : 0;
  train_note(r, "warning: skipped an image that does not decode: %s", msg);
  char detail[700];
  snprintf(detail, sizeof detail, "%s (%lld skipped so far)", msg, (long long)n);
  train_log_event(r, "bad_image", detail);
}

static gs_status set_up(train_run *r) {
  const gs_train_config *c = r->cfg;
  if (!r->rt) {
    gs_runtime_options o = {c->plugin_path, c->threads, NULL};
    r->rt = gs_runtime_open(&o);
    if (!r->rt) return failed(GS_ERR_NOMEM, "train: opening the runtime");
    r->own_rt = 1;
  }
  gs_status st = gs_train_validate(r->rt, c);
  if (st != GS_OK) return st;
  r->method = gs_runtime_method(r->rt, c->method);
  r->meta = gs_runtime_meta(r->rt, c->meta);
  st = train_resolve_hparams(c, r->method, r->meta, &r->method_hp, &r->meta_hp);
  if (st != GS_OK) return st;

  /* Data-parallel: --batch is the global batch, each rank loads its share; a comma list of
   * backends gives rank r the r-th (cycling), so one job can mix vendors and drivers. */
  const int world = gs_world_size(), rank = gs_world_rank();
  gs_world_set_sync_bn(c->sync_bn);
  if (c->batch % world != 0 && strcmp(c->meta, "none") == 0)
    return gs_fail(GS_ERR_INVALID, "--batch %d: not a multiple of the %d ranks", c->batch, world);
  /* A meta-optimizer other than the plain one (GeSSL and its M tasks) spreads its tasks over the
   * ranks instead of splitting each batch: every rank trains on whole batches of its own, dealt
   * out in groups of its tasks per step, so a step uses world x tasks batches as one process with
   * that many tasks would; the graph collectives are then the identity (comm.h). */
  const int tasks = world > 1 && strcmp(c->meta, "none") != 0;
  gs_world_set_batch_split(!tasks);
  const int local = tasks ? c->batch : c->batch / world;
  char spec[256];
  train_rank_backend(c->backend, rank, spec, sizeof spec);
  r->dev = gs_device_open(r->rt, spec);
  if (!r->dev) return failed(GS_ERR_UNAVAILABLE, "--backend");
  /* Before anything is compiled on the device, so every program of the run is checked. */
  gs_device_set_detect_anomaly(r->dev, c->detect_anomaly);

  gs_dataset_options dopt = {0};
  train_dataset_options(c, &dopt);
  dopt.limit = c->data_limit;
  r->ds = gs_dataset_open(c->data, GS_SPLIT_TRAIN, &dopt);
  if (!r->ds) return failed(GS_ERR_INVALID, "--data");
  int size = gs_dataset_height(r->ds);
  if (c->image_size > 0 && (size != c->image_size || gs_dataset_width(r->ds) != size))
    return gs_fail(GS_ERR_INVALID, "--image-size %d: data set %s has a fixed size of %dx%d",
                   c->image_size, c->data, size, gs_dataset_width(r->ds));
  if (gs_dataset_size(r->ds) < c->batch)
    return gs_fail(GS_ERR_INVALID, "--batch %d: larger than the data set (%lld images)", c->batch,
                   (long long)gs_dataset_size(r->ds));
  gs_loader_options lopt = {0};
  st = gs_method_views(r->method, r->method_hp, size, &lopt.recipe);
  if (st != GS_OK) return st;
  int n_views = lopt.recipe.n_views;
  lopt.batch = local;
  lopt.shards = world;
  lopt.shard = rank;
  lopt.shard_groups = tasks; /* 1 until the meta-optimizer says how many tasks a step takes */
  lopt.threads = c->data_threads;
  lopt.seed = c->seed;
  lopt.drop_last = 1;
  lopt.bad_images_fatal = c->bad_images_fail;
  lopt.on_bad_image = on_bad_image;
  lopt.user = r;
  r->recipe = lopt.recipe;
  /* Multi-crop: each view keeps the recipe's size (local crops are smaller), and the
   * meta-optimizer builds one input per view in that shape. */
  for (int v = 0; v < n_views; v++) {
    int vs = lopt.recipe.views[v].size;
    r->view_shapes[v] = GS_SHAPE(local, gs_dataset_channels(r->ds), vs, vs);
  }
  r->loader = gs_loader_new(r->ds, &lopt);
  if (!r->loader) return failed(GS_ERR_INVALID, "train: data loader");

  r->on_device = 1; /* what fails from here on is placing the run on the device */
  gs_model_config mc = {.arch = c->model,
                        .in_channels = gs_dataset_channels(r->ds),
                        .image_size = size,
                        .width = c->width,
                        .seed = c->seed,
                        .prefix = ""};
  r->backbone = gs_model_new(r->dev, &mc);
  if (!r->backbone) return failed(GS_ERR_INVALID, "--model");

  r->meta_self = NULL;
  int64_t batches = gs_loader_batches_per_epoch(r->loader);
  r->batches_per_epoch = batches > 0 ? batches : 1;
  gs_method_ctx mctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION),
                        .dev = r->dev,
                        .backbone = r->backbone,
                        .batch = local,
                        .hp = r->method_hp,
                        .seed = c->seed};
  /* The step count depends on the meta-optimizer's batches per step, known only once it exists;
   * the method gets the schedule's length for one batch per step, which the plain loop uses. */
  mctx.total_steps = (int64_t)c->epochs * batches;
  st = gs_method_create(r->method, &mctx, &r->method_self);
  if (st != GS_OK) return failed(st, "method create");

  r->params = gs_pset_new();
  if (!r->params) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  const gs_pset *bp = gs_model_params(r->backbone);
  for (int k = 0; k < gs_pset_count(bp) && st == GS_OK; k++)
    st = gs_pset_add(r->params, gs_pset_get(bp, k));
  if (st == GS_OK) st = r->method->params(r->method_self, r->params);
  if (st != GS_OK) return failed(st, "train: collecting parameters");
  r->state = gs_pset_new();
  if (!r->state) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  const gs_pset *bs = gs_model_state(r->backbone);
  for (int k = 0; k < gs_pset_count(bs) && st == GS_OK; k++)
    st = gs_pset_add(r->state, gs_pset_get(bs, k));
  if (st == GS_OK && r->method->state) st = r->method->state(r->method_self, r->state);
  if (st != GS_OK) return failed(st, "train: collecting the method's state");

  r->opt_cfg = gs_optim_defaults(c->optimizer);
  if (c->weight_decay >= 0.0f) r->opt_cfg.weight_decay = c->weight_decay;
  r->opt = gs_optimizer_new(&r->opt_cfg, r->params);
  if (!r->opt) return failed(GS_ERR_NOMEM, "--optimizer");

  r->host.dev = r->dev;
  r->host.params = r->params;
  r->host.n_views = n_views;
  r->host.view_shape = GS_SHAPE(local, gs_dataset_channels(r->ds), size, size);
  r->host.hp = r->meta_hp;
  r->host.base_lr = c->lr;
  r->host.seed = c->seed;
  r->host.state = r->state;
  r->host.view_shapes = r->view_shapes;
  train_host_init(r);
  /* A plugin built before version 3 reads the host table without its head. */
  st = r->meta->create(r->meta->abi_version >= 3 ? &r->host : (const void *)&r->host.host,
                       &r->meta_self);
  if (st != GS_OK) {
    r->meta_self = NULL;
    return failed(st, "meta-optimizer create");
  }
  int per = r->meta->batches_per_step(r->meta_self);
  if (tasks && per > 1) { /* deal whole batches out in groups of per */
    gs_loader_free(r->loader);
    lopt.shard_groups = per;
    r->loader = gs_loader_new(r->ds, &lopt);
    if (!r->loader) return failed(GS_ERR_INVALID, "train: data loader");
    batches = gs_loader_batches_per_epoch(r->loader);
    r->batches_per_epoch = batches > 0 ? batches : 1;
  }
  if (tasks) train_note(r, "%s: %d tasks per rank, %d in all", r->meta->name, per, per * world);
  r->steps_per_epoch = batches / (per > 0 ? per : 1);
  if (r->steps_per_epoch < 1) r->steps_per_epoch = 1;
  r->horizon = (int64_t)c->epochs * r->steps_per_epoch;
  r->total = r->horizon;
  if (c->max_steps > 0 && c->max_steps < r->total) r->total = c->max_steps;
  r->warmup = c->warmup_steps >= 0 ? c->warmup_steps : r->horizon / 20;
  if (c->warmup_steps < 0 && r->warmup > 500) r->warmup = 500;
  return GS_OK;
}

static void fill_device(train_run *r, gs_train_result *res) {
  if (!r->dev) return;
  snprintf(res->device, sizeof res->device, "%s: %s", gs_device_backend_name(r->dev),
           gs_device_get_info(r->dev)->name);
}

/* The step of a NaN/Inf loss is named; the checkpoint on disk is the last good one. */
static gs_status diverged(const train_run *r, double loss) {
  if (r->checkpoint_step >= 0 && r->dir)
    return gs_fail(GS_ERR_NUMERIC,
                   "train: the loss is %g at step %lld: the run diverged (lower --lr?); the last "
                   "good checkpoint, step %lld, is kept in %s",
                   loss, (long long)r->step + 1, (long long)r->checkpoint_step, r->dir);
  return gs_fail(GS_ERR_NUMERIC,
                 "train: the loss is %g at step %lld: the run diverged (lower --lr?); no "
                 "checkpoint was written before it",
                 loss, (long long)r->step + 1);
}

/* A step stopped on a NaN/Inf (--detect-anomaly): the message says which checkpoint is kept. */
static gs_status numeric_failed(const train_run *r, gs_status st) {
  char why[1024];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  if (r->checkpoint_step >= 0 && r->dir)
    return gs_fail(st, "%s; the last good checkpoint, step %lld, is kept in %s", why,
                   (long long)r->checkpoint_step, r->dir);
  return gs_fail(st, "%s; no checkpoint was written before it", why);
}

/* Run directory: a new run creates it and writes config.json; a resumed one first checks and
 * loads the checkpoint, so a refused checkpoint leaves every file as it was. */
static gs_status open_dir(train_run *r) {
  const gs_train_config *c = r->cfg;
  gs_status st = GS_OK;
  if (c->resume) {
    st = train_checkpoint_load(r);
    if (st != GS_OK) return st;
    train_dir_sweep(r->dir);
  } else {
    st = train_mkdir_p(r->dir);
    if (st == GS_OK && c->force) st = train_dir_clear(r->dir);
  }
  if (st == GS_OK) st = train_write_config(r);
  if (st == GS_OK) st = train_log_open(r, c->resume != NULL);
  return st;
}

/* kNN monitoring and the end of an epoch: log line, callback, plot, checkpoint. */
static gs_status end_epoch(train_run *r, int64_t epoch, double loss_sum, int64_t n, double secs) {
  const gs_train_config *c = r->cfg;
  gs_train_epoch e = {epoch, r->step, n > 0 ? loss_sum / (double)n : NAN, secs, NAN, NAN, NAN, NAN};
  if (c->monitor_knn > 0 && (epoch + 1) % c->monitor_knn == 0) {
    double m0 = now_s();
    gs_status st = train_monitor_knn(r, &e.knn_top1, &e.knn_top5);
    if (st != GS_OK) return st;
    r->knn_top1 = e.knn_top1;
    r->knn_top5 = e.knn_top5;
    /* Sigma is a figure to watch, not a reason to stop the run. */
    if (train_monitor_sigma(r, &e.sigma, &e.sigma_norm) != GS_OK)
      train_note(r, "warning: sigma not measured at epoch %lld: %s", (long long)epoch + 1,
                 gs_errmsg());
    r->monitor_s += now_s() - m0;
  }
  gs_status st = r->dir ? train_log_epoch(r, &e) : GS_OK;
  if (st == GS_OK && c->epoch_end) c->epoch_end(c->user, &e);
  if (st == GS_OK && r->dir) st = train_plot(r);
  return st;
}

/* A write into the run directory failed (disk full, quota, I/O error): the run ends, naming the
 * file, the cause and the checkpoint that is kept (durable writes never replace it with part of
 * a file). */
static gs_status write_failed(const train_run *r, gs_status st) {
  char why[1024];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  if (r->checkpoint_step >= 0)
    return gs_fail(st, "train: step %lld: %s; the last checkpoint, step %lld, is kept in %s",
                   (long long)r->step, why, (long long)r->checkpoint_step, r->dir);
  return gs_fail(st, "train: step %lld: %s; no checkpoint was written before it",
                 (long long)r->step, why);
}

/* The device failed: out of its memory, a program build or launch that failed, no answer within
 * the wait timeout. The message names the device (several may be in use across ranks and runs),
 * the cause, and what is kept on disk: the last checkpoint of this run, or, when the failure
 * came while a resumed run was being set up, the checkpoint it was resuming from, untouched. */
static gs_status device_failed(const train_run *r, gs_status st, const char *what) {
  char why[1024], on[256] = "";
  snprintf(why, sizeof why, "%s", gs_errmsg());
  if (r->dev)
    snprintf(on, sizeof on, " on %s device '%s'", gs_device_backend_name(r->dev),
             gs_device_get_info(r->dev)->name);
  if (r->checkpoint_step >= 0 && r->dir)
    return gs_fail(st, "%s%s: %s; the last checkpoint, step %lld, is kept in %s", what, on, why,
                   (long long)r->checkpoint_step, r->dir);
  if (r->cfg->resume && r->writer)
    return gs_fail(st, "%s%s: %s; the checkpoint in %s is kept as it was", what, on, why,
                   r->cfg->resume);
  return gs_fail(st, "%s%s: %s; no checkpoint was written before it", what, on, why);
}

static int is_device_fault(gs_status st) { return st == GS_ERR_NOMEM || st == GS_ERR_BACKEND; }

gs_status gs_train_run(gs_runtime *rt, const gs_train_config *cfg, gs_train_result *res) {
  gs_train_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  res->checkpoint_step = -1;
  res->knn_top1 = res->knn_top5 = NAN;
  if (!cfg) return gs_fail(GS_ERR_INVALID, "train: no configuration");
  train_run *r = calloc(1, sizeof *r);
  if (!r) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  r->cfg = cfg;
  r->rt = rt;
  r->dir = cfg->resume ? cfg->resume : cfg->out;
  r->writer = gs_world_rank() == 0;
  r->checkpoint_step = -1;
  r->knn_top1 = r->knn_top5 = NAN;
  double t0 = now_s();
  gs_status st = set_up(r);
  /* A device that cannot be opened (its programs do not build) is named by gs_device_open. */
  if (st != GS_OK && (r->on_device || is_device_fault(st) || cfg->resume))
    st = device_failed(r, st, "train: setting up");
  fill_device(r, res);
  if (st == GS_OK && r->dir && r->writer) st = open_dir(r);
  if (!r->writer) r->dir = NULL; /* rank 0 writes config, logs, plots and checkpoints */
  if (st == GS_OK) st = train_sync_from_root(r);
  if (st == GS_OK) st = train_detect_mixed(r);
  if (st == GS_OK && r->mixed)
    train_note(r, "the ranks run different backends: rank 0's parameters are shared after every "
                  "step to keep them bit-identical");
  res->start_step = res->steps = r->step;
  res->images = r->images;
  res->checkpoint_step = r->checkpoint_step;
  if (st == GS_OK) {
    if (cfg->resume)
      train_note(r, "resuming %s at step %lld of %lld", r->dir, (long long)r->step,
                 (long long)r->total);
    if (cfg->resume && r->step >= r->total)
      train_note(r, "nothing to do: the run is at its last step; raise --max-steps (0: no cap) or "
                    "--epochs to continue it");
    train_note(r, "training %s + %s/%s on %s, %lld steps of %d images (%lld per epoch)", cfg->model,
               cfg->method, cfg->meta, res->device, (long long)r->total, cfg->batch,
               (long long)r->steps_per_epoch);
  }
  double t1 = now_s(), comm0 = gs_world_comm_seconds(); /* collectives of the steps only */
  res->setup_seconds = t1 - t0;
  int log_every = cfg->log_every > 0 ? cfg->log_every : 10;
  int64_t ckpt_every = cfg->checkpoint_every;
  int64_t images0 = r->images, start = r->step;
  double window = 0.0, epoch_t0 = t1;
  int in_window = 0;
  /* GESSL_PROFILE: the device's counters of every step, as a note. */
  const char *prof = getenv("GESSL_PROFILE");
  int profile = prof && *prof && strcmp(prof, "0") != 0;
  while (st == GS_OK && r->step < r->total) {
    /* With several ranks the stop request is agreed on below, after the step, so that every
     * rank stops at the same step and none waits in a collective for one that left. */
    if (gs_world_size() < 2 && cfg->stop && *cfg->stop) {
      st = GS_ERR_INTERRUPTED;
      break;
    }
    r->lr = gs_lr_warmup_cosine(r->step, r->horizon, r->warmup, cfg->lr, cfg->final_lr);
    gs_meta_result mr = {0};
    gs_bcounters c0 = gs_device_counters(r->dev);
    st = r->meta->step(r->meta_self, &mr);
    if (st == GS_OK && profile) {
      gs_bcounters c1 = gs_device_counters(r->dev);
      char line[512];
      gs_counters_format(&c0, &c1, line, sizeof line);
      train_note(r, "step %lld: %s", (long long)r->step + 1, line);
    }
    if (st != GS_OK) {
      char what[64];
      snprintf(what, sizeof what, "train: step %lld", (long long)r->step + 1);
      if (is_device_fault(st)) {
        st = device_failed(r, st, what);
      } else {
        st = failed(st, what);
        if (st == GS_ERR_NUMERIC) st = numeric_failed(r, st); /* --detect-anomaly */
      }
      break;
    }
    /* The step's loss over the whole global batch: the mean of the ranks' losses. */
    if (gs_world_size() > 1) {
      float l = (float)mr.loss;
      st = gs_world_all_reduce(&l, 1, GS_COMM_SUM);
      if (st != GS_OK) break;
      mr.loss = (double)l / gs_world_size();
    }
    if (!isfinite(mr.loss)) {
      st = diverged(r, mr.loss);
      break;
    }
    r->step++;
    if (r->mixed && (st = train_share_tensors(r)) != GS_OK) break;
    if (cfg->check_sync > 0 && r->step % cfg->check_sync == 0 &&
        (st = train_check_sync(r, "step")) != GS_OK)
      break;
    r->batches += mr.batches > 0 ? mr.batches : 1;
    if (r->step == start + 1) res->first_loss = mr.loss;
    window += mr.loss;
    in_window++;
    r->epoch_loss_sum += mr.loss;
    r->epoch_loss_n++;
    res->steps = r->step;
    res->images = r->images;
    res->final_loss = window / in_window;
    int log_step = r->step == start + 1 || r->step % log_every == 0 || r->step == r->total;
    double el = now_s() - t1 - r->monitor_s;
    double ips = el > 0 ? (double)(r->images - images0) / el : 0.0;
    if (log_step) {
      double cstd = NAN;
      train_check_collapse(r, &cstd);
      if (r->dir && (st = train_log_step(r, &mr, ips, cstd)) != GS_OK) {
        st = write_failed(r, st);
        break;
      }
    }
    if (cfg->progress) {
      int64_t es = (r->step - 1) % r->steps_per_epoch + 1;
      double per = el / (double)(r->step - start);
      gs_train_progress p = {r->step,
                             r->total,
                             (r->step - 1) / r->steps_per_epoch,
                             cfg->epochs,
                             mr.loss,
                             window / in_window,
                             r->lr,
                             ips,
                             el,
                             per * (double)(r->total - r->step),
                             es,
                             r->steps_per_epoch,
                             log_step};
      cfg->progress(cfg->user, &p);
    }
    if (log_step && r->step % log_every == 0 && r->step != r->total) {
      window = 0.0;
      in_window = 0;
    }
    int epoch_done = r->step % r->steps_per_epoch == 0;
    if (epoch_done) {
      double tn = now_s();
      st = end_epoch(r, r->step / r->steps_per_epoch - 1, r->epoch_loss_sum, r->epoch_loss_n,
                     tn - epoch_t0);
      if (st == GS_ERR_IO) st = write_failed(r, st);
      epoch_t0 = tn;
      r->epoch_loss_sum = 0.0;
      r->epoch_loss_n = 0;
    }
    int stopping = cfg->stop && *cfg->stop;
    if (gs_world_size() > 1) { /* one rank's Ctrl-C stops every rank at the same step */
      float s = (float)stopping;
      if (st == GS_OK) st = gs_world_all_reduce(&s, 1, GS_COMM_MAX);
      stopping = s > 0.0f;
    }
    int ckpt_due = epoch_done || (ckpt_every > 0 && r->step % ckpt_every == 0) || stopping ||
                   r->step == r->total;
    if (st == GS_OK && ckpt_due && gs_world_size() > 1) st = train_check_sync(r, "checkpoint");
    if (st == GS_OK && r->dir && ckpt_due) {
      double saved = r->elapsed_before;
      r->elapsed_before = saved + (now_s() - t1);
      st = train_checkpoint_save(r);
      r->elapsed_before = saved;
      res->checkpoint_step = r->checkpoint_step;
      if (st == GS_ERR_IO) st = write_failed(r, st);
    }
    if (st == GS_OK && stopping && gs_world_size() > 1) st = GS_ERR_INTERRUPTED;
  }
  /* A run capped mid-epoch still ends with its kNN accuracy and curves. */
  if (st == GS_OK && r->step % r->steps_per_epoch != 0 && r->step > start) {
    if (cfg->monitor_knn > 0) {
      double m0 = now_s();
      st = train_monitor_knn(r, &r->knn_top1, &r->knn_top5);
      if (st == GS_OK && r->dir) {
        gs_train_epoch e = {
            r->step / r->steps_per_epoch, r->step, NAN, 0.0, r->knn_top1, r->knn_top5, NAN, NAN};
        if (train_monitor_sigma(r, &e.sigma, &e.sigma_norm) != GS_OK)
          train_note(r, "warning: sigma not measured: %s", gs_errmsg());
        st = train_log_epoch(r, &e);
      }
      r->monitor_s += now_s() - m0;
    }
    if (st == GS_OK && r->dir) st = train_plot(r);
    if (st == GS_ERR_IO) st = write_failed(r, st);
  }
  if (st == GS_ERR_INTERRUPTED) {
    if (r->dir && r->checkpoint_step != r->step) {
      gs_status cs = train_checkpoint_save(r);
      if (cs != GS_OK) st = cs;
      res->checkpoint_step = r->checkpoint_step;
    }
    if (st == GS_ERR_INTERRUPTED) {
      if (r->dir) {
        (void)train_log_event(r, "stopped", "stop requested");
        gs_fail(GS_ERR_INTERRUPTED,
                "train: stopped after step %lld; checkpoint in %s; continue with: gessl train "
                "--resume %s",
                (long long)r->step, r->dir, r->dir);
      } else {
        gs_fail(GS_ERR_INTERRUPTED, "train: stopped after step %lld (no --out: nothing saved)",
                (long long)r->step);
      }
    }
  }
  res->seconds = now_s() - t1 - r->monitor_s;
  if (gs_world_size() > 1 && r->step > start) {
    int64_t grad_bytes = 0;
    for (int k = 0; k < gs_pset_count(r->params); k++) {
      gs_shape s = gs_param_shape(gs_pset_get(r->params, k));
      grad_bytes += 4 * gs_shape_numel(&s);
    }
    /* Time inside collectives includes waiting for the slowest rank. */
    train_note(r,
               "data-parallel: %d ranks, %lld gradient bytes per step; rank 0 spent %.4f s per "
               "step in collectives (%.1f%% of the step)",
               gs_world_size(), (long long)grad_bytes,
               (gs_world_comm_seconds() - comm0) / (double)(r->step - start),
               res->seconds > 0 ? 100.0 * (gs_world_comm_seconds() - comm0) / res->seconds : 0.0);
  }
  res->monitor_seconds = r->monitor_s;
  res->images_per_s = res->seconds > 0 ? (double)(r->images - images0) / res->seconds : 0.0;
  res->knn_top1 = r->knn_top1;
  res->knn_top5 = r->knn_top5;
  if (st != GS_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    if (r->dir && r->log && st != GS_ERR_INTERRUPTED) (void)train_log_event(r, "failed", why);
    tear_down(r);
    free(r);
    return gs_fail(st, "%s", why);
  }
  tear_down(r);
  free(r);
  return GS_OK;
}
