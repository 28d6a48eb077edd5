/* VICReg (Bardes et al. 2022): variance-invariance-covariance regularisation.
 *
 * Each view goes through the backbone and projector on its own, as in the reference
 * implementation. With z0, z1 the [N, D] embeddings and zc the batch-centred ones,
 *   invariance  = mean((z0 - z1)^2)
 *   variance    = mean_v mean_j relu(1 - sqrt(var_j(z_v) + 1e-4))        (unbiased variance)
 *   covariance  = sum_v sum_{i != j} C_v,ij^2 / D,   C_v = zc_v^T zc_v / (N - 1)
 *   loss = w_inv * invariance + w_var * variance + w_cov * covariance.
 * The off-diagonal sum is sum(C^2) - sum_j var_j^2 (the diagonal of C is the variance), so no
 * [D, D] mask lives on the device. */
#include <stdio.h>
#include <stdlib.h>

#include "gessl/gessl.h"

enum { HP_INV, HP_VAR, HP_COV, HP_PROJ_HIDDEN, HP_PROJ_OUT, HP_COUNT };

static const gs_hparam_decl vicreg_hparams[HP_COUNT] = {
    {"invariance_weight", GS_HP_FLOAT, 25.0, 0.0, 1e4, NULL,
     "weight of the mean squared distance between the two views' embeddings"},
    {"variance_weight", GS_HP_FLOAT, 25.0, 0.0, 1e4, NULL,
     "weight of the hinge keeping each dimension's std above 1 (eps 1e-4)"},
    {"covariance_weight", GS_HP_FLOAT, 1.0, 0.0, 1e4, NULL,
     "weight of the squared off-diagonal covariances (decorrelation)"},
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL,
     "projector hidden width (two Linear-BN-ReLU layers)"},
    {"proj_output_dim", GS_HP_INT, 2048, 1, 65536, NULL, "projector output width"},
};

typedef struct vicreg {
  gs_model *backbone;
  gs_mlp *projector;
  float w_inv, w_var, w_cov;
} vicreg;

static void vicreg_destroy(void *self) {
  vicreg *s = self;
  if (!s) return;
  gs_mlp_free(s->projector);
  free(s);
}

static gs_status vicreg_create(const gs_method_ctx *ctx, void **self) {
  vicreg *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "vicreg: out of memory");
  s->backbone = ctx->backbone;
  s->w_inv = (float)ctx->hp[HP_INV];
  s->w_var = (float)ctx->hp[HP_VAR];
  s->w_cov = (float)ctx->hp[HP_COV];
  int64_t hidden = (int64_t)ctx->hp[HP_PROJ_HIDDEN];
  int64_t dims[4] = {gs_model_feat_dim(ctx->backbone), hidden, hidden,
                     (int64_t)ctx->hp[HP_PROJ_OUT]};
  s->projector = gs_mlp_new(ctx->dev, "projector", dims, 4, 0, 0, ctx->seed ^ 0x71c2ull);
  if (!s->projector) {
    char why[256];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    free(s);
    return gs_fail(GS_ERR_INVALID, "vicreg: projector: %s", why);
  }
  *self = s;
  return GS_OK;
}

static gs_status vicreg_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_params(((vicreg *)self)->projector));
}

static gs_status vicreg_state(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_state(((vicreg *)self)->projector));
}

/* Variance hinge and off-diagonal covariance term of one view's [N, D] embeddings. */
static void regularisers(gs_graph *g, gs_tensor *z, gs_tensor **var_term, gs_tensor **cov_term) {
  const int axis0[1] = {0};
  int64_t n = gs_tensor_dim(z, 0), d = gs_tensor_dim(z, 1);
  float inv_n1 = 1.0f / (float)(n > 1 ? n - 1 : 1);
  gs_tensor *zc = gs_sub(g, z, gs_mean(g, z, axis0, 1, 1));
  gs_tensor *var = gs_scale(g, gs_sum(g, gs_square(g, zc), axis0, 1, 0), inv_n1);
  gs_tensor *std = gs_sqrt(g, gs_add_scalar(g, var, 1e-4f));
  *var_term = gs_mean_all(g, gs_relu(g, gs_affine(g, std, -1.0f, 1.0f)));
  gs_tensor *cov = gs_scale(g, gs_matmul(g, zc, zc, 1, 0), inv_n1);
  gs_tensor *off = gs_sub(g, gs_sum_all(g, gs_square(g, cov)), gs_sum_all(g, gs_square(g, var)));
  *cov_term = gs_scale(g, off, 1.0f / (float)d);
}

static gs_status vicreg_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                   gs_method_out *out) {
  vicreg *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "vicreg: needs 2 views, got %d", n_views);
  /* Data-parallel: the variance and covariance terms are the global batch's (the projections of
   * every rank gathered; the identity in a single process). */
  gs_tensor *z[2], *zg[2], *var_t[2], *cov_t[2];
  for (int v = 0; v < 2; v++) {
    z[v] = gs_mlp_forward(s->projector, g, gs_model_forward(s->backbone, g, views[v], 1), 1);
    zg[v] = gs_all_gather(g, z[v], 1);
    regularisers(g, zg[v], &var_t[v], &cov_t[v]);
  }
  gs_tensor *inv = gs_mean_all(g, gs_square(g, gs_sub(g, zg[0], zg[1])));
  gs_tensor *variance = gs_axpby(g, 0.5f, var_t[0], 0.5f, var_t[1]);
  gs_tensor *covariance = gs_add(g, cov_t[0], cov_t[1]);
  gs_tensor *loss = gs_axpby(g, s->w_inv, inv, s->w_var, variance);
  loss = gs_axpby(g, 1.0f, loss, s->w_cov, covariance);
  gs_tensor *embed = gs_concat(g, z, 2, 0);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "vicreg: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = embed;
  return GS_OK;
}

/* VICReg: BYOL's asymmetric pair. */
static gs_status vicreg_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  static const gs_aug_style style = {.asymmetric = 1};
  *out = gs_aug_recipe_make(&style, size, 2);
  return GS_OK;
}

static const gs_method_iface vicreg_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "vicreg",
    .summary = "VICReg: invariance, variance hinge and covariance decorrelation of embeddings",
    .hparams = vicreg_hparams,
    .n_hparams = HP_COUNT,
    .create = vicreg_create,
    .destroy = vicreg_destroy,
    .params = vicreg_params,
    .state = vicreg_state,
    .build_loss = vicreg_build_loss,
    .feed = NULL,
    .after_step = NULL,
    .views = vicreg_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &vicreg_iface; }
