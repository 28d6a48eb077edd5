/* The GeSSL meta-gradient against the outer objective it differentiates, on the CPU backend.
 *
 * With SGD at lr 1, no momentum and no weight decay, one GeSSL step moves theta by exactly -g, so
 * g is read back as theta - theta'. It is checked
 *  1. against a directional central difference of the whole outer objective
 *     F(theta) = L_ssl(theta_m) + lambda KL(q || p_{theta_m}), theta_m = theta - alpha grad L_ssl
 *     (q held at its value for the unperturbed theta, as the algorithm detaches it), on a smooth
 *     model (tanh MLP, NT-Xent loss, no BN), and
 *  2. against (I - alpha H) v with the Hessian H formed column by column from central differences
 *     of the gradient, on a linear model of 12 parameters.
 * First-order GeSSL (g = v) must miss both by a clear margin, which shows the AID-FD term is what
 * closes the gap. Part 1 also runs for the readings with a meta-gradient of their own: the outer
 * objective lambda KL alone (objective=kl), and the target from the outer iterate one plain step
 * ahead (target=ahead: phi = theta - lr grad L_ssl(theta), lr 1 here). */
#include "harness.h"

typedef struct smooth_model {
  gs_param *w1, *w2, *self_mask, *pos_mask;
  int nonlinear;
} smooth_model;

enum { N = 4, ROWS = 2 * N, D_IN = 4 };
static const float TAU = 0.5f, TAU_PI = 0.5f;

static gs_status smooth_loss(void *user, gs_graph *g, gs_tensor *const *views, int n,
                             gs_method_out *out) {
  smooth_model *m = user;
  (void)n;
  gs_tensor *x = gs_reshape(g, gs_concat(g, views, 2, 0), GS_SHAPE(ROWS, D_IN));
  gs_tensor *h = gs_linear(g, x, gs_param_ref(g, m->w1), NULL);
  if (m->nonlinear) h = gs_tanh(g, h);
  gs_tensor *e = gs_linear(g, h, gs_param_ref(g, m->w2), NULL);
  gs_tensor *z = gs_l2_normalize(g, e, 1, 1e-12f);
  gs_tensor *sim =
      gs_add(g, gs_scale(g, gs_matmul(g, z, z, 0, 1), 1.0f / TAU), gs_param_ref(g, m->self_mask));
  gs_tensor *lp = gs_log_softmax(g, sim, 1);
  out->loss = gs_scale(g, gs_sum_all(g, gs_mul(g, lp, gs_param_ref(g, m->pos_mask))), -1.0f / ROWS);
  out->embed = e;
  return gs_graph_status(g) == GS_OK ? GS_OK : gs_fail(gs_graph_status(g), "%s", gs_graph_error(g));
}

/* The test's own evaluation of the outer objective, independent of the plugin's programs. */
typedef struct oracle {
  th *t;
  gs_pset *theta0, *grad, *dir, *tmp;
  gs_param *logq;
  gs_graph *gg, *gq, *gf;
  gs_program *pg, *pq, *pf;
  gs_tensor *views_g[2], *views_q[2], *views_f[2], *f_out;
} oracle;

static gs_tensor *head_logp(smooth_model *m, gs_graph *g, gs_tensor *e) {
  gs_tensor *z = gs_l2_normalize(g, e, 1, 1e-12f);
  gs_tensor *sim = gs_scale(g, gs_matmul(g, z, z, 0, 1), 1.0f / TAU_PI);
  /* The plugin masks with -1e4; the mask here is -1e9 on the diagonal: both give p_ii = 0. */
  return gs_log_softmax(g, gs_add(g, sim, gs_param_ref(g, m->self_mask)), 1);
}

static void oracle_build(oracle *o, th *t, smooth_model *m, float lambda, int kl_only) {
  o->t = t;
  o->theta0 = gs_pset_clone(t->params, ".t0", 1);
  o->grad = gs_pset_clone(t->params, ".g", 0);
  o->dir = gs_pset_clone(t->params, ".d", 0);
  o->tmp = gs_pset_clone(t->params, ".tmp", 0);
  o->logq = gs_param_new(t->dev, "oracle.logq", GS_SHAPE(ROWS, ROWS), 0);
  gs_method_out out;
  /* gradient program */
  o->gg = gs_graph_new();
  for (int v = 0; v < 2; v++)
    o->views_g[v] = gs_input(o->gg, v ? "v1" : "v0", GS_F32, t->host.view_shape);
  smooth_loss(m, o->gg, o->views_g, 2, &out);
  int np = gs_pset_count(t->params);
  gs_tensor *refs[4], *grads[4];
  for (int k = 0; k < np; k++) refs[k] = gs_param_ref(o->gg, gs_pset_get(t->params, k));
  CHECK(gs_grad(o->gg, out.loss, refs, np, grads) == GS_OK);
  for (int k = 0; k < np; k++) gs_assign(o->gg, gs_pset_get(o->grad, k), grads[k]);
  o->pg = gs_compile(t->dev, o->gg, &out.loss, 1);
  /* target program */
  o->gq = gs_graph_new();
  for (int v = 0; v < 2; v++)
    o->views_q[v] = gs_input(o->gq, v ? "v1" : "v0", GS_F32, t->host.view_shape);
  smooth_loss(m, o->gq, o->views_q, 2, &out);
  gs_assign(o->gq, o->logq, head_logp(m, o->gq, out.embed));
  o->pq = gs_compile(t->dev, o->gq, NULL, 0);
  /* objective program */
  o->gf = gs_graph_new();
  for (int v = 0; v < 2; v++)
    o->views_f[v] = gs_input(o->gf, v ? "v1" : "v0", GS_F32, t->host.view_shape);
  smooth_loss(m, o->gf, o->views_f, 2, &out);
  gs_tensor *kl = gs_kl_div(o->gf, gs_param_ref(o->gf, o->logq), head_logp(m, o->gf, out.embed));
  o->f_out = gs_scale(o->gf, kl, lambda);
  if (!kl_only) o->f_out = gs_add(o->gf, out.loss, o->f_out);
  o->pf = gs_compile(t->dev, o->gf, &o->f_out, 1);
  CHECKF(o->pg && o->pq && o->pf, "%s", gs_errmsg());
}

static void oracle_free(oracle *o) {
  gs_program_free(o->pg);
  gs_program_free(o->pq);
  gs_program_free(o->pf);
  gs_graph_free(o->gg);
  gs_graph_free(o->gq);
  gs_graph_free(o->gf);
  gs_pset_free_params(o->theta0);
  gs_pset_free_params(o->grad);
  gs_pset_free_params(o->dir);
  gs_pset_free_params(o->tmp);
  gs_param_free(o->logq);
}

static void feed(gs_program *p, gs_tensor *const *vin, const th *t) {
  for (int v = 0; v < 2; v++) gs_program_feed(p, vin[v], t->batch[0][v]);
}

/* params -= alpha grad L_ssl(params), once. */
static void sgd_inner(oracle *o, float alpha) {
  feed(o->pg, o->views_g, o->t);
  gs_program_run(o->pg);
  gs_pset_axpy(o->t->params, -alpha, o->grad);
}

/* The target at theta0: q = p_{phi}, phi = theta0 - alpha g - alpha g' (the task's future state),
 * or with `ahead` phi = theta0 - lr g (the outer iterate one plain step on, lr = 1). */
static void oracle_target(oracle *o, float alpha, int ahead) {
  gs_pset_copy(o->t->params, o->theta0);
  if (ahead) {
    sgd_inner(o, o->t->lr);
  } else {
    sgd_inner(o, alpha);
    sgd_inner(o, alpha);
  }
  feed(o->pq, o->views_q, o->t);
  gs_program_run(o->pq);
}

/* F(theta0 + s dir). */
static double oracle_f(oracle *o, float alpha, float s) {
  gs_pset_copy(o->t->params, o->theta0);
  gs_pset_axpy(o->t->params, s, o->dir);
  sgd_inner(o, alpha);
  feed(o->pf, o->views_f, o->t);
  gs_program_run(o->pf);
  float f = 0;
  gs_program_fetch(o->pf, o->f_out, &f);
  return f;
}

/* The plugin's meta-gradient g = theta0 - theta' of one step, into o->tmp. */
static void plugin_g(oracle *o, const gs_meta_iface *meta) {
  gs_pset_copy(o->t->params, o->theta0);
  gs_meta_result res;
  gs_status st = th_step(o->t, meta, &res);
  CHECKF(st == GS_OK, "%s", gs_errmsg());
  gs_pset_copy(o->tmp, o->theta0);
  gs_pset_axpy(o->tmp, -1.0f, o->t->params);
  gs_pset_copy(o->t->params, o->theta0);
}

static void random_set(gs_pset *s, uint64_t seed) {
  for (int k = 0; k < gs_pset_count(s); k++) {
    gs_shape sh = gs_param_shape(gs_pset_get(s, k));
    int64_t n = gs_shape_numel(&sh);
    float *x = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) x[i] = th_randn(&seed);
    gs_param_write(gs_pset_get(s, k), x);
    free(x);
  }
}

static void make_model(th *t, smooth_model *m, int nonlinear, int hidden, int emb) {
  m->nonlinear = nonlinear;
  m->w1 = gs_param_new(t->dev, "w1", GS_SHAPE(hidden, D_IN), 1);
  m->w2 = gs_param_new(t->dev, "w2", GS_SHAPE(emb, hidden), 1);
  m->self_mask = gs_param_new(t->dev, "self", GS_SHAPE(ROWS, ROWS), 0);
  m->pos_mask = gs_param_new(t->dev, "pos", GS_SHAPE(ROWS, ROWS), 0);
  float self[ROWS * ROWS] = {0}, pos[ROWS * ROWS] = {0};
  for (int i = 0; i < ROWS; i++) {
    self[i * ROWS + i] = -1e9f;
    pos[i * ROWS + (i < N ? i + N : i - N)] = 1.0f;
  }
  gs_param_write(m->self_mask, self);
  gs_param_write(m->pos_mask, pos);
  gs_pset_add(t->params, m->w1);
  gs_pset_add(t->params, m->w2);
  random_set(t->params, 11);
  gs_pset_scale(t->params, 0.6f);
  t->loss = smooth_loss;
  t->loss_user = m;
  t->opt_cfg.momentum = 0.0f;
  t->opt_cfg.weight_decay = 0.0f;
  t->lr = 1.0f;
}

static void free_model(smooth_model *m) {
  gs_param_free(m->w1);
  gs_param_free(m->w2);
  gs_param_free(m->self_mask);
  gs_param_free(m->pos_mask);
}

/* Part 1: directional differences of F along a random unit direction. */
static void directional(const gs_meta_iface *meta, float lambda, float alpha, int kl_only,
                        int ahead) {
  th t;
  if (!th_open(&t, "cpu", GS_SHAPE(N, 1, 2, 2), 1, 5)) {
    CHECK(0);
    return;
  }
  smooth_model m;
  make_model(&t, &m, 1, 6, 3);
  th_gessl_defaults(&t, meta);
  th_set(&t, meta, "M", 1);
  th_set(&t, meta, "K", 1);
  th_set(&t, meta, "lambda", lambda);
  th_set(&t, meta, "alpha", alpha);
  th_set(&t, meta, "tau_pi", TAU_PI);
  th_set(&t, meta, "eps0", 0.01);
  th_set(&t, meta, "objective", kl_only);
  th_set(&t, meta, "target", ahead);
  oracle o;
  oracle_build(&o, &t, &m, lambda, kl_only);
  random_set(o.dir, 99);
  double dn = 0;
  gs_pset_norm(o.dir, &dn);
  gs_pset_scale(o.dir, (float)(1.0 / dn));

  oracle_target(&o, alpha, ahead);
  const float h = 2e-3f;
  double fd = (oracle_f(&o, alpha, h) - oracle_f(&o, alpha, -h)) / (2.0 * h);

  double gd_aid = 0, gd_first = 0;
  th_set(&t, meta, "gradient", 0);
  plugin_g(&o, meta);
  gs_pset_dot(o.tmp, o.dir, &gd_aid);
  th_set(&t, meta, "gradient", 1);
  plugin_g(&o, meta);
  gs_pset_dot(o.tmp, o.dir, &gd_first);
  double err_aid = fabs(gd_aid - fd), err_first = fabs(gd_first - fd);
  printf("lambda %g alpha %g objective %s target %s: directional FD %.6f, AID-FD <g,d> %.6f "
         "(err %.2e), first-order %.6f (err %.2e)\n",
         (double)lambda, (double)alpha, kl_only ? "kl" : "ssl+kl", ahead ? "ahead" : "task", fd,
         gd_aid, err_aid, gd_first, err_first);
  CHECKF(err_aid < 2e-3 + 1e-2 * fabs(fd), "AID-FD %.6f vs FD %.6f", gd_aid, fd);
  CHECKF(err_first > 5.0 * err_aid, "first-order should miss: err %.2e vs AID-FD %.2e", err_first,
         err_aid);
  oracle_free(&o);
  free_model(&m);
  th_close(&t);
}

/* Part 2: the exact one-step meta-gradient (I - alpha H) v from a formed Hessian. */
static void exact_hessian(const gs_meta_iface *meta) {
  th t;
  if (!th_open(&t, "cpu", GS_SHAPE(N, 1, 2, 2), 1, 7)) {
    CHECK(0);
    return;
  }
  smooth_model m;
  make_model(&t, &m, 0, 2, 2);
  const float alpha = 0.4f;
  th_gessl_defaults(&t, meta);
  th_set(&t, meta, "M", 1);
  th_set(&t, meta, "lambda", 0.0);
  th_set(&t, meta, "alpha", alpha);
  th_set(&t, meta, "eps0", 0.01);
  oracle o;
  oracle_build(&o, &t, &m, 0.0f, 0);
  enum { P = 12 };
  CHECK(gs_pset_numel(t.params) == P);
  float th0[P], buf[P], hess[P][P], v[P], gtrue[P], gplug[P];
  gs_param_read(m.w1, th0);
  gs_param_read(m.w2, th0 + 8);
  const float dh = 1e-2f;
  for (int i = 0; i < P; i++) {
    float gp[P], gm[P];
    for (int s = 0; s < 2; s++) {
      memcpy(buf, th0, sizeof buf);
      buf[i] += s ? -dh : dh;
      gs_param_write(m.w1, buf);
      gs_param_write(m.w2, buf + 8);
      feed(o.pg, o.views_g, &t);
      gs_program_run(o.pg);
      gs_param_read(gs_pset_get(o.grad, 0), s ? gm : gp);
      gs_param_read(gs_pset_get(o.grad, 1), (s ? gm : gp) + 8);
    }
    for (int j = 0; j < P; j++) hess[j][i] = (gp[j] - gm[j]) / (2 * dh);
  }
  /* v = grad L_ssl(theta - alpha grad L_ssl(theta)). */
  gs_pset_copy(t.params, o.theta0);
  sgd_inner(&o, alpha);
  feed(o.pg, o.views_g, &t);
  gs_program_run(o.pg);
  gs_param_read(gs_pset_get(o.grad, 0), v);
  gs_param_read(gs_pset_get(o.grad, 1), v + 8);
  double nt = 0, ne = 0, nf = 0;
  for (int j = 0; j < P; j++) {
    double hv = 0;
    for (int i = 0; i < P; i++) hv += 0.5 * (hess[j][i] + hess[i][j]) * v[i];
    gtrue[j] = (float)(v[j] - alpha * hv);
  }
  for (int pass = 0; pass < 2; pass++) {
    th_set(&t, meta, "gradient", pass);
    plugin_g(&o, meta);
    gs_param_read(gs_pset_get(o.tmp, 0), gplug);
    gs_param_read(gs_pset_get(o.tmp, 1), gplug + 8);
    double e = 0;
    nt = 0;
    for (int j = 0; j < P; j++) {
      e += (gplug[j] - gtrue[j]) * (double)(gplug[j] - gtrue[j]);
      nt += gtrue[j] * (double)gtrue[j];
    }
    if (pass == 0)
      ne = sqrt(e / nt);
    else
      nf = sqrt(e / nt);
  }
  printf("formed Hessian: relative error of AID-FD %.2e, of first-order %.2e (||g|| %.4f)\n", ne,
         nf, sqrt(nt));
  CHECKF(ne < 1e-2, "AID-FD vs (I - aH)v: %.2e", ne);
  CHECKF(nf > 10 * ne, "first-order should miss: %.2e vs %.2e", nf, ne);
  oracle_free(&o);
  free_model(&m);
  th_close(&t);
}

int main(void) {
  gs_runtime *rt = gs_runtime_open(NULL);
  const gs_meta_iface *meta = rt ? gs_runtime_meta(rt, "gessl") : NULL;
  CHECKF(meta != NULL, "%s", gs_errmsg());
  if (meta) {
    directional(meta, 0.0f, 0.3f, 0, 0);
    directional(meta, 1.0f, 0.3f, 0, 0);
    directional(meta, 1.0f, 0.3f, 1, 0);
    directional(meta, 1.0f, 0.3f, 0, 1);
    exact_hessian(meta);
  }
  gs_runtime_close(rt);
  return check_summary();
}
