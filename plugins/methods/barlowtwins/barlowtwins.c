/* Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' batch-normalised
 * embeddings is pushed towards the identity.
 *
 * Each view goes through the backbone and projector on its own (the reference implementation's
 * order, so BN statistics are per view). With zhat the embeddings normalised over the batch (no
 * affine, biased variance, eps 1e-5) and c = zhat_0^T zhat_1 / N,
 *   loss = scale * ( sum_j (c_jj - 1)^2 + lambda * sum_{i != j} c_ij^2 ).
 * The off-diagonal sum is taken as sum(c^2) - sum_j c_jj^2, with c_jj computed directly as a
 * column sum of zhat_0 * zhat_1, so no [D, D] mask lives on the device. */
#include <stdio.h>
#include <stdlib.h>

#include "gessl/gessl.h"

enum { HP_LAMBDA, HP_SCALE, HP_PROJ_HIDDEN, HP_PROJ_OUT, HP_COUNT };

static const gs_hparam_decl bt_hparams[HP_COUNT] = {
    {"lambda", GS_HP_FLOAT, 0.0051, 0.0, 1.0, NULL,
     "weight of the off-diagonal (redundancy) terms of the cross-correlation"},
    {"scale", GS_HP_FLOAT, 0.1, 1e-6, 1e3, NULL, "factor of the whole loss"},
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL,
     "projector hidden width (two Linear-BN-ReLU layers)"},
    {"proj_output_dim", GS_HP_INT, 2048, 1, 65536, NULL, "projector output width"},
};

typedef struct bt {
  gs_model *backbone;
  gs_mlp *projector;
  float lambda, scale;
} bt;

static void bt_destroy(void *self) {
  bt *s = self;
  if (!s) return;
  gs_mlp_free(s->projector);
  free(s);
}

static gs_status bt_create(const gs_method_ctx *ctx, void **self) {
  bt *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "barlowtwins: out of memory");
  s->backbone = ctx->backbone;
  s->lambda = (float)ctx->hp[HP_LAMBDA];
  s->scale = (float)ctx->hp[HP_SCALE];
  int64_t hidden = (int64_t)ctx->hp[HP_PROJ_HIDDEN];
  int64_t dims[4] = {gs_model_feat_dim(ctx->backbone), hidden, hidden,
                     (int64_t)ctx->hp[HP_PROJ_OUT]};
  s->projector = gs_mlp_new(ctx->dev, "projector", dims, 4, 0, 0, ctx->seed ^ 0xb7a1ull);
  if (!s->projector) {
    char why[256];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    free(s);
    return gs_fail(GS_ERR_INVALID, "barlowtwins: projector: %s", why);
  }
  *self = s;
  return GS_OK;
}

static gs_status bt_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_params(((bt *)self)->projector));
}

static gs_status bt_state(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_state(((bt *)self)->projector));
}

/* (z - mean) / sqrt(var + eps) over the batch axis: BatchNorm1d without affine, train mode. */
static gs_tensor *batch_standardise(gs_graph *g, gs_tensor *z) {
  const int axis0[1] = {0};
  gs_tensor *zc = gs_sub(g, z, gs_mean(g, z, axis0, 1, 1));
  gs_tensor *var = gs_mean(g, gs_square(g, zc), axis0, 1, 1);
  return gs_mul(g, zc, gs_rsqrt(g, gs_add_scalar(g, var, 1e-5f)));
}

static gs_status bt_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                               gs_method_out *out) {
  bt *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "barlowtwins: needs 2 views, got %d", n_views);
  /* Data-parallel: the batch statistics and the cross-correlation are over the global batch
   * (the projections of every rank gathered; the identity in a single process). */
  int64_t n = gs_tensor_dim(views[0], 0) * gs_world_batch_ranks();
  gs_tensor *z[2], *zn[2];
  for (int v = 0; v < 2; v++) {
    z[v] = gs_mlp_forward(s->projector, g, gs_model_forward(s->backbone, g, views[v], 1), 1);
    zn[v] = batch_standardise(g, gs_all_gather(g, z[v], 1));
  }
  const int axis0[1] = {0};
  float inv_n = 1.0f / (float)n;
  gs_tensor *c = gs_scale(g, gs_matmul(g, zn[0], zn[1], 1, 0), inv_n);
  gs_tensor *diag = gs_scale(g, gs_sum(g, gs_mul(g, zn[0], zn[1]), axis0, 1, 0), inv_n);
  gs_tensor *on = gs_sum_all(g, gs_square(g, gs_add_scalar(g, diag, -1.0f)));
  gs_tensor *off = gs_sub(g, gs_sum_all(g, gs_square(g, c)), gs_sum_all(g, gs_square(g, diag)));
  gs_tensor *loss = gs_scale(g, gs_axpby(g, 1.0f, on, s->lambda, off), s->scale);
  gs_tensor *embed = gs_concat(g, z, 2, 0);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "barlowtwins: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = embed;
  return GS_OK;
}

/* Barlow Twins: BYOL's asymmetric pair. */
static gs_status barlowtwins_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  static const gs_aug_style style = {.asymmetric = 1};
  *out = gs_aug_recipe_make(&style, size, 2);
  return GS_OK;
}

static const gs_method_iface bt_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "barlowtwins",
    .summary = "Barlow Twins: cross-correlation of batch-normalised embeddings towards identity",
    .hparams = bt_hparams,
    .n_hparams = HP_COUNT,
    .create = bt_create,
    .destroy = bt_destroy,
    .params = bt_params,
    .state = bt_state,
    .build_loss = bt_build_loss,
    .feed = NULL,
    .after_step = NULL,
    .views = barlowtwins_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &bt_iface; }
