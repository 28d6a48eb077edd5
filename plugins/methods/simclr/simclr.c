/* SimCLR (Chen et al. 2020): NT-Xent over the 2N views of a batch.
 *
 * Both views go through the backbone as one batch of 2N (one pass, larger GEMMs, and the BN
 * statistics of both views together, as the reference implementation), then through the
 * projector. With z the L2-normalised projections,
 *   loss = mean_i -log( exp(z_i.z_p(i)/t) / sum_{j != i} exp(z_i.z_j/t) ),  p(i) = partner of i.
 * The j != i restriction and the partner selection are two constant [2N, 2N] masks kept on the
 * device, so the loss needs no integer inputs and nothing to feed per step.
 *
 * Data-parallel: the projections of every rank are gathered (gs_all_gather, per view), so each
 * rank's negatives are those of the whole global batch and the loss is one process's at that
 * batch; in a single process the gather is the identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

enum { HP_TEMPERATURE, HP_PROJ_HIDDEN, HP_PROJ_OUT, HP_COUNT };

static const gs_hparam_decl simclr_hparams[HP_COUNT] = {
    {"temperature", GS_HP_FLOAT, 0.2, 1e-3, 10.0, NULL, "softmax temperature of NT-Xent"},
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL, "projector hidden width (Linear-BN-ReLU)"},
    {"proj_output_dim", GS_HP_INT, 256, 1, 65536, NULL, "projector output width"},
};

enum { MAX_MASKS = 4 };

typedef struct simclr_masks {
  int64_t rows;         /* 2N */
  gs_param *self, *pos; /* -1e9 on the diagonal, 0 elsewhere; 1 at the partner, 0 elsewhere */
} simclr_masks;

typedef struct simclr {
  gs_device *dev;
  gs_model *backbone;
  gs_mlp *projector;
  float temperature;
  simclr_masks masks[MAX_MASKS]; /* one pair per batch size the loss was built for */
  int n_masks;
} simclr;

static void simclr_destroy(void *self) {
  simclr *s = self;
  if (!s) return;
  for (int k = 0; k < s->n_masks; k++) {
    gs_param_free(s->masks[k].self);
    gs_param_free(s->masks[k].pos);
  }
  gs_mlp_free(s->projector);
  free(s);
}

static gs_status simclr_create(const gs_method_ctx *ctx, void **self) {
  simclr *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "simclr: out of memory");
  s->dev = ctx->dev;
  s->backbone = ctx->backbone;
  s->temperature = (float)ctx->hp[HP_TEMPERATURE];
  int64_t dims[3] = {gs_model_feat_dim(ctx->backbone), (int64_t)ctx->hp[HP_PROJ_HIDDEN],
                     (int64_t)ctx->hp[HP_PROJ_OUT]};
  s->projector = gs_mlp_new(ctx->dev, "projector", dims, 3, 0, 0, ctx->seed ^ 0x51c1a5ull);
  if (!s->projector) {
    char why[256];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    free(s);
    return gs_fail(GS_ERR_INVALID, "simclr: projector: %s", why);
  }
  *self = s;
  return GS_OK;
}

static gs_status simclr_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_params(((simclr *)self)->projector));
}

static gs_status simclr_state(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_state(((simclr *)self)->projector));
}

/* The mask pair for 2N rows, created on first use. */
static gs_status masks_for(simclr *s, int64_t rows, simclr_masks **out) {
  for (int k = 0; k < s->n_masks; k++)
    if (s->masks[k].rows == rows) {
      *out = &s->masks[k];
      return GS_OK;
    }
  if (s->n_masks == MAX_MASKS)
    return gs_fail(GS_ERR_INVALID, "simclr: loss built for more than %d batch sizes", MAX_MASKS);
  float *self_m = calloc((size_t)(rows * rows), sizeof *self_m);
  float *pos_m = calloc((size_t)(rows * rows), sizeof *pos_m);
  if (!self_m || !pos_m) {
    free(self_m);
    free(pos_m);
    return gs_fail(GS_ERR_NOMEM, "simclr: out of memory");
  }
  int64_t n = rows / 2;
  for (int64_t i = 0; i < rows; i++) {
    self_m[i * rows + i] = -1e9f;
    pos_m[i * rows + (i < n ? i + n : i - n)] = 1.0f;
  }
  char name[64];
  simclr_masks m = {rows, NULL, NULL};
  snprintf(name, sizeof name, "simclr.self_mask.%lld", (long long)rows);
  m.self = gs_param_new(s->dev, name, GS_SHAPE(rows, rows), 0);
  snprintf(name, sizeof name, "simclr.pos_mask.%lld", (long long)rows);
  m.pos = gs_param_new(s->dev, name, GS_SHAPE(rows, rows), 0);
  gs_status st = (m.self && m.pos) ? gs_param_write(m.self, self_m) : GS_ERR_NOMEM;
  if (st == GS_OK) st = gs_param_write(m.pos, pos_m);
  free(self_m);
  free(pos_m);
  if (st != GS_OK) {
    if (m.self) gs_param_free(m.self);
    if (m.pos) gs_param_free(m.pos);
    char why[256];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    return gs_fail(st, "simclr: cannot create the NT-Xent masks: %s", why);
  }
  s->masks[s->n_masks] = m;
  *out = &s->masks[s->n_masks++];
  return GS_OK;
}

static gs_status simclr_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                   gs_method_out *out) {
  simclr *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "simclr: needs 2 views, got %d", n_views);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *h = gs_model_forward(s->backbone, g, x, 1);
  gs_tensor *p = gs_mlp_forward(s->projector, g, h, 1);
  gs_tensor *all = gs_all_gather(g, p, 2);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "simclr: %s", gs_graph_error(g));
  int64_t n = gs_tensor_dim(all, 0) / 2;
  simclr_masks *m;
  gs_status st = masks_for(s, 2 * n, &m);
  if (st != GS_OK) return st;
  gs_tensor *z = gs_l2_normalize(g, all, 1, 1e-12f);
  gs_tensor *sim = gs_scale(g, gs_matmul(g, z, z, 0, 1), 1.0f / s->temperature);
  sim = gs_add(g, sim, gs_param_ref(g, m->self));
  gs_tensor *logp = gs_log_softmax(g, sim, 1);
  gs_tensor *picked = gs_sum_all(g, gs_mul(g, logp, gs_param_ref(g, m->pos)));
  gs_tensor *loss = gs_scale(g, picked, -1.0f / (float)(2 * n));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "simclr: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = p;
  return GS_OK;
}

/* SimCLR's recipe. */
static gs_status simclr_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  *out = gs_aug_recipe_make(NULL, size, 2);
  return GS_OK;
}

static const gs_method_iface simclr_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "simclr",
    .summary = "SimCLR: NT-Xent contrastive loss over the 2N views of a batch",
    .hparams = simclr_hparams,
    .n_hparams = HP_COUNT,
    .create = simclr_create,
    .destroy = simclr_destroy,
    .params = simclr_params,
    .state = simclr_state,
    .build_loss = simclr_build_loss,
    .feed = NULL,
    .after_step = NULL,
    .views = simclr_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &simclr_iface; }
