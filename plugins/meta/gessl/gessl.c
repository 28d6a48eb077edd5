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
 * Where the settings come from. The seed text gives K = 1 and the finite-difference
 * hypergradient (AID-FD, after DARTS); it does not give M, lambda, alpha, beta or the backbone,
 * and several parts admit more than one reading. Each reading is a setting, the default being
 * our first reading (docs/gessl-results.md has the measurements that chose the defaults):
 *   objective  ssl+kl: L_ssl + lambda KL (default) | kl: lambda KL alone, the future state
 *              standing in for the task-optimal model as sigma is defined;
 *   target     task: phi_m from theta_m by K steps on the task's own batch (default) | ahead:
 *              phi from the outer iterate K plain steps ahead along training, on all M batches;
 *   outer_views  same (default) | fresh: a support/query split by views, inner steps on the
 *              batch's views, target and task loss on fresh views of the same images;
 *   tau_pi     the head pi's temperature; 0: the method's own temperature, so pi is the method's
 *              contrastive softmax;
 *   combine    mean of the tasks' meta-gradients (default) | sum | reptile: each task gives its
 *              model's whole displacement (inner steps and the task-loss step) and the tasks'
 *              models are averaged.
 * The numeric defaults (M = 2, lambda = 0.1, alpha = lr / 10, first-order) are our choice from
 * the measurements, not the seed's.
 *
 * BN running statistics: every pass writes them. When the host offers its state, the state after
 * the first pass of a task (the loss at theta, what the plain loop would run) is kept and restored
 * after the task's extra passes, so the running statistics follow exactly the plain loop's over the
 * same batches; otherwise each pass updates them (logged at create). Methods with a memory of
 * past batches (MoCo's and SwAV's queues) receive every task's batch (the host's after_batch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl_impl.h"

static const gs_hparam_decl gessl_hparams[HP_COUNT] = {
    {"K", GS_HP_INT, 1, 0, 64, NULL, "inner steps from theta_m to the future state phi_m"},
    {"M", GS_HP_INT, 2, 1, GESSL_MAX_TASKS, NULL, "tasks (mini-batches) per outer step"},
    {"lambda", GS_HP_FLOAT, 0.1, 0.0, 1e3, NULL, "weight of KL(q || p) against the target"},
    {"alpha", GS_HP_FLOAT, -0.1, -1e3, 1e3, NULL,
     "inner step size; a negative value -c means c times the run's scheduled learning rate "
     "(warm-up and decay included)"},
    {"inner_steps", GS_HP_INT, 1, 1, 64, NULL, "SGD steps from theta to theta_m"},
    {"eps0", GS_HP_FLOAT, 0.01, 1e-8, 10.0, NULL, "AID-FD step: eps = eps0 / ||v||"},
    {"kl", GS_HP_CHOICE, 0, 0, 1, "target-to-model|model-to-target",
     "KL(q || p_theta) or KL(p_theta || q)"},
    {"gradient", GS_HP_CHOICE, 1, 0, 1, "aid-fd|first-order",
     "meta-gradient through the inner step (aid-fd) or v alone"},
    {"outer_views", GS_HP_CHOICE, 0, 0, 1, "same|fresh",
     "target and task loss on the inner step's views, or on fresh views of the same images "
     "(a support/query split)"},
    {"tau_pi", GS_HP_FLOAT, 0.1, 0.0, 100.0, NULL,
     "temperature of the auxiliary head pi; 0: the method's temperature (pi is then the "
     "method's own contrastive softmax)"},
    {"outer_lr", GS_HP_FLOAT, 1.0, 0.0, 1e3, NULL,
     "outer learning rate as a multiple of the run's (scheduled) rate"},
    {"objective", GS_HP_CHOICE, 0, 0, 1, "ssl+kl|kl",
     "task loss: L_ssl + lambda KL, or lambda KL alone"},
    {"target", GS_HP_CHOICE, 0, 0, 1, "task|ahead",
     "future state: K steps from theta_m on the task's batch, or the outer iterate K plain "
     "steps ahead on all M batches"},
    {"combine", GS_HP_CHOICE, 0, 0, 2, "mean|sum|reptile",
     "tasks' meta-gradients averaged or summed, or the tasks' models averaged (Reptile)"},
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
  gs_pset *sets[] = {s->theta0, s->theta_m,    s->grad,      s->v,
                     s->acc,    s->state_keep, s->state_pre, s->ahead};
  for (size_t k = 0; k < sizeof sets / sizeof *sets; k++)
    if (sets[k]) gs_pset_free_params(sets[k]);
  for (int m = 0; m < GESSL_MAX_TASKS; m++) {
    if (s->logq_task[m]) gs_pset_free_params(s->logq_task[m]);
    for (int v = 0; v < GESSL_MAX_VIEWS; v++) {
      free(s->held[m][v]);
      free(s->held_fresh[m][v]);
    }
  }
  gs_pset_free(s->logq_set); /* holds logq, freed below */
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

/* target = ahead: the look-ahead's gradient, the state before it, a target per task and host
 * copies of the step's batches (taken before the tasks run). */
static gs_status allocate_ahead(gessl *s) {
  const gs_meta_host *h = s->host;
  gs_status st = clone(s, &s->ahead, s->params, ".gessl_ahead");
  if (st == GS_OK && s->state_keep) st = clone(s, &s->state_pre, h->state, ".gessl_pre");
  if (st != GS_OK) return st;
  if (!(s->logq_set = gs_pset_new()) || gs_pset_add(s->logq_set, s->logq) != GS_OK)
    return gessl_fail(GS_ERR_NOMEM, "allocating the targets");
  for (int m = 0; m < s->M; m++)
    if ((st = clone(s, &s->logq_task[m], s->logq_set, ".gessl_task")) != GS_OK) return st;
  for (int m = 0; m < s->M; m++)
    for (int v = 0; v < s->n_views; v++) {
      gs_shape shape = GS_HAS(h, view_shapes) ? h->view_shapes[v] : h->view_shape;
      size_t n = (size_t)gs_shape_numel(&shape);
      s->held[m][v] = malloc(n * sizeof(float));
      if (!s->held[m][v]) return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
      if (s->outer_views != VIEWS_FRESH) continue;
      s->held_fresh[m][v] = malloc(n * sizeof(float));
      if (!s->held_fresh[m][v]) return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
    }
  return GS_OK;
}

static gs_status allocate(gessl *s) {
  const gs_meta_host *h = s->host;
  gs_status st = clone(s, &s->theta0, s->params, ".gessl_theta");
  if (st == GS_OK) st = clone(s, &s->theta_m, s->params, ".gessl_theta_m");
  if (st == GS_OK) st = clone(s, &s->grad, s->params, ".gessl_grad");
  if (st == GS_OK) st = clone(s, &s->v, s->params, ".gessl_v");
  if (st == GS_OK) st = clone(s, &s->acc, s->params, ".gessl_acc");
  if (st == GS_OK && GS_HAS(h, state) && gs_pset_count(h->state) > 0)
    st = clone(s, &s->state_keep, h->state, ".gessl_keep");
  if (st != GS_OK) return st;
  for (int v = 0; v < s->n_views; v++) {
    char name[48];
    /* Multi-crop: local crops are smaller than the global views. */
    gs_shape shape = GS_HAS(h, view_shapes) ? h->view_shapes[v] : h->view_shape;
    snprintf(name, sizeof name, "gessl.view%d", v);
    if (!(s->views[v] = new_tensor(s, name, shape)))
      return gessl_fail(GS_ERR_NOMEM, "allocating the task's views");
    if (s->outer_views != VIEWS_FRESH) continue;
    snprintf(name, sizeof name, "gessl.fresh_view%d", v);
    if (!(s->fresh[v] = new_tensor(s, name, shape)))
      return gessl_fail(GS_ERR_NOMEM, "allocating the fresh views");
  }
  s->query = s->outer_views == VIEWS_FRESH ? s->fresh : s->views;
  if (s->lambda == 0.0f) return GS_OK;
  s->no_self = new_tensor(s, "gessl.no_self", GS_SHAPE(s->rows, s->rows));
  s->logq = new_tensor(s, "gessl.logq", GS_SHAPE(s->rows, s->rows));
  if (!s->no_self || !s->logq) return gessl_fail(GS_ERR_NOMEM, "allocating the target");
  if (s->target == TARGET_AHEAD && (st = allocate_ahead(s)) != GS_OK) return st;
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
  s->alpha_set = hp[HP_ALPHA];
  s->alpha = gessl_alpha(s);
  s->inner_steps = (int)hp[HP_INNER_STEPS];
  s->eps0 = (float)hp[HP_EPS0];
  s->kl = (int)hp[HP_KL];
  s->gradient = (int)hp[HP_GRADIENT];
  s->outer_views = (int)hp[HP_OUTER_VIEWS];
  s->tau_pi = (float)hp[HP_TAU_PI];
  s->outer_lr = (float)hp[HP_OUTER_LR];
  s->objective = (int)hp[HP_OBJECTIVE];
  s->target = (int)hp[HP_TARGET];
  s->combine = (int)hp[HP_COMBINE];
  s->n_views = h->n_views;
  s->rows = 2 * h->view_shape.dim[0];
  if (s->n_views < 2 || s->n_views > GESSL_MAX_VIEWS)
    return gs_fail(GS_ERR_INVALID, "meta gessl: %d views per image, supported 2..%d", s->n_views,
                   GESSL_MAX_VIEWS);
  if (s->outer_views == VIEWS_FRESH && !GS_HAS(h, fresh_views))
    return gs_fail(GS_ERR_UNSUPPORTED,
                   "meta gessl: outer_views=fresh needs a host that re-augments the last batch "
                   "(gs_meta_host.fresh_views); use outer_views=same");
  if (s->objective == OBJECTIVE_KL && s->lambda == 0.0f)
    return gs_fail(GS_ERR_INVALID, "meta gessl: objective=kl with lambda=0 leaves no task loss; "
                                   "set lambda > 0");
  if (s->combine == COMBINE_REPTILE && s->gradient == GRAD_AID_FD)
    return gs_fail(GS_ERR_INVALID, "meta gessl: combine=reptile averages the tasks' models, a "
                                   "first-order rule; set gradient=first-order");
  if (s->tau_pi == 0.0f) {
    double t = 0;
    gs_status st = GS_HAS(h, method_hparam) ? h->method_hparam(h->host, "temperature", &t)
                                            : gs_fail(GS_ERR_UNSUPPORTED, "the host does not say");
    if (st != GS_OK || !(t > 0))
      return gs_fail(GS_ERR_INVALID,
                     "meta gessl: tau_pi=0 takes the method's temperature, which it has not: "
                     "%s; set tau_pi > 0",
                     st != GS_OK ? gs_errmsg() : "it is not positive");
    s->tau_pi = (float)t;
  }
  return GS_OK;
}

static gs_status gessl_create(const gs_meta_host *host, void **self) {
  if (!GS_HAS(host, run)) return gs_fail(GS_ERR_INVALID, "meta gessl: the host has no run service");
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
  static const char *const objectives[] = {"ssl+kl", "kl"}, *const targets[] = {"task", "ahead"},
                           *const combines[] = {"mean", "sum", "reptile"};
  char alpha[96];
  if (s->alpha_set < 0)
    snprintf(alpha, sizeof alpha, "%g x the scheduled lr%s", -s->alpha_set,
             GS_HAS(host, lr) ? "" : " (the host has no schedule: --lr)");
  else
    snprintf(alpha, sizeof alpha, "%g", s->alpha_set);
  host->log(host->host,
            "gessl: K=%d M=%d lambda=%g alpha=%s inner_steps=%d eps0=%g kl=%s gradient=%s "
            "outer_views=%s tau_pi=%g outer_lr=%g objective=%s target=%s combine=%s; extra device "
            "memory %.1f MiB (parameter copies and targets %.1f MiB, extra program arenas %.1f "
            "MiB); %s",
            s->K, s->M, (double)s->lambda, alpha, s->inner_steps, (double)s->eps0,
            s->kl ? "model-to-target" : "target-to-model", s->gradient ? "first-order" : "aid-fd",
            s->outer_views ? "fresh" : "same", (double)s->tau_pi, (double)s->outer_lr,
            objectives[s->objective], targets[s->target], combines[s->combine],
            (double)(s->copy_bytes + arenas) / 1048576.0, (double)s->copy_bytes / 1048576.0,
            (double)arenas / 1048576.0,
            s->state_keep ? "running statistics follow the passes at theta only"
                          : "the host offers no state: every pass updates the running statistics");
  *self = s;
  return GS_OK;
}

static int gessl_batches_per_step(void *self) { return ((gessl *)self)->M; }

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
