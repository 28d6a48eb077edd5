/* One GeSSL outer step: the look-ahead target (target = ahead), the M tasks, their combination
 * and the outer update. The programs it runs are compiled once at create (gessl_build.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gessl_impl.h"

float gessl_alpha(const gessl *s) {
  if (s->alpha_set >= 0) return (float)s->alpha_set;
  const gs_meta_host *h = s->host;
  return (float)(-s->alpha_set * (GS_HAS(h, lr) ? h->lr(h->host) : h->base_lr));
}

static gs_status upload(gs_param *const *dst, int n, const float *const *views) {
  gs_status st = GS_OK;
  for (int v = 0; v < n && st == GS_OK; v++) st = gs_param_write(dst[v], views[v]);
  return st;
}

/* Runs a program at the current params with the step's inputs fed. */
static gs_status run(gessl *s, gessl_prog *p) { return s->host->run(s->host->host, p->prog); }

/* Inner SGD steps on the current params: params -= alpha * grad L_ssl, `n` times. The first
 * pass's loss goes to *loss0 when non-NULL; with `into_acc` every step's gradient is added to acc
 * (combine = reptile: the task model's displacement). */
static gs_status inner(gessl *s, int n, float *loss0, int into_acc) {
  gs_status st = GS_OK;
  for (int k = 0; k < n && st == GS_OK; k++) {
    st = run(s, &s->p_grad);
    if (st == GS_OK && k == 0 && loss0)
      st = gs_program_fetch(s->p_grad.prog, s->p_grad.out[0], loss0);
    if (st == GS_OK && k == 0 && loss0 && s->state_keep)
      st = gs_pset_copy(s->state_keep, s->host->state);
    if (st == GS_OK && into_acc) st = gs_pset_axpy(s->acc, 1.0f, s->grad);
    if (st == GS_OK && s->alpha != 0.0f) st = gs_pset_axpy(s->params, -s->alpha, s->grad);
  }
  return st;
}

static size_t view_floats(const gessl *s, int v) {
  const gs_meta_host *h = s->host;
  gs_shape shape = GS_HAS(h, view_shapes) ? h->view_shapes[v] : h->view_shape;
  return (size_t)gs_shape_numel(&shape);
}

static const float *const *held(gessl *s, int m, int fresh) {
  for (int v = 0; v < s->n_views; v++) s->cur[v] = fresh ? s->held_fresh[m][v] : s->held[m][v];
  return s->cur;
}

/* target = ahead: phi is the outer iterate K plain steps on from theta, each step on the mean
 * gradient of the step's M batches at the learning rate of the outer update; the target of task
 * m is p_phi on task m's (query) views. Takes the step's batches from the host and holds them for
 * the tasks. The look-ahead's passes leave params and running statistics as they found them. */
static gs_status look_ahead(gessl *s) {
  const gs_meta_host *h = s->host;
  gs_status st = s->state_pre ? gs_pset_copy(s->state_pre, h->state) : GS_OK;
  for (int m = 0; m < s->M && st == GS_OK; m++) {
    const float *const *views = NULL;
    if ((st = h->next_batch(h->host, &views)) != GS_OK) return st;
    for (int v = 0; v < s->n_views; v++)
      memcpy(s->held[m][v], views[v], view_floats(s, v) * sizeof(float));
    if (s->outer_views != VIEWS_FRESH) continue;
    if ((st = h->fresh_views(h->host, &views)) != GS_OK) return st;
    for (int v = 0; v < s->n_views; v++)
      memcpy(s->held_fresh[m][v], views[v], view_floats(s, v) * sizeof(float));
  }
  float eta = (GS_HAS(h, lr) ? h->lr(h->host) : h->base_lr) * s->outer_lr;
  for (int k = 0; k < s->K && st == GS_OK; k++) {
    st = gs_pset_fill(s->ahead, 0.0f);
    for (int m = 0; m < s->M && st == GS_OK; m++) {
      st = upload(s->views, s->n_views, held(s, m, 0));
      if (st == GS_OK) st = run(s, &s->p_grad);
      if (st == GS_OK) st = gs_pset_axpy(s->ahead, 1.0f, s->grad);
    }
    if (st == GS_OK) st = gs_pset_axpy(s->params, -eta / (float)s->M, s->ahead);
  }
  for (int m = 0; m < s->M && st == GS_OK; m++) {
    st = upload(s->query, s->n_views, held(s, m, s->outer_views == VIEWS_FRESH));
    if (st == GS_OK) st = run(s, &s->p_target);
    if (st == GS_OK) st = gs_pset_copy(s->logq_task[m], s->logq_set);
  }
  if (st == GS_OK) st = gs_pset_copy(s->params, s->theta0);
  if (st == GS_OK && s->state_pre) st = gs_pset_copy((gs_pset *)h->state, s->state_pre);
  return st == GS_OK ? GS_OK : gessl_fail(st, "the look-ahead target");
}

typedef struct task_figures {
  float loss0, task_ssl, kl;
  double vnorm;
} task_figures;

/* One task: adds its meta-gradient to acc. On entry params hold theta (== theta0). */
static gs_status task(gessl *s, int m, task_figures *f) {
  const gs_meta_host *h = s->host;
  const float *const *views = NULL;
  gs_status st = GS_OK;
  if (s->target == TARGET_AHEAD && s->lambda != 0.0f)
    views = held(s, m, 0);
  else if ((st = h->next_batch(h->host, &views)) != GS_OK)
    return st;
  if ((st = upload(s->views, s->n_views, views)) != GS_OK) return gessl_fail(st, "views");
  int reptile = s->combine == COMBINE_REPTILE;
  if ((st = inner(s, s->inner_steps, &f->loss0, reptile)) != GS_OK) return st;
  /* The query views: the target and the task loss compare the same inputs. */
  if (s->outer_views == VIEWS_FRESH) {
    if (s->target == TARGET_AHEAD && s->lambda != 0.0f)
      views = held(s, m, 1);
    else if ((st = h->fresh_views(h->host, &views)) != GS_OK)
      return st;
    if ((st = upload(s->fresh, s->n_views, views)) != GS_OK) return gessl_fail(st, "fresh views");
  }
  if (s->lambda != 0.0f && s->target == TARGET_AHEAD) {
    st = gs_pset_copy(s->logq_set, s->logq_task[m]);
  } else if (s->lambda != 0.0f) {
    /* The future state phi_m: K more steps from theta_m on the task's batch, then its head's
     * distribution on the query views. */
    st = gs_pset_copy(s->theta_m, s->params);
    if (st == GS_OK) st = inner(s, s->K, NULL, 0);
    if (st == GS_OK) st = run(s, &s->p_target);
    if (st == GS_OK && s->K > 0) st = gs_pset_copy(s->params, s->theta_m);
  }
  if (st != GS_OK) return st;
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
  /* The batch's keys into the method's queue (MoCo, SwAV), after the state it was kept with. */
  if (st == GS_OK && GS_HAS(h, after_batch)) st = h->after_batch(h->host);
  return st;
}

/* The factor that turns the sum of the tasks' contributions into the outer gradient. */
static float combine_scale(const gessl *s) {
  switch (s->combine) {
  case COMBINE_SUM: return 1.0f;
  /* Each task model moved by alpha (its inner gradients + v); their mean displacement over
   * alpha (inner_steps + 1) is a gradient-sized step, equal to the plain one at alpha = 0. */
  case COMBINE_REPTILE: return 1.0f / ((float)s->M * (float)(s->inner_steps + 1));
  default: return 1.0f / (float)s->M;
  }
}

gs_status gessl_step(void *self, gs_meta_result *res) {
  gessl *s = self;
  const gs_meta_host *h = s->host;
  s->alpha = gessl_alpha(s);
  gs_status st = gs_pset_copy(s->theta0, s->params);
  if (st == GS_OK) st = gs_pset_fill(s->acc, 0.0f);
  if (st == GS_OK && s->target == TARGET_AHEAD && s->lambda != 0.0f) st = look_ahead(s);
  double loss = 0, task_ssl = 0, kl = 0, vnorm = 0;
  for (int m = 0; m < s->M && st == GS_OK; m++) {
    task_figures f = {0};
    st = task(s, m, &f);
    loss += f.loss0;
    task_ssl += f.task_ssl;
    kl += f.kl;
    vnorm += f.vnorm;
  }
  float scale = combine_scale(s);
  if (st == GS_OK && scale != 1.0f) st = gs_pset_scale(s->acc, scale);
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
