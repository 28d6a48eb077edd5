/* The training loop: set-up of every part of a run, the outer-step loop, progress and teardown. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gessl/hparams.h"
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
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

gs_status gs_train_validate(gs_runtime *rt, const gs_train_config *c) {
  if (!c) return gs_fail(GS_ERR_INVALID, "train: no configuration");
  if (!c->backend || !*c->backend) return gs_fail(GS_ERR_INVALID, "--backend: empty");
  if (!c->data || !*c->data) return gs_fail(GS_ERR_INVALID, "--data: empty");
  if (!c->model || (strcmp(c->model, "convnet") != 0 && strcmp(c->model, "resnet18") != 0))
    return gs_fail(GS_ERR_INVALID, "--model %s: unknown model (convnet, resnet18)",
                   c->model ? c->model : "");
  if (c->batch < 2 || c->batch > 1 << 20)
    return gs_fail(GS_ERR_INVALID, "--batch %d: must be in 2..1048576", c->batch);
  if (c->epochs < 1) return gs_fail(GS_ERR_INVALID, "--epochs %d: must be at least 1", c->epochs);
  if (c->max_steps < 0)
    return gs_fail(GS_ERR_INVALID, "--max-steps %lld: must be 0 (no cap) or more",
                   (long long)c->max_steps);
  if (!(c->lr > 0.0f) || !isfinite(c->lr))
    return gs_fail(GS_ERR_INVALID, "--lr %g: must be a positive number", (double)c->lr);
  if (c->threads < 0) return gs_fail(GS_ERR_INVALID, "--threads %d: must be 0 or more", c->threads);
  if ((int)c->optimizer < GS_OPT_SGD || (int)c->optimizer > GS_OPT_ADAMW)
    return gs_fail(GS_ERR_INVALID, "--optimizer: unknown kind %d", (int)c->optimizer);
  if (!(c->width > 0.0f) || c->width > 64.0f)
    return gs_fail(GS_ERR_INVALID, "width %g: must be in (0, 64]", (double)c->width);
  if (c->n_set < 0 || (c->n_set > 0 && (!c->set_names || !c->set_values)))
    return gs_fail(GS_ERR_INVALID, "--set: malformed list");
  if (!rt) return GS_OK;
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
  if (r->meta_self) r->meta->destroy(r->meta_self);
  if (r->opt) gs_optimizer_free(r->opt);
  if (r->method_self) r->method->destroy(r->method_self);
  gs_pset_free(r->params);
  gs_model_free(r->backbone);
  if (r->loader) gs_loader_free(r->loader);
  if (r->ds) gs_dataset_close(r->ds);
  if (r->dev) gs_device_close(r->dev);
  if (r->own_rt) gs_runtime_close(r->rt);
  free(r->method_hp);
  free(r->meta_hp);
}

static void note(const train_run *r, const char *fmt, ...) GS_PRINTF(2, 3);
static void note(const train_run *r, const char *fmt, ...) {
  if (!r->cfg->log) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  r->cfg->log(r->cfg->user, line);
}

/* Wraps the message of a failed call with what the loop was doing. */
static gs_status failed(gs_status st, const char *what) {
  char why[768];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  return gs_fail(st, "%s: %s", what, why);
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

  r->dev = gs_device_open(r->rt, c->backend);
  if (!r->dev) return failed(GS_ERR_UNAVAILABLE, "--backend");

  gs_dataset_options dopt = {0};
  dopt.limit = c->data_limit;
  dopt.seed = c->seed;
  r->ds = gs_dataset_open(c->data, GS_SPLIT_TRAIN, &dopt);
  if (!r->ds) return failed(GS_ERR_INVALID, "--data");
  int size = gs_dataset_height(r->ds);
  if (gs_dataset_size(r->ds) < c->batch)
    return gs_fail(GS_ERR_INVALID, "--batch %d: larger than the data set (%lld images)", c->batch,
                   (long long)gs_dataset_size(r->ds));
  int n_views = r->method->n_views < 1 ? 2 : r->method->n_views;
  if (n_views > GS_MAX_VIEWS)
    return gs_fail(GS_ERR_INVALID, "method %s: %d views, at most %d", r->method->name, n_views,
                   GS_MAX_VIEWS);
  gs_loader_options lopt = {0};
  lopt.batch = c->batch;
  lopt.threads = c->data_threads;
  lopt.seed = c->seed;
  lopt.drop_last = 1;
  lopt.recipe = gs_aug_recipe_for(r->method->name, size, n_views);
  r->loader = gs_loader_new(r->ds, &lopt);
  if (!r->loader) return failed(GS_ERR_INVALID, "train: data loader");

  gs_model_config mc = {c->model, gs_dataset_channels(r->ds), size, c->width, c->seed, ""};
  r->backbone = gs_model_new(r->dev, &mc);
  if (!r->backbone) return failed(GS_ERR_INVALID, "--model");

  r->meta_self = NULL;
  int64_t batches = gs_loader_batches_per_epoch(r->loader);
  gs_method_ctx mctx = {r->dev, r->backbone, c->batch, 0, r->method_hp, c->seed};
  /* The step count depends on the meta-optimizer's batches per step, known only once it exists;
   * the method gets the estimate for one batch per step, which the plain loop uses. */
  r->total = (int64_t)c->epochs * batches;
  if (c->max_steps > 0 && c->max_steps < r->total) r->total = c->max_steps;
  mctx.total_steps = r->total;
  st = r->method->create(&mctx, &r->method_self);
  if (st != GS_OK) return failed(st, "method create");

  r->params = gs_pset_new();
  if (!r->params) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  const gs_pset *bp = gs_model_params(r->backbone);
  for (int k = 0; k < gs_pset_count(bp) && st == GS_OK; k++)
    st = gs_pset_add(r->params, gs_pset_get(bp, k));
  if (st == GS_OK) st = r->method->params(r->method_self, r->params);
  if (st != GS_OK) return failed(st, "train: collecting parameters");

  r->opt_cfg = gs_optim_defaults(c->optimizer);
  if (c->weight_decay >= 0.0f) r->opt_cfg.weight_decay = c->weight_decay;
  r->opt = gs_optimizer_new(&r->opt_cfg, r->params);
  if (!r->opt) return failed(GS_ERR_NOMEM, "--optimizer");

  r->host.dev = r->dev;
  r->host.params = r->params;
  r->host.n_views = n_views;
  r->host.view_shape = GS_SHAPE(c->batch, gs_dataset_channels(r->ds), size, size);
  r->host.hp = r->meta_hp;
  r->host.base_lr = c->lr;
  r->host.seed = c->seed;
  train_host_init(r);
  st = r->meta->create(&r->host, &r->meta_self);
  if (st != GS_OK) {
    r->meta_self = NULL;
    return failed(st, "meta-optimizer create");
  }
  int per = r->meta->batches_per_step(r->meta_self);
  r->steps_per_epoch = batches / (per > 0 ? per : 1);
  if (r->steps_per_epoch < 1) r->steps_per_epoch = 1;
  r->total = (int64_t)c->epochs * r->steps_per_epoch;
  if (c->max_steps > 0 && c->max_steps < r->total) r->total = c->max_steps;
  r->warmup = c->warmup_steps >= 0 ? c->warmup_steps : r->total / 20;
  if (c->warmup_steps < 0 && r->warmup > 500) r->warmup = 500;
  return GS_OK;
}

static void fill_device(train_run *r, gs_train_result *res) {
  if (!r->dev) return;
  snprintf(res->device, sizeof res->device, "%s: %s", gs_device_backend_name(r->dev),
           gs_device_get_info(r->dev)->name);
}

gs_status gs_train_run(gs_runtime *rt, const gs_train_config *cfg, gs_train_result *res) {
  gs_train_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  if (!cfg) return gs_fail(GS_ERR_INVALID, "train: no configuration");
  train_run *r = calloc(1, sizeof *r);
  if (!r) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  r->cfg = cfg;
  r->rt = rt;
  double t0 = now_s();
  gs_status st = set_up(r);
  fill_device(r, res);
  if (st == GS_OK && cfg->out) st = train_write_config(r);
  if (st == GS_OK)
    note(r, "training %s + %s/%s on %s, %lld steps of %d images (%lld per epoch)", cfg->model,
         cfg->method, cfg->meta, res->device, (long long)r->total, cfg->batch,
         (long long)r->steps_per_epoch);
  double t1 = now_s();
  res->setup_seconds = t1 - t0;
  int log_every = cfg->log_every > 0 ? cfg->log_every : 10;
  double window = 0.0;
  int in_window = 0;
  while (st == GS_OK && r->step < r->total) {
    r->lr = gs_lr_warmup_cosine(r->step, r->total, r->warmup, cfg->lr, cfg->final_lr);
    gs_meta_result mr = {0};
    st = r->meta->step(r->meta_self, &mr);
    if (st != GS_OK) {
      if (st != GS_ERR_INTERRUPTED) {
        char what[64];
        snprintf(what, sizeof what, "train: step %lld", (long long)r->step + 1);
        st = failed(st, what);
      }
      break;
    }
    r->step++;
    if (!isfinite(mr.loss)) {
      st = gs_fail(GS_ERR_NUMERIC, "train: the loss is %g at step %lld (diverged)", mr.loss,
                   (long long)r->step);
      break;
    }
    if (r->step == 1) res->first_loss = mr.loss;
    window += mr.loss;
    in_window++;
    res->steps = r->step;
    res->images = r->images;
    res->final_loss = window / in_window;
    if (cfg->progress && (r->step == 1 || r->step % log_every == 0 || r->step == r->total)) {
      double el = now_s() - t1;
      gs_train_progress p = {r->step,  r->total,
                             r->epoch, cfg->epochs,
                             mr.loss,  window / in_window,
                             r->lr,    el > 0 ? (double)r->images / el : 0.0,
                             el,       el / (double)r->step * (double)(r->total - r->step)};
      cfg->progress(cfg->user, &p);
    }
    if (r->step % log_every == 0 && r->step != r->total) {
      window = 0.0;
      in_window = 0;
    }
  }
  res->seconds = now_s() - t1;
  res->images_per_s = res->seconds > 0 ? (double)res->images / res->seconds : 0.0;
  if (st != GS_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    tear_down(r);
    free(r);
    return gs_fail(st, "%s", why);
  }
  tear_down(r);
  free(r);
  return GS_OK;
}
