/* The services the training loop lends a meta-optimizer (gs_meta_host): the method's loss, the
 * batch source, the optimizer at the schedule's learning rate, and the method's hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/comm.h"
#include "log_line.h"
#include "train_impl.h"

static gs_step_info step_info(const train_run *r, int64_t step) {
  gs_step_info info = {step, r->total, r->epoch};
  return info;
}

/* Besides the method's loss, a copy of its embedding into a device tensor the loop reads on log
 * steps for the collapse check: a device-side copy per step instead of an extra output fetch. */
static gs_status host_build_loss(void *host, gs_graph *g, gs_tensor *const *views, int n_views,
                                 gs_method_out *out) {
  train_run *r = host;
  gs_status st = r->method->build_loss(r->method_self, g, views, n_views, out);
  if (st != GS_OK || !out->embed) return st;
  gs_shape sh = gs_tensor_shape(out->embed);
  if (sh.rank != 2 || sh.dim[0] < 2) return GS_OK;
  if (!r->embed_probe) r->embed_probe = gs_param_new(r->dev, "train.embed_probe", sh, 0);
  if (!r->embed_probe) return GS_OK; /* the check is optional: train without it */
  gs_shape ps = gs_param_shape(r->embed_probe);
  if (ps.dim[0] != sh.dim[0] || ps.dim[1] != sh.dim[1]) return GS_OK;
  gs_assign(g, r->embed_probe, gs_detach(g, out->embed));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "train: embedding probe: %s", gs_graph_error(g));
  return GS_OK;
}

static gs_status host_feed_method(void *host, gs_program *prog) {
  train_run *r = host;
  if (!r->method->feed) return GS_OK;
  gs_step_info info = step_info(r, r->step);
  return r->method->feed(r->method_self, prog, &info);
}

/* Stop requests are honoured by the loop between outer steps, never inside one: a meta-optimizer
 * stopped half-way through its batches would leave the params mid-update. */
static gs_status host_next_batch(void *host, const float *const **views) {
  train_run *r = host;
  gs_batch b;
  gs_status st = gs_loader_next(r->loader, &b);
  if (st != GS_OK) return st;
  int want = (int)r->host.view_shape.dim[0]; /* this rank's share of --batch */
  if (b.n != want || b.n_views < r->host.n_views)
    return gs_fail(GS_ERR_INVALID, "train: loader gave %d images x %d views, expected %d x %d", b.n,
                   b.n_views, want, r->host.n_views);
  for (int v = 0; v < b.n_views && v < GS_MAX_VIEWS; v++) r->batch_views[v] = b.views[v];
  r->epoch = b.epoch;
  r->images += (int64_t)b.n * gs_world_size(); /* the global batch */
  r->last_batch = b;
  r->fresh_calls = 0;
  *views = r->batch_views;
  return GS_OK;
}

/* New views of the last batch's images: the loader's augmentation with a seed of their own and
 * the (step, call) pair in place of the epoch, so they differ from every loader view and are the
 * same in a resumed run. */
static gs_status host_fresh_views(void *host, const float *const **views) {
  train_run *r = host;
  const gs_batch *b = &r->last_batch;
  if (!b->samples || b->n < 1)
    return gs_fail(GS_ERR_INVALID, "train: fresh views asked for before any batch");
  uint64_t seed = r->cfg->seed ^ 0x9e3779b97f4a7c15ull;
  int64_t when = r->step * 1024 + r->fresh_calls++;
  for (int v = 0; v < r->host.n_views; v++) {
    /* Each view in its own size (multi-crop's local crops are smaller). */
    gs_shape vs = r->view_shapes[v];
    size_t per = (size_t)(vs.dim[1] * vs.dim[2] * vs.dim[3]);
    if (!r->fresh[v]) r->fresh[v] = malloc((size_t)b->n * per * sizeof *r->fresh[v]);
    if (!r->fresh[v]) return gs_fail(GS_ERR_NOMEM, "train: fresh views: out of memory");
    gs_view_config vc = r->recipe.views[v];
    vc.size = (int)vs.dim[2];
    for (int i = 0; i < b->n; i++) {
      gs_status st =
          gs_augment_sample(r->ds, b->samples[i], &vc, seed, when, v, r->fresh[v] + i * per);
      if (st != GS_OK) return st;
    }
    r->fresh_ptr[v] = r->fresh[v];
  }
  *views = r->fresh_ptr;
  return GS_OK;
}

static gs_status host_add_update(void *host, gs_graph *g, gs_tensor *const *grads, float lr_scale) {
  train_run *r = host;
  /* The graph's own inputs, found by name: a graph freed and another made at its address would
   * otherwise be handed the first one's nodes. */
  gs_tensor *lr = gs_graph_input(g, "train.lr"), *t = gs_graph_input(g, "train.t");
  if (!lr) lr = gs_input(g, "train.lr", GS_F32, GS_SHAPE(1));
  if (!t) t = gs_input(g, "train.t", GS_F32, GS_SHAPE(1));
  if (lr_scale != 1.0f) lr = gs_scale(g, lr, lr_scale);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "train: optimizer update: %s", gs_graph_error(g));
  /* Data-parallel: the update uses the gradient averaged over the ranks. */
  int n = gs_pset_count(r->params);
  gs_tensor **avg = calloc((size_t)n + 1, sizeof *avg);
  if (!avg) return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  gs_status st = train_average_grads(r, g, grads, n, avg);
  if (st == GS_OK) st = gs_optimizer_add_updates(r->opt, g, avg, lr, t);
  free(avg);
  return st;
}

static gs_status host_feed_update(void *host, gs_program *prog) {
  train_run *r = host;
  float lr = r->lr, t = (float)(r->step + 1);
  gs_status st = GS_OK;
  if (gs_program_has_input(prog, "train.lr")) st = gs_program_feed_name(prog, "train.lr", &lr);
  if (st == GS_OK && gs_program_has_input(prog, "train.t"))
    st = gs_program_feed_name(prog, "train.t", &t);
  return st;
}

static gs_status host_run(void *host, gs_program *prog) {
  gs_status st = host_feed_method(host, prog);
  if (st == GS_OK) st = host_feed_update(host, prog);
  return st == GS_OK ? gs_program_run(prog) : st;
}

static gs_status host_after_step(void *host) {
  train_run *r = host;
  if (!r->method->after_step) return GS_OK;
  gs_step_info info = step_info(r, r->step + 1);
  return r->method->after_step(r->method_self, &info);
}

static float host_lr(void *host) { return ((train_run *)host)->lr; }

static gs_status host_after_batch(void *host) {
  train_run *r = host;
  return GS_HAS(r->method, after_batch) ? r->method->after_batch(r->method_self) : GS_OK;
}

static gs_status host_method_hparam(void *host, const char *name, double *value) {
  train_run *r = host;
  for (int k = 0; k < r->method->n_hparams; k++)
    if (!strcmp(r->method->hparams[k].name, name)) {
      *value = r->method_hp[k];
      return GS_OK;
    }
  return gs_fail(GS_ERR_INVALID, "method %s declares no hyperparameter %s", r->method->name, name);
}

static void host_log(void *host, const char *fmt, ...) {
  const train_run *r = host;
  va_list ap;
  va_start(ap, fmt);
  rt_log_line(r->cfg->log, r->cfg->user, fmt, ap);
  va_end(ap);
}

void train_host_init(train_run *r) {
  r->host.abi_version = GS_META_ABI_VERSION;
  r->host.struct_size = sizeof r->host;
  r->host.host = r;
  r->host.build_loss = host_build_loss;
  r->host.feed_method = host_feed_method;
  r->host.next_batch = host_next_batch;
  r->host.add_update = host_add_update;
  r->host.feed_update = host_feed_update;
  r->host.after_step = host_after_step;
  r->host.log = host_log;
  r->host.fresh_views = host_fresh_views;
  r->host.run = host_run;
  r->host.lr = host_lr;
  r->host.after_batch = host_after_batch;
  r->host.method_hparam = host_method_hparam;
}
