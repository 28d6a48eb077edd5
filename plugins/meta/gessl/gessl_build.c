/* The four programs of a GeSSL step, compiled once at create.
 *
 * Every program reads theta from the host's params and the task's views from device tensors, so
 * the step moves between theta, theta_m, phi_m and theta +- eps v by copying values into the
 * params (gs_pset_copy/axpy) and re-running the same compiled programs: nothing is rebuilt and no
 * gradient leaves the device. Gradients land in parameter copies through gs_assign sinks. */
#include <stdio.h>
#include <stdlib.h>

#include "gessl_impl.h"

gs_status gessl_fail(gs_status st, const char *what) {
  char why[768];
  snprintf(why, sizeof why, "%s", gs_errmsg());
  return gs_fail(st, "meta gessl: %s: %s", what, why);
}

void gessl_prog_free(gessl_prog *p) {
  if (p->prog) gs_program_free(p->prog);
  gs_graph_free(p->g);
  p->prog = NULL;
  p->g = NULL;
}

/* A new graph with the method's loss on the views in `vp`. */
static gs_status start(gessl *s, gessl_prog *p, gs_param *const *vp, gs_method_out *out) {
  const gs_meta_host *h = s->host;
  p->g = gs_graph_new();
  if (!p->g) return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
  gs_tensor *views[GESSL_MAX_VIEWS];
  for (int v = 0; v < s->n_views; v++) views[v] = gs_param_ref(p->g, vp[v]);
  if (gs_graph_status(p->g) != GS_OK)
    return gs_fail(gs_graph_status(p->g), "meta gessl: %s", gs_graph_error(p->g));
  gs_status st = h->build_loss(h->host, p->g, views, s->n_views, out);
  if (st != GS_OK) return gessl_fail(st, "building the method's loss");
  if (!out->loss) return gs_fail(GS_ERR_INVALID, "meta gessl: the method returned no loss");
  return GS_OK;
}

/* Gradient of `loss` with respect to theta, written into `dst` by assign sinks. */
static gs_status grads_into(gessl *s, gs_graph *g, gs_tensor *loss, gs_pset *dst) {
  int n = gs_pset_count(s->params);
  gs_tensor **refs = calloc((size_t)n + 1, sizeof *refs);
  gs_tensor **grads = calloc((size_t)n + 1, sizeof *grads);
  gs_status st = (refs && grads) ? GS_OK : gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
  for (int k = 0; k < n && st == GS_OK; k++) refs[k] = gs_param_ref(g, gs_pset_get(s->params, k));
  if (st == GS_OK && (st = gs_graph_status(g)) == GS_OK) st = gs_grad(g, loss, refs, n, grads);
  for (int k = 0; k < n && st == GS_OK; k++) gs_assign(g, gs_pset_get(dst, k), grads[k]);
  if (st == GS_OK && gs_graph_status(g) != GS_OK)
    st = gs_fail(gs_graph_status(g), "meta gessl: %s", gs_graph_error(g));
  free(refs);
  free(grads);
  return st;
}

/* log p(j|i) of the auxiliary head pi over the embeddings [2N, D]: the softmax over j != i of
 * cos(z_i, z_j) / tau_pi. */
static gs_tensor *head_logp(gessl *s, gs_graph *g, gs_tensor *embed) {
  gs_tensor *z = gs_l2_normalize(g, embed, 1, 1e-12f);
  gs_tensor *sim = gs_scale(g, gs_matmul(g, z, z, 0, 1), 1.0f / s->tau_pi);
  sim = gs_add(g, sim, gs_param_ref(g, s->no_self));
  return gs_log_softmax(g, sim, 1);
}

static gs_status check_embed(gessl *s, const gs_method_out *out) {
  if (!out->embed)
    return gs_fail(GS_ERR_INVALID, "meta gessl: the method gives no embedding for the head pi "
                                   "(set lambda=0 to train without the target)");
  if (gs_tensor_shape(out->embed).rank != 2 || gs_tensor_dim(out->embed, 0) != s->rows)
    return gs_fail(GS_ERR_SHAPE, "meta gessl: the method's embedding must be [%lld, D]",
                   (long long)s->rows);
  return GS_OK;
}

static gs_status compile(gessl *s, gessl_prog *p, const char *what) {
  p->prog = gs_compile(s->host->dev, p->g, p->out, p->n_out);
  return p->prog ? GS_OK : gessl_fail(GS_ERR_INVALID, what);
}

static gs_status build_grad(gessl *s) {
  gs_method_out out = {0};
  gs_status st = start(s, &s->p_grad, s->views, &out);
  if (st == GS_OK) st = grads_into(s, s->p_grad.g, out.loss, s->grad);
  if (st != GS_OK) return st;
  s->p_grad.out[0] = out.loss;
  s->p_grad.n_out = 1;
  return compile(s, &s->p_grad, "compiling the gradient program");
}

static gs_status build_target(gessl *s) {
  gs_method_out out = {0};
  gs_status st = start(s, &s->p_target, s->query, &out);
  if (st == GS_OK) st = check_embed(s, &out);
  if (st != GS_OK) return st;
  gs_graph *g = s->p_target.g;
  gs_assign(g, s->logq, head_logp(s, g, out.embed));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "meta gessl: target: %s", gs_graph_error(g));
  s->p_target.n_out = 0;
  return compile(s, &s->p_target, "compiling the target program");
}

static gs_status build_task(gessl *s) {
  gs_method_out out = {0};
  gs_status st = start(s, &s->p_task, s->query, &out);
  if (st != GS_OK) return st;
  gs_graph *g = s->p_task.g;
  gs_tensor *total = out.loss, *kl = NULL;
  if (s->lambda != 0.0f) {
    if ((st = check_embed(s, &out)) != GS_OK) return st;
    gs_tensor *logp = head_logp(s, g, out.embed);
    gs_tensor *logq = gs_param_ref(g, s->logq);
    kl = s->kl == KL_TARGET_TO_MODEL ? gs_kl_div(g, logq, logp) : gs_kl_div(g, logp, logq);
    total = gs_scale(g, kl, s->lambda);
    if (s->objective == OBJECTIVE_SSL_KL) total = gs_add(g, out.loss, total);
    if (gs_graph_status(g) != GS_OK)
      return gs_fail(gs_graph_status(g), "meta gessl: task loss: %s", gs_graph_error(g));
  }
  if ((st = grads_into(s, g, total, s->v)) != GS_OK) return st;
  s->p_task.out[0] = total;
  s->p_task.out[1] = out.loss;
  s->p_task.n_out = 2;
  if (kl) s->p_task.out[s->p_task.n_out++] = kl;
  return compile(s, &s->p_task, "compiling the task-loss program");
}

static gs_status build_update(gessl *s) {
  const gs_meta_host *h = s->host;
  gessl_prog *p = &s->p_update;
  p->g = gs_graph_new();
  int n = gs_pset_count(s->params);
  gs_tensor **grads = calloc((size_t)n + 1, sizeof *grads);
  if (!p->g || !grads) {
    free(grads);
    return gs_fail(GS_ERR_NOMEM, "meta gessl: out of memory");
  }
  for (int k = 0; k < n; k++) grads[k] = gs_param_ref(p->g, gs_pset_get(s->acc, k));
  gs_status st = gs_graph_status(p->g);
  if (st == GS_OK) st = h->add_update(h->host, p->g, grads, s->outer_lr);
  free(grads);
  if (st != GS_OK) return gessl_fail(st, "building the outer update");
  p->n_out = 0;
  return compile(s, p, "compiling the outer update");
}

gs_status gessl_build_programs(gessl *s) {
  gs_status st = build_grad(s);
  if (st == GS_OK && s->lambda != 0.0f) st = build_target(s);
  if (st == GS_OK) st = build_task(s);
  if (st == GS_OK) st = build_update(s);
  return st;
}
