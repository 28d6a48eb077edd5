/* The services the training loop lends a meta-optimizer (gs_meta_host): the method's loss, the
 * batch source, the optimizer at the schedule's learning rate, and the method's hooks. */
#include <stdarg.h>
#include <stdio.h>

#include "train_impl.h"

static gs_step_info step_info(const train_run *r, int64_t step) {
  gs_step_info info = {step, r->total, r->epoch};
  return info;
}

static gs_status host_build_loss(void *host, gs_graph *g, gs_tensor *const *views, int n_views,
                                 gs_method_out *out) {
  train_run *r = host;
  return r->method->build_loss(r->method_self, g, views, n_views, out);
}

static gs_status host_feed_method(void *host, gs_program *prog) {
  train_run *r = host;
  if (!r->method->feed) return GS_OK;
  gs_step_info info = step_info(r, r->step);
  return r->method->feed(r->method_self, prog, &info);
}

static gs_status host_next_batch(void *host, const float *const **views) {
  train_run *r = host;
  if (r->cfg->stop && *r->cfg->stop)
    return gs_fail(GS_ERR_INTERRUPTED, "train: stopped on request");
  gs_batch b;
  gs_status st = gs_loader_next(r->loader, &b);
  if (st != GS_OK) return st;
  if (b.n != r->cfg->batch || b.n_views < r->host.n_views)
    return gs_fail(GS_ERR_INVALID, "train: loader gave %d images x %d views, expected %d x %d", b.n,
                   b.n_views, r->cfg->batch, r->host.n_views);
  for (int v = 0; v < b.n_views && v < GS_MAX_VIEWS; v++) r->batch_views[v] = b.views[v];
  r->epoch = b.epoch;
  r->images += b.n;
  *views = r->batch_views;
  return GS_OK;
}

static gs_status host_add_update(void *host, gs_graph *g, gs_tensor *const *grads, float lr_scale) {
  train_run *r = host;
  int k = 0;
  while (k < r->n_upd && r->upd[k].g != g) k++;
  if (k == r->n_upd) {
    if (r->n_upd == TRAIN_MAX_UPDATE_GRAPHS)
      return gs_fail(GS_ERR_INVALID, "train: updates added to more than %d graphs",
                     TRAIN_MAX_UPDATE_GRAPHS);
    r->upd[k].g = g;
    r->upd[k].lr = gs_input(g, "train.lr", GS_F32, GS_SHAPE(1));
    r->upd[k].t = gs_input(g, "train.t", GS_F32, GS_SHAPE(1));
    r->n_upd++;
  }
  gs_tensor *lr = r->upd[k].lr;
  if (lr_scale != 1.0f) lr = gs_scale(g, lr, lr_scale);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "train: optimizer update: %s", gs_graph_error(g));
  return gs_optimizer_add_updates(r->opt, g, grads, lr, r->upd[k].t);
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

static gs_status host_after_step(void *host) {
  train_run *r = host;
  if (!r->method->after_step) return GS_OK;
  gs_step_info info = step_info(r, r->step + 1);
  return r->method->after_step(r->method_self, &info);
}

static void host_log(void *host, const char *fmt, ...) {
  train_run *r = host;
  if (!r->cfg->log) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  r->cfg->log(r->cfg->user, line);
}

void train_host_init(train_run *r) {
  r->host.host = r;
  r->host.build_loss = host_build_loss;
  r->host.feed_method = host_feed_method;
  r->host.next_batch = host_next_batch;
  r->host.add_update = host_add_update;
  r->host.feed_update = host_feed_update;
  r->host.after_step = host_after_step;
  r->host.log = host_log;
}
