/* The optimizer object: per-parameter state tensors (named as PyTorch names them, so
 * checkpoints map onto torch.optim state) and the update sinks it adds to a training graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gessl/optim.h"

struct gs_optimizer {
  gs_optim_config cfg;
  gs_pset *params; /* not owned: the caller's params, in order */
  gs_pset *state;  /* owned: one or two tensors per param, in param order */
  int per_param;   /* state tensors per param */
};

gs_optim_config gs_optim_defaults(gs_optim_kind kind) {
  gs_optim_config c;
  memset(&c, 0, sizeof c);
  c.kind = kind;
  c.momentum = 0.9f;
  c.weight_decay = kind == GS_OPT_ADAMW ? 0.05f : 5e-4f;
  c.nesterov = 0;
  c.eta = 0.001f;
  c.beta1 = 0.9f;
  c.beta2 = 0.999f;
  c.eps = 1e-8f;
  return c;
}

gs_status gs_optim_parse(const char *name, gs_optim_kind *out) {
  static const struct {
    const char *name;
    gs_optim_kind kind;
  } table[] = {{"sgd", GS_OPT_SGD}, {"lars", GS_OPT_LARS}, {"adamw", GS_OPT_ADAMW}};
  for (size_t k = 0; name && k < sizeof table / sizeof *table; k++)
    if (strcasecmp(name, table[k].name) == 0) {
      if (out) *out = table[k].kind;
      return GS_OK;
    }
  return gs_fail(GS_ERR_INVALID, "unknown optimizer '%s' (sgd, lars or adamw)", name ? name : "");
}

void gs_optimizer_free(gs_optimizer *o) {
  if (!o) return;
  gs_pset_free_params(o->state);
  gs_pset_free(o->params);
  free(o);
}

static gs_status add_state(gs_optimizer *o, gs_param *p, const char *suffix) {
  char name[512];
  snprintf(name, sizeof name, "%s.%s", gs_param_name(p), suffix);
  gs_param *s = gs_param_new(gs_param_device(p), name, gs_param_shape(p), 0);
  if (!s) return GS_ERR_NOMEM;
  gs_status st = gs_pset_add(o->state, s);
  if (st != GS_OK) gs_param_free(s);
  return st;
}

gs_optimizer *gs_optimizer_new(const gs_optim_config *cfg, const gs_pset *params) {
  if (!cfg || !params) {
    gs_fail(GS_ERR_INVALID, "gs_optimizer_new: no config or params");
    return NULL;
  }
  if (cfg->kind != GS_OPT_SGD && cfg->kind != GS_OPT_LARS && cfg->kind != GS_OPT_ADAMW) {
    gs_fail(GS_ERR_INVALID, "gs_optimizer_new: unknown optimizer kind %d", (int)cfg->kind);
    return NULL;
  }
  gs_optimizer *o = calloc(1, sizeof *o);
  if (!o) {
    gs_fail(GS_ERR_NOMEM, "gs_optimizer_new: out of memory");
    return NULL;
  }
  o->cfg = *cfg;
  o->per_param = cfg->kind == GS_OPT_ADAMW ? 2 : 1;
  o->params = gs_pset_new();
  o->state = gs_pset_new();
  if (!o->params || !o->state) goto fail;
  for (int k = 0; k < gs_pset_count(params); k++) {
    gs_param *p = gs_pset_get(params, k);
    if (gs_pset_add(o->params, p) != GS_OK) goto fail;
    gs_status st =
        cfg->kind == GS_OPT_ADAMW
            ? (add_state(o, p, "exp_avg") == GS_OK ? add_state(o, p, "exp_avg_sq") : GS_ERR_NOMEM)
            : add_state(o, p, "momentum_buffer");
    if (st != GS_OK) goto fail;
  }
  return o;
fail : {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", gs_errmsg());
  gs_optimizer_free(o);
  gs_fail(GS_ERR_NOMEM, "gs_optimizer_new: %s", *msg ? msg : "out of memory");
  return NULL;
}
}

gs_status gs_optimizer_add_updates(gs_optimizer *o, gs_graph *g, gs_tensor *const *grads,
                                   gs_tensor *lr, gs_tensor *t) {
  if (!o || !g || !grads || !lr)
    return gs_fail(GS_ERR_INVALID, "optimizer: no optimizer, graph, gradients or lr");
  if (o->cfg.kind == GS_OPT_ADAMW && !t)
    return gs_fail(GS_ERR_INVALID, "optimizer: adamw needs the step count t");
  const gs_optim_config *c = &o->cfg;
  for (int k = 0; k < gs_pset_count(o->params); k++) {
    gs_param *w = gs_pset_get(o->params, k);
    gs_param *s0 = gs_pset_get(o->state, o->per_param * k);
    gs_tensor *u = NULL;
    if (!grads[k])
      return gs_fail(GS_ERR_INVALID, "optimizer: no gradient for '%s'", gs_param_name(w));
    switch (c->kind) {
    case GS_OPT_SGD:
      u = gs_sgd_update(g, w, grads[k], s0, lr, c->momentum, c->weight_decay, c->nesterov);
      break;
    case GS_OPT_LARS: {
      /* Biases and normalisation scales (1-D) are excluded, as in the LARS paper and SimCLR. */
      int exclude = gs_param_shape(w).rank <= 1;
      u = gs_lars_update(g, w, grads[k], s0, lr, c->momentum, c->weight_decay, c->eta, exclude);
      break;
    }
    case GS_OPT_ADAMW:
      u = gs_adamw_update(g, w, grads[k], s0, gs_pset_get(o->state, 2 * k + 1), lr, t, c->beta1,
                          c->beta2, c->eps, c->weight_decay);
      break;
    }
    if (!u) {
      gs_status st = gs_graph_status(g);
      return gs_fail(st != GS_OK ? st : GS_ERR_INVALID, "optimizer update of '%s': %s",
                     gs_param_name(w), gs_graph_error(g));
    }
  }
  return GS_OK;
}

const gs_pset *gs_optimizer_state(const gs_optimizer *o) { return o ? o->state : NULL; }
