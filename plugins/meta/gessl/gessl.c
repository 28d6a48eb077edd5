/* GeSSL: the bi-level outer step of DESIGN.md section 5 around any method plugin.
 *
 * Per task m (one mini-batch): theta_m by inner SGD steps of size alpha from theta; phi_m by K
 * more, detached; the target q_m = p_{phi_m} of the auxiliary head pi; the task loss
 * L_ssl(theta_m) + lambda KL(q_m || p_{theta_m}); v its gradient at theta_m; the meta-gradient
 * g_m = v - alpha H v with H v by central differences of grad L_ssl at theta +- eps v
 * (eps = eps0 / ||v||: AID-FD, two extra passes instead of a Hessian). The mean of the g_m updates
 * theta once with the run's optimizer, then the method's hooks run once.
 *
 * With inner_steps > 1 the Jacobian of the inner loop is approximated by I - alpha H(theta) as in
 * the one-step case (the cost stays two extra passes).
 *
 * The defaults (M = 2, lambda = 0.1, alpha = lr / 10, first-order) are the setting that did best
 * at equal compute time in the sweep of docs/gessl-results.md; the paper's reading (M = 4,
 * lambda = 1, alpha = lr, aid-fd) did worst there.
 *
 * BN running statistics: every pass writes them. When the host offers its state, the state after
 * the first pass of a task (the loss at theta, what the plain loop would run) is kept and restored
 * after the task's extra passes, so the running statistics follow exactly the plain loop's over the
 * same batches; otherwise each pass updates them (logged at create). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl_impl.h"

static const gs_hparam_decl gessl_hparams[HP_COUNT] = {
    {"K", GS_HP_INT, 1, 0, 64, NULL, "inner steps from theta_m to the future state phi_m"},
    {"M", GS_HP_INT, 2, 1, 64, NULL, "tasks (mini-batches) per outer step"},
    {"lambda", GS_HP_FLOAT, 0.1, 0.0, 1e3, NULL, "weight of KL(q || p) against the target"},
    {"alpha", GS_HP_FLOAT, -0.1, -1e3, 1e3, NULL,
     "inner step size; a negative value -c means c times the run's --lr"},
    {"inner_steps", GS_HP_INT, 1, 1, 64, NULL, "SGD steps from theta to theta_m"},
    {"eps0", GS_HP_FLOAT, 0.01, 1e-8, 10.0, NULL, "AID-FD step: eps = eps0 / ||v||"},
    {"kl", GS_HP_CHOICE, 0, 0, 1, "target-to-model|model-to-target",
     "KL(q || p_theta) or KL(p_theta || q)"},
    {"gradient", GS_HP_CHOICE, 1, 0, 1, "aid-fd|first-order",
     "meta-gradient through the inner step (aid-fd) or v alone"},
    {"outer_views", GS_HP_CHOICE, 0, 0, 1, "same|fresh",
     "task loss on the inner step's views or on fresh views of the same images"},
    {"tau_pi", GS_HP_FLOAT, 0.1, 1e-3, 100.0, NULL, "temperature of the auxiliary head pi"},
    {"outer_lr", GS_HP_FLOAT, 1.0, 0.0, 1e3, NULL,
     "outer learning rate as a multiple of the run's (scheduled) rate"},
};

static void free_params(gs_param **p, int n) {
  for (int k = 0; k < n; k++)
    if (p[k]) gs_param_free(p[k]);
}

static void gessl_destroy(void *self) {
  gessl *s = self;
  if (!s) return;
  gessl_prog_free(&s->p_grad);
  gessl_prog_free(&s->p_target);
  gessl_prog_free(&s->p_task);
  gessl_prog_free(&s->p_update);
  gs_pset *sets[] = {s->theta0, s->theta_m, s->grad, s->v, s->acc, s->state_keep};
  for (size_t k = 0; k < sizeof sets / sizeof *sets; k++)
    if (sets[k]) gs_pset_free_params(sets[k]);
  free_params(s->views, s->n_views);
  free_params(s->fresh, s->n_views);
  if (s->no_self) gs_param_free(s->no_self);
  if (s->logq) gs_param_free(s->logq);
  free(s);
}

static size_t pset_bytes(const gs_pset *p) { return p ? (size_t)gs_pset_numel(p) * 4 : 0; }

static gs_status clone(gessl *s, gs_pset **out, const gs_pset *src, const char *suffix) {
  *out = gs_pset_clone(src, suffix, 0);
  if (!*out) return gessl_fail(GS_ERR_NOMEM, "allocating a parameter copy");
  s->copy_bytes += pset_bytes(src);
  return GS_OK;
}

static gs_param *new_tensor(gessl *s, const char *name, gs_shape shape) {
  gs_param *p = gs_param_new(s->host->dev, name, shape, 0);
  if (p) s->copy_bytes += (size_t)gs_shape_numel(&shape) * 4;
  return p;
}

static gs_status allocate(gessl *s) {
  const gs_meta_host *h = s->host;
  gs_status st = clone(s, &s->theta0, s->params, ".gessl_theta");
  if (st == GS_OK) st = clone(s, &s->theta_m, s->params, ".gessl_theta_m");
  if (st == GS_OK) st = clone(s, &s->grad, s->params, ".gessl_grad");
  if (st == GS_OK) st = clone(s, &s->v, s->params, ".gessl_v");
  if (st == GS_OK) st = clone(s, &s->acc, s->params, ".gessl_acc");
  if (st == GS_OK && h->state && gs_pset_count(h->state) > 0)
    st = clone(s, &s->state_keep, h->state, ".gessl_keep");
  if (st != GS_OK) return st;
  for (int v = 0; v < s->n_views; v++) {
    char name[48];
    /* Multi-crop: local crops are smaller than the global views. */
    gs_shape shape = h->view_shapes ? h->view_shapes[v] : h->view_shape;
    snprintf(name, sizeof name, "gessl.view%d", v);
    if (!(s->views[v] = new_tensor(s, name, shape)))
      return gessl_fail(GS_ERR_NOMEM, "allocating the task's views");
    if (s->outer_views != VIEWS_FRESH) continue;
    snprintf(name, sizeof name, "gessl.fresh_view%d", v);
    if (!(s->fresh[v] = new_tensor(s, name, shape)))
      return gessl_fail(GS_ERR_NOMEM, "allocating the fresh views");
  }
  if (s->lambda == 0.0f) return GS_OK;
  s->no_self = new_tensor(s, "gessl.no_self", GS_SHAPE(s->rows, s->rows));
  s->logq = new_tensor(s, "gessl.logq", GS_SHAPE(s->rows, s->rows));
  if (!s->no_self || !s->logq) return gessl_fail(GS_ERR_NOMEM, "allocating the target");
  float *mask = calloc((size_t)(s->rows * s->rows), sizeof *mask);
  if (!mask) return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
  /* exp(-1e4) is 0 in f32 at any tau_pi in range, without the overflow risk of -inf. */
  for (int64_t i = 0; i < s->rows; i++) mask[i * s->rows + i] = -1e4f;
  st = gs_param_write(s->no_self, mask);
  free(mask);
  return st == GS_OK ? GS_OK : gessl_fail(st, "writing the head's mask");
}

static gs_status settings(gessl *s) {
  const gs_meta_host *h = s->host;
  const double *hp = h->hp;
  s->K = (int)hp[HP_K];
  s->M = (int)hp[HP_M];
  s->lambda = (float)hp[HP_LAMBDA];
  s->alpha = hp[HP_ALPHA] < 0 ? (float)(-hp[HP_ALPHA] * h->base_lr) : (float)hp[HP_ALPHA];
  s->inner_steps = (int)hp[HP_INNER_STEPS];
  s->eps0 = (float)hp[HP_EPS0];
  s->kl = (int)hp[HP_KL];
  s->gradient = (int)hp[HP_GRADIENT];
  s->outer_views = (int)hp[HP_OUTER_VIEWS];
  s->tau_pi = (float)hp[HP_TAU_PI];
  s->outer_lr = (float)hp[HP_OUTER_LR];
  s->n_views = h->n_views;
  s->rows = 2 * h->view_shape.dim[0];
  if (s->n_views < 2 || s->n_views > GESSL_MAX_VIEWS)
    return gs_fail(GS_ERR_INVALID, "meta gessl: %d views per image, supported 2..%d", s->n_views,
                   GESSL_MAX_VIEWS);
  if (s->outer_views == VIEWS_FRESH && !h->fresh_views)
    return gs_fail(GS_ERR_UNSUPPORTED,
                   "meta gessl: outer_views=fresh needs a host that re-augments the last batch "
                   "(gs_meta_host.fresh_views); use outer_views=same");
  return GS_OK;
}

static gs_status gessl_create(const gs_meta_host *host, void **self) {
  if (!host->run) return gs_fail(GS_ERR_INVALID, "meta gessl: the host has no run service");
  gessl *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
  s->host = host;
  s->params = host->params;
  gs_status st = settings(s);
  if (st == GS_OK) st = allocate(s);
  if (st == GS_OK) st = gessl_build_programs(s);
  if (st != GS_OK) {
    gessl_destroy(s);
    return st;
  }
  size_t arenas = gs_program_peak_bytes(s->p_task.prog) + gs_program_peak_bytes(s->p_update.prog) +
                  (s->p_target.prog ? gs_program_peak_bytes(s->p_target.prog) : 0);
  host->log(host->host,
            "gessl: K=%d M=%d lambda=%g alpha=%g inner_steps=%d eps0=%g kl=%s gradient=%s "
            "outer_views=%s tau_pi=%g outer_lr=%g; extra device memory %.1f MiB "
            "(parameter copies and targets %.1f MiB, extra program arenas %.1f MiB); %s",
            s->K, s->M, (double)s->lambda, (double)s->alpha, s->inner_steps, (double)s->eps0,
            s->kl ? "model-to-target" : "target-to-model", s->gradient ? "first-order" : "aid-fd",
            s->outer_views ? "fresh" : "same", (double)s->tau_pi, (double)s->outer_lr,
            (double)(s->copy_bytes + arenas) / 1048576.0, (double)s->copy_bytes / 1048576.0,
            (double)arenas / 1048576.0,
            s->state_keep ? "running statistics follow the passes at theta only"
                          : "the host offers no state: every pass updates the running statistics");
  *self = s;
  return GS_OK;
}

static int gessl_batches_per_step(void *self) { return ((gessl *)self)->M; }

static gs_status upload(gs_param *const *dst, int n, const float *const *views) {
  gs_status st = GS_OK;
  for (int v = 0; v < n && st == GS_OK; v++) st = gs_param_write(dst[v], views[v]);
  return st;
}

/* Runs a program at the current params with the step's inputs fed. */
static gs_status run(gessl *s, gessl_prog *p) { return s->host->run(s->host->host, p->prog); }

/* Inner SGD steps on the current params: params -= alpha * grad L_ssl, `n` times. The first
 * pass's loss goes to *loss0 when non-NULL. */
static gs_status inner(gessl *s, int n, float *loss0) {
  gs_status st = GS_OK;
  for (int k = 0; k < n && st == GS_OK; k++) {
    st = run(s, &s->p_grad);
    if (st == GS_OK && k == 0 && loss0)
      st = gs_program_fetch(s->p_grad.prog, s->p_grad.out[0], loss0);
    if (st == GS_OK && k == 0 && loss0 && s->state_keep)
      st = gs_pset_copy(s->state_keep, s->host->state);
    if (st == GS_OK && s->alpha != 0.0f) st = gs_pset_axpy(s->params, -s->alpha, s->grad);
  }
  return st;
}

typedef struct task_figures {
  float loss0, task_ssl, kl;
  double vnorm;
} task_figures;

/* One task: adds g_m to acc. On entry params hold theta (== theta0). */
static gs_status task(gessl *s, task_figures *f) {
  const gs_meta_host *h = s->host;
  const float *const *views = NULL;
  gs_status st = h->next_batch(h->host, &views);
  if (st != GS_OK) return st;
  if ((st = upload(s->views, s->n_views, views)) != GS_OK) return gessl_fail(st, "views");
  if ((st = inner(s, s->inner_steps, &f->loss0)) != GS_OK) return st;
  if (s->lambda != 0.0f) {
    /* The future state phi_m: K more steps from theta_m, then its head's distribution. */
    st = gs_pset_copy(s->theta_m, s->params);
    if (st == GS_OK) st = inner(s, s->K, NULL);
    if (st == GS_OK) st = run(s, &s->p_target);
    if (st == GS_OK && s->K > 0) st = gs_pset_copy(s->params, s->theta_m);
    if (st != GS_OK) return st;
  }
  if (s->outer_views == VIEWS_FRESH) {
    if ((st = h->fresh_views(h->host, &views)) != GS_OK) return st;
    if ((st = upload(s->fresh, s->n_views, views)) != GS_OK) return gessl_fail(st, "fresh views");
  }
  if ((st = run(s, &s->p_task)) != GS_OK) return st;
  st = gs_program_fetch(s->p_task.prog, s->p_task.out[1], &f->task_ssl);
  f->kl = 0.0f;
  if (st == GS_OK && s->p_task.n_out > 2)
    st = gs_program_fetch(s->p_task.prog, s->p_task.out[2], &f->kl);
  if (st == GS_OK) st = gs_pset_norm(s->v, &f->vnorm);
  if (st != GS_OK) return st;
  if (!isfinite(f->vnorm))
    return gs_fail(GS_ERR_NUMERIC, "meta gessl: the task gradient is not finite (||v|| = %g)",
                   f->vnorm);
  st = gs_pset_axpy(s->acc, 1.0f, s->v);
  if (st == GS_OK && s->gradient == GRAD_AID_FD && s->alpha != 0.0f && f->vnorm > 0.0) {
    /* H v ~ (grad(theta + eps v) - grad(theta - eps v)) / 2 eps on the inner step's views. */
    float eps = (float)(s->eps0 / f->vnorm), c = s->alpha / (2.0f * eps);
    st = gs_pset_copy(s->params, s->theta0);
    if (st == GS_OK) st = gs_pset_axpy(s->params, eps, s->v);
    if (st == GS_OK) st = run(s, &s->p_grad);
    if (st == GS_OK) st = gs_pset_axpy(s->acc, -c, s->grad);
    if (st == GS_OK) st = gs_pset_axpy(s->params, -2.0f * eps, s->v);
    if (st == GS_OK) st = run(s, &s->p_grad);
    if (st == GS_OK) st = gs_pset_axpy(s->acc, c, s->grad);
  }
  if (st == GS_OK) st = gs_pset_copy(s->params, s->theta0);
  if (st == GS_OK && s->state_keep) st = gs_pset_copy((gs_pset *)h->state, s->state_keep);
  return st;
}

static gs_status gessl_step(void *self, gs_meta_result *res) {
  gessl *s = self;
  const gs_meta_host *h = s->host;
  gs_status st = gs_pset_copy(s->theta0, s->params);
  if (st == GS_OK) st = gs_pset_fill(s->acc, 0.0f);
  double loss = 0, task_ssl = 0, kl = 0, vnorm = 0;
  for (int m = 0; m < s->M && st == GS_OK; m++) {
    task_figures f = {0};
    st = task(s, &f);
    loss += f.loss0;
    task_ssl += f.task_ssl;
    kl += f.kl;
    vnorm += f.vnorm;
  }
  if (st == GS_OK && s->M > 1) st = gs_pset_scale(s->acc, 1.0f / (float)s->M);
  if (st == GS_OK) st = h->run(h->host, s->p_update.prog);
  if (st == GS_OK) st = h->after_step(h->host);
  if (st != GS_OK) {
    /* Leave theta as it was at the start of the step rather than at a perturbed point. */
    if (st != GS_ERR_NOMEM) {
      char why[768];
      snprintf(why, sizeof why, "%s", gs_errmsg());
      gs_pset_copy(s->params, s->theta0);
      gs_fail(st, "%s", why);
    }
    return st;
  }
  memset(res, 0, sizeof *res);
  res->loss = loss / s->M;
  res->batches = s->M;
  res->figures[0] = (gs_meta_figure){"inner_loss", task_ssl / s->M};
  res->figures[1] = (gs_meta_figure){"kl", kl / s->M};
  res->figures[2] = (gs_meta_figure){"v_norm", vnorm / s->M};
  res->n_figures = 3;
  return GS_OK;
}

static size_t gessl_extra_bytes(void *self) {
  gessl *s = self;
  size_t b = s->copy_bytes + gs_program_peak_bytes(s->p_task.prog) +
             gs_program_peak_bytes(s->p_update.prog);
  if (s->p_target.prog) b += gs_program_peak_bytes(s->p_target.prog);
  return b;
}

static const gs_meta_iface gessl_iface = {
    .abi_version = GS_META_ABI_VERSION,
    .struct_size = sizeof(gs_meta_iface),
    .name = "gessl",
    .summary = "GeSSL: M tasks, inner steps, self-motivated target from the future state, AID-FD "
               "meta-gradient",
    .hparams = gessl_hparams,
    .n_hparams = HP_COUNT,
    .create = gessl_create,
    .destroy = gessl_destroy,
    .batches_per_step = gessl_batches_per_step,
    .step = gessl_step,
    .extra_bytes = gessl_extra_bytes,
};

GS_API const gs_meta_iface *gessl_meta_entry(void) { return &gessl_iface; }
