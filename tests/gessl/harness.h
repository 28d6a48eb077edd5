/* A minimal gs_meta_host for the GeSSL tests: a loss from a callback or a method plugin, a fixed
 * cycle of host batches, and the runtime's optimizer at a fixed learning rate. It mirrors what the
 * training loop lends a meta-optimizer, with everything under the test's control. */
#ifndef GESSL_TEST_GESSL_HARNESS_H
#define GESSL_TEST_GESSL_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

enum { TH_MAX_BATCHES = 4, TH_VIEWS = 2 };

typedef gs_status (*th_loss_fn)(void *user, gs_graph *g, gs_tensor *const *views, int n,
                                gs_method_out *out);

typedef struct th {
  gs_runtime *rt;
  gs_device *dev;
  gs_meta_host host;
  gs_pset *params, *state;
  th_loss_fn loss;
  void *loss_user;
  const gs_method_iface *method;
  void *method_self;
  float *batch[TH_MAX_BATCHES][TH_VIEWS];
  int n_batches, next, batches_served;
  const float *cur[TH_VIEWS], *cur_fresh[TH_VIEWS];
  gs_optimizer *opt;
  gs_optim_config opt_cfg;
  float lr;
  double hp[16];
  double method_hp[16]; /* the method plugin's resolved hyperparameters (method_hparam) */
} th;

static gs_status th_build_loss(void *host, gs_graph *g, gs_tensor *const *views, int n,
                               gs_method_out *out) {
  th *t = host;
  if (t->loss) return t->loss(t->loss_user, g, views, n, out);
  return t->method->build_loss(t->method_self, g, views, n, out);
}

static gs_status th_feed_method(void *host, gs_program *prog) {
  th *t = host;
  gs_step_info info = {0, 10, 0};
  if (t->method && t->method->feed) return t->method->feed(t->method_self, prog, &info);
  return GS_OK;
}

static gs_status th_next_batch(void *host, const float *const **views) {
  th *t = host;
  for (int v = 0; v < TH_VIEWS; v++) t->cur[v] = t->batch[t->next][v];
  t->next = (t->next + 1) % t->n_batches;
  t->batches_served++;
  *views = t->cur;
  return GS_OK;
}

/* "Fresh views" of the last batch: the next batch's views in the cycle, so a test can tell which
 * inputs a program saw. */
static gs_status th_fresh_views(void *host, const float *const **views) {
  th *t = host;
  for (int v = 0; v < TH_VIEWS; v++) t->cur_fresh[v] = t->batch[t->next][v];
  *views = t->cur_fresh;
  return GS_OK;
}

static float th_lr(void *host) { return ((th *)host)->lr; }

static gs_status th_after_batch(void *host) {
  th *t = host;
  return t->method && GS_HAS(t->method, after_batch) ? t->method->after_batch(t->method_self)
                                                     : GS_OK;
}

static gs_status th_method_hparam(void *host, const char *name, double *value) {
  th *t = host;
  for (int k = 0; t->method && k < t->method->n_hparams; k++)
    if (!strcmp(t->method->hparams[k].name, name)) {
      *value = t->method_hp[k];
      return GS_OK;
    }
  return gs_fail(GS_ERR_INVALID, "no method hyperparameter %s", name);
}

static gs_status th_add_update(void *host, gs_graph *g, gs_tensor *const *grads, float lr_scale) {
  th *t = host;
  gs_tensor *lr = gs_graph_input(g, "train.lr"), *step = gs_graph_input(g, "train.t");
  if (!lr) lr = gs_input(g, "train.lr", GS_F32, GS_SHAPE(1));
  if (!step) step = gs_input(g, "train.t", GS_F32, GS_SHAPE(1));
  if (lr_scale != 1.0f) lr = gs_scale(g, lr, lr_scale);
  return gs_optimizer_add_updates(t->opt, g, grads, lr, step);
}

static gs_status th_feed_update(void *host, gs_program *prog) {
  th *t = host;
  float one = 1.0f;
  gs_status st = GS_OK;
  if (gs_program_has_input(prog, "train.lr")) st = gs_program_feed_name(prog, "train.lr", &t->lr);
  if (st == GS_OK && gs_program_has_input(prog, "train.t"))
    st = gs_program_feed_name(prog, "train.t", &one);
  return st;
}

static gs_status th_run(void *host, gs_program *prog) {
  gs_status st = th_feed_method(host, prog);
  if (st == GS_OK) st = th_feed_update(host, prog);
  return st == GS_OK ? gs_program_run(prog) : st;
}

static gs_status th_after_step(void *host) {
  th *t = host;
  gs_step_info info = {1, 10, 0};
  if (t->method && t->method->after_step) return t->method->after_step(t->method_self, &info);
  return GS_OK;
}

static void th_log(void *host, const char *fmt, ...) {
  (void)host;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* Deterministic normal-ish numbers (sum of uniforms), so the tests need no seed plumbing. */
static float th_randn(uint64_t *s) {
  float acc = 0.0f;
  for (int k = 0; k < 4; k++) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    acc += (float)((*s >> 40) & 0xffffff) / 16777216.0f - 0.5f;
  }
  return acc * 1.7320508f;
}

/* Opens the runtime and `spec`, with n_batches random batches of view_shape. */
static int th_open(th *t, const char *spec, gs_shape view_shape, int n_batches, uint64_t seed) {
  memset(t, 0, sizeof *t);
  t->rt = gs_runtime_open(NULL);
  t->dev = t->rt ? gs_device_open(t->rt, spec) : NULL;
  if (!t->dev) {
    fprintf(stderr, "cannot open %s: %s\n", spec, gs_errmsg());
    return 0;
  }
  t->params = gs_pset_new();
  t->state = gs_pset_new();
  t->n_batches = n_batches;
  int64_t numel = gs_shape_numel(&view_shape);
  for (int b = 0; b < n_batches; b++)
    for (int v = 0; v < TH_VIEWS; v++) {
      t->batch[b][v] = malloc((size_t)numel * sizeof(float));
      for (int64_t i = 0; i < numel; i++) t->batch[b][v][i] = th_randn(&seed);
    }
  t->host.abi_version = GS_META_ABI_VERSION;
  t->host.struct_size = sizeof t->host;
  t->host.host = t;
  t->host.dev = t->dev;
  t->host.params = t->params;
  t->host.n_views = TH_VIEWS;
  t->host.view_shape = view_shape;
  t->host.hp = t->hp;
  t->host.base_lr = 0.1f;
  t->host.build_loss = th_build_loss;
  t->host.feed_method = th_feed_method;
  t->host.next_batch = th_next_batch;
  t->host.add_update = th_add_update;
  t->host.feed_update = th_feed_update;
  t->host.after_step = th_after_step;
  t->host.log = th_log;
  t->host.run = th_run;
  t->host.state = t->state;
  t->host.fresh_views = th_fresh_views;
  t->host.lr = th_lr;
  t->host.after_batch = th_after_batch;
  t->host.method_hparam = th_method_hparam;
  t->opt_cfg = gs_optim_defaults(GS_OPT_SGD);
  t->lr = 0.1f;
  return 1;
}

/* A fresh optimizer (zero momentum) for the next meta-optimizer built on this host. */
static void th_new_optimizer(th *t) {
  if (t->opt) gs_optimizer_free(t->opt);
  t->opt = gs_optimizer_new(&t->opt_cfg, t->params);
  t->next = 0;
}

static void th_close(th *t) {
  if (t->opt) gs_optimizer_free(t->opt);
  if (t->method_self) t->method->destroy(t->method_self);
  gs_pset_free(t->params);
  gs_pset_free(t->state);
  for (int b = 0; b < t->n_batches; b++)
    for (int v = 0; v < TH_VIEWS; v++) free(t->batch[b][v]);
  if (t->dev) gs_device_close(t->dev);
  if (t->rt) gs_runtime_close(t->rt);
}

/* The GeSSL hyperparameters in declaration order, from the plugin's defaults. */
static void th_gessl_defaults(th *t, const gs_meta_iface *m) {
  for (int k = 0; k < m->n_hparams; k++) t->hp[k] = m->hparams[k].def;
}

static int th_hp_index(const gs_meta_iface *m, const char *name) {
  for (int k = 0; k < m->n_hparams; k++)
    if (!strcmp(m->hparams[k].name, name)) return k;
  fprintf(stderr, "no hyperparameter %s\n", name);
  return 15;
}

static void th_set(th *t, const gs_meta_iface *m, const char *name, double v) {
  t->hp[th_hp_index(m, name)] = v;
}

/* One step of meta-optimizer m on a fresh optimizer; returns the step's status. */
static gs_status th_step(th *t, const gs_meta_iface *m, gs_meta_result *res) {
  th_new_optimizer(t);
  void *self = NULL;
  gs_status st = m->create(&t->host, &self);
  if (st != GS_OK) return st;
  st = m->step(self, res);
  m->destroy(self);
  return st;
}

/* Max |a - b| over two sets, and max |a| for scale. */
static inline double th_max_diff(const gs_pset *a, const gs_pset *b, double *scale) {
  double d = 0.0, s = 0.0;
  for (int k = 0; k < gs_pset_count(a); k++) {
    gs_shape sh = gs_param_shape(gs_pset_get(a, k));
    int64_t n = gs_shape_numel(&sh);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    gs_param_read(gs_pset_get(a, k), x);
    gs_param_read(gs_pset_get(b, k), y);
    for (int64_t i = 0; i < n; i++) {
      double e = fabs((double)x[i] - (double)y[i]);
      if (!(e <= d)) d = e;
      if (fabs(x[i]) > s) s = fabs(x[i]);
    }
    free(x);
    free(y);
  }
  if (scale) *scale = s;
  return d;
}

#endif
