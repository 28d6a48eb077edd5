/* GeSSL's wiring, pinned by the cases where it must reduce to plain training (SimCLR around a
 * small ConvNet with BN, CPU backend):
 *  - lambda = 0, alpha = 0, M = 1: one GeSSL step (AID-FD and first-order) equals one step of the
 *    plain meta-optimizer on the same batch (SGD with momentum and weight decay), params and BN
 *    running statistics alike;
 *  - M = 2: equals a plain SGD step on the mean of the two batches' gradients; so does
 *    combine=reptile, and combine=sum a step on their sum;
 *  - a target equal to the model (K = 0, alpha = 0) gives the KL term no gradient, for the task's
 *    target and the look-ahead target (target=ahead) alike, and with fresh views (the target is
 *    computed on the views the model is compared on); objective=kl then leaves theta in place;
 *  - with the target and the meta-gradient on (lambda > 0, alpha > 0), the running statistics
 *    still follow only the passes at theta, as the plain loop's would;
 *  - alpha = -c follows the learning rate the step is fed, and tau_pi = 0 is the method's
 *    temperature;
 *  - MoCo v2 around GeSSL with M = 2: both batches' keys enter the queue. */
#include "harness.h"

enum { N = 4, QUEUE = 48 };

typedef struct setup {
  th t;
  gs_model *backbone;
  gs_pset *p0, *s0;
} setup;

static int open_setup(setup *s, const char *method) {
  if (!th_open(&s->t, "cpu", GS_SHAPE(N, 1, 8, 8), 2, 21)) return 0;
  gs_model_config mc;
  memset(&mc, 0, sizeof mc);
  mc.arch = "convnet";
  mc.in_channels = 1;
  mc.image_size = 8;
  mc.width = 0.25f;
  mc.seed = 4;
  mc.prefix = "";
  s->backbone = gs_model_new(s->t.dev, &mc);
  s->t.method = gs_runtime_method(s->t.rt, method);
  if (!s->backbone || !s->t.method) {
    fprintf(stderr, "%s\n", gs_errmsg());
    return 0;
  }
  double *mhp = s->t.method_hp;
  for (int k = 0; k < s->t.method->n_hparams; k++) {
    const gs_hparam_decl *d = &s->t.method->hparams[k];
    mhp[k] = strstr(d->name, "dim") ? 16 : d->def;
    if (!strcmp(d->name, "queue_size")) mhp[k] = QUEUE;
  }
  gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION),
                       .dev = s->t.dev,
                       .backbone = s->backbone,
                       .batch = N,
                       .total_steps = 10,
                       .hp = mhp,
                       .seed = 4};
  if (s->t.method->create(&ctx, &s->t.method_self) != GS_OK) return 0;
  const gs_pset *bp = gs_model_params(s->backbone), *bs = gs_model_state(s->backbone);
  for (int k = 0; k < gs_pset_count(bp); k++) gs_pset_add(s->t.params, gs_pset_get(bp, k));
  s->t.method->params(s->t.method_self, s->t.params);
  for (int k = 0; k < gs_pset_count(bs); k++) gs_pset_add(s->t.state, gs_pset_get(bs, k));
  s->t.method->state(s->t.method_self, s->t.state);
  s->p0 = gs_pset_clone(s->t.params, ".p0", 1);
  s->s0 = gs_pset_clone(s->t.state, ".s0", 1);
  return s->p0 && s->s0;
}

static void reset(setup *s) {
  gs_pset_copy(s->t.params, s->p0);
  gs_pset_copy(s->t.state, s->s0);
}

/* GeSSL's defaults with M tasks and the given lambda and alpha: what the checks start from. */
static void gessl_at(th *t, const gs_meta_iface *gessl, double M, double lambda, double alpha) {
  th_gessl_defaults(t, gessl);
  th_set(t, gessl, "M", M);
  th_set(t, gessl, "lambda", lambda);
  th_set(t, gessl, "alpha", alpha);
}

/* One step of m from the starting parameters and running statistics. */
static gs_status step_from_start(setup *s, const gs_meta_iface *m, gs_meta_result *r) {
  reset(s);
  return th_step(&s->t, m, r);
}

static void close_setup(setup *s) {
  gs_pset_free_params(s->p0);
  gs_pset_free_params(s->s0);
  if (s->t.method_self) s->t.method->destroy(s->t.method_self);
  s->t.method_self = NULL;
  gs_model_free(s->backbone);
  th_close(&s->t);
}

static void expect_same(const char *what, const gs_pset *a, const gs_pset *b, double tol) {
  double scale = 0, d = th_max_diff(a, b, &scale);
  printf("%s: max |diff| %.3g (max |value| %.3g)\n", what, d, scale);
  CHECKF(d <= tol * (scale > 1 ? scale : 1), "%s: max |diff| %.3g", what, d);
}

/* lambda = alpha = 0, M = 1 against the plain meta-optimizer. */
static void against_plain(setup *s, const gs_meta_iface *none, const gs_meta_iface *gessl) {
  th *t = &s->t;
  gs_meta_result r;
  CHECKF(step_from_start(s, none, &r) == GS_OK, "%s", gs_errmsg());
  double plain_loss = r.loss;
  gs_pset *p_plain = gs_pset_clone(t->params, ".plain", 1);
  gs_pset *s_plain = gs_pset_clone(t->state, ".plain_s", 1);
  for (int grad = 0; grad < 2; grad++) {
    gessl_at(t, gessl, 1, 0, 0);
    th_set(t, gessl, "gradient", grad);
    CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s", gs_errmsg());
    CHECKF(fabs(r.loss - plain_loss) < 1e-5, "loss %.7f vs plain %.7f", r.loss, plain_loss);
    expect_same(grad ? "first-order vs plain: params" : "AID-FD vs plain: params", t->params,
                p_plain, 1e-5);
    expect_same("  running statistics", t->state, s_plain, 1e-5);
  }
  gs_pset_free_params(p_plain);
  gs_pset_free_params(s_plain);
}

/* M = 2 against theta - lr * mean of the two batches' gradients (SGD without momentum or decay). */
static void two_tasks(setup *s, const gs_meta_iface *gessl) {
  th *t = &s->t;
  t->opt_cfg.momentum = 0.0f;
  t->opt_cfg.weight_decay = 0.0f;
  reset(s);
  /* The reference: the gradient of each batch at theta, by a program of the test's own. */
  gs_graph *g = gs_graph_new();
  gs_tensor *views[2] = {gs_input(g, "a", GS_F32, t->host.view_shape),
                         gs_input(g, "b", GS_F32, t->host.view_shape)};
  gs_method_out out = {0};
  CHECK(th_build_loss(t, g, views, 2, &out) == GS_OK);
  int np = gs_pset_count(t->params);
  gs_tensor **refs = calloc((size_t)np, sizeof *refs), **grads = calloc((size_t)np, sizeof *grads);
  for (int k = 0; k < np; k++) refs[k] = gs_param_ref(g, gs_pset_get(t->params, k));
  CHECK(gs_grad(g, out.loss, refs, np, grads) == GS_OK);
  gs_pset *gsum = gs_pset_clone(t->params, ".gsum", 0), *gb = gs_pset_clone(t->params, ".gb", 0);
  for (int k = 0; k < np; k++) gs_assign(g, gs_pset_get(gb, k), grads[k]);
  gs_program *prog = gs_compile(t->dev, g, &out.loss, 1);
  CHECKF(prog != NULL, "%s", gs_errmsg());
  for (int b = 0; b < 2 && prog; b++) {
    gs_program_feed(prog, views[0], t->batch[b][0]);
    gs_program_feed(prog, views[1], t->batch[b][1]);
    th_feed_method(t, prog);
    gs_program_run(prog);
    gs_pset_axpy(gsum, 1.0f, gb);
  }
  gs_pset *expect = gs_pset_clone(t->params, ".expect", 1);
  gs_pset_axpy(expect, -t->lr * 0.5f, gsum);
  gs_pset *s_expect = gs_pset_clone(t->state, ".s_expect", 1);

  gs_meta_result r;
  for (int grad = 0; grad < 2; grad++) {
    gessl_at(t, gessl, 2, 0, 0);
    th_set(t, gessl, "gradient", grad);
    CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s", gs_errmsg());
    CHECK(r.batches == 2 && t->batches_served >= 2);
    expect_same("M=2 vs a step on the mean gradient: params", t->params, expect, 1e-5);
    expect_same("  running statistics", t->state, s_expect, 1e-5);
  }
  /* The readings that must reduce to the same step. */
  static const struct {
    const char *what, *name[4];
    double value[4];
  } same[] = {
      {"combine=reptile, alpha=lambda=0", {"combine"}, {2}},
      {"target=task, K=0, fresh views", {"lambda", "K", "outer_views"}, {1, 0, 1}},
      {"target=ahead, K=0", {"lambda", "K", "target"}, {1, 0, 1}},
      {"target=ahead, K=0, fresh views", {"lambda", "K", "target", "outer_views"}, {1, 0, 1, 1}},
  };
  for (size_t c = 0; c < sizeof same / sizeof *same; c++) {
    gessl_at(t, gessl, 2, 0, 0);
    for (int k = 0; k < 4 && same[c].name[k]; k++)
      th_set(t, gessl, same[c].name[k], same[c].value[k]);
    CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s: %s", same[c].what, gs_errmsg());
    printf("%s:\n", same[c].what);
    expect_same("  params against the step on the mean gradient", t->params, expect, 1e-5);
    expect_same("  running statistics", t->state, s_expect, 1e-5);
  }
  /* combine=sum: the step on the sum of the gradients. */
  gs_pset *expect_sum = gs_pset_clone(expect, ".expect_sum", 1);
  gs_pset_axpy(expect_sum, -t->lr * 0.5f, gsum);
  gessl_at(t, gessl, 2, 0, 0);
  th_set(t, gessl, "combine", 1);
  CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s", gs_errmsg());
  expect_same("combine=sum vs a step on the summed gradient: params", t->params, expect_sum, 1e-5);
  gs_pset_free_params(expect_sum);
  /* objective=kl with a target equal to the model: no task loss at all, theta stays. */
  gessl_at(t, gessl, 2, 1, 0);
  th_set(t, gessl, "K", 0);
  th_set(t, gessl, "objective", 1);
  CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s", gs_errmsg());
  expect_same("objective=kl, target = model: params stay", t->params, s->p0, 1e-6);

  /* Full GeSSL: the params move elsewhere, the running statistics must not. */
  gessl_at(t, gessl, 2, 1.0, 0.05);
  th_set(t, gessl, "gradient", 0);
  CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s", gs_errmsg());
  CHECKF(r.n_figures == 3 && !strcmp(r.figures[1].name, "kl"), "%d figures", r.n_figures);
  CHECKF(isfinite(r.loss) && isfinite(r.figures[1].value) && r.figures[1].value >= 0,
         "loss %g KL %g", r.loss, r.figures[1].value);
  expect_same("full GeSSL M=2: running statistics", t->state, s_expect, 1e-5);
  double scale = 0;
  CHECKF(th_max_diff(t->params, expect, &scale) > 1e-6, "full GeSSL equals the plain step");

  gs_program_free(prog);
  gs_graph_free(g);
  free(refs);
  free(grads);
  gs_pset_free_params(gsum);
  gs_pset_free_params(gb);
  gs_pset_free_params(expect);
  gs_pset_free_params(s_expect);
}

/* Steps of two settings that must move theta alike, and a third that must not. */
static void same_step(setup *s, const gs_meta_iface *gessl, const char *what, const char *name,
                      double a, double b, double differs) {
  th *t = &s->t;
  gs_meta_result r;
  gs_pset *pa = NULL;
  for (int pass = 0; pass < 3; pass++) {
    gessl_at(t, gessl, 1, 0.5, 0.05);
    th_set(t, gessl, name, pass == 0 ? a : pass == 1 ? b : differs);
    CHECKF(step_from_start(s, gessl, &r) == GS_OK, "%s: %s", what, gs_errmsg());
    if (pass == 0) {
      pa = gs_pset_clone(t->params, ".same", 1);
    } else if (pass == 1) {
      expect_same(what, t->params, pa, 1e-6);
    } else {
      double scale = 0, d = th_max_diff(t->params, pa, &scale);
      CHECKF(d > 1e-6, "%s: %s=%g moves theta as %g does (max |diff| %.3g)", what, name, differs, a,
             d);
    }
  }
  gs_pset_free_params(pa);
}

/* alpha = -c is c times the learning rate the step is fed (the schedule's), not --lr; tau_pi = 0
 * is the method's temperature. */
static void schedule_and_temperature(setup *s, const gs_meta_iface *gessl) {
  th *t = &s->t;
  t->lr = 0.05f; /* the schedule's rate this step; the host's --lr (base_lr) is 0.1 */
  same_step(s, gessl, "alpha=-1 vs alpha=0.05 at scheduled lr 0.05", "alpha", -1, 0.05, 0.1);
  t->lr = 0.1f;
  double temp = -1;
  CHECK(th_method_hparam(t, "temperature", &temp) == GS_OK && temp > 0);
  same_step(s, gessl, "tau_pi=0 vs the method's temperature", "tau_pi", 0, temp, 0.1 + temp);
}

/* MoCo v2 around GeSSL, M = 2: the queue holds both batches' keys after one outer step,
 * Q' = [keys_2; keys_1; Q[0 : K - 2R]] with R = 2N rows (symmetric) per batch. */
static void moco_queue(const gs_meta_iface *gessl) {
  setup s;
  memset(&s, 0, sizeof s);
  if (!open_setup(&s, "mocov2")) {
    CHECKF(0, "set-up with mocov2: %s", gs_errmsg());
    close_setup(&s);
    return;
  }
  th *t = &s.t;
  gs_param *queue = NULL;
  for (int k = 0; k < gs_pset_count(t->state); k++)
    if (!strcmp(gs_param_name(gs_pset_get(t->state, k)), "mocov2.queue"))
      queue = gs_pset_get(t->state, k);
  CHECKF(queue != NULL, "no mocov2.queue in the method's state");
  int64_t d = queue ? gs_param_shape(queue).dim[1] : 0, rows = 2 * N;
  float *q0 = calloc((size_t)(QUEUE * d), 4), *q1 = calloc((size_t)(QUEUE * d), 4);
  if (queue) gs_param_read(queue, q0);
  th_gessl_defaults(t, gessl);
  th_set(t, gessl, "M", 2);
  gs_meta_result r;
  CHECKF(step_from_start(&s, gessl, &r) == GS_OK, "%s", gs_errmsg());
  if (queue) gs_param_read(queue, q1);
  double kept = 0, fresh = 0;
  for (int64_t i = 0; i < (QUEUE - 2 * rows) * d; i++)
    kept = fmax(kept, fabs(q1[2 * rows * d + i] - q0[i]));
  for (int64_t i = 0; i < rows * d; i++) fresh = fmax(fresh, fabs(q1[rows * d + i] - q0[i]));
  printf("mocov2 queue after a GeSSL step with M=2: old rows shifted by two batches (max |diff| "
         "%.3g), the first batch's keys differ from the old rows (max |diff| %.3g)\n",
         kept, fresh);
  CHECKF(kept == 0.0, "the queue was not shifted by both batches' keys (max |diff| %.3g)", kept);
  CHECKF(fresh > 1e-3, "the first batch's keys did not reach the queue");
  free(q0);
  free(q1);
  close_setup(&s);
}

int main(void) {
  setup s;
  memset(&s, 0, sizeof s);
  int ok = open_setup(&s, "simclr");
  CHECKF(ok, "set-up: %s", gs_errmsg());
  const gs_meta_iface *none = ok ? gs_runtime_meta(s.t.rt, "none") : NULL;
  const gs_meta_iface *gessl = ok ? gs_runtime_meta(s.t.rt, "gessl") : NULL;
  CHECKF(none && gessl, "%s", gs_errmsg());
  if (none && gessl) {
    against_plain(&s, none, gessl);
    two_tasks(&s, gessl);
    schedule_and_temperature(&s, gessl);
  }
  close_setup(&s);
  if (gessl) moco_queue(gessl);
  return check_summary();
}
