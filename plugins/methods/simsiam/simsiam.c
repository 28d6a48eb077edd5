/* SimSiam (Chen & He 2021): a Siamese network whose predictor regresses the other view's
 * projection, with a stop-gradient on the target side and no momentum encoder.
 *
 * With p the predictions and z the projections of the two views,
 *   loss = -cos(p_0, detach(z_1)) / 2 - cos(p_1, detach(z_0)) / 2, averaged over the batch,
 * in [-1, 1]. The projector is three Linear layers, each followed by BN (the last one without
 * affine parameters), ReLU between them; the predictor is a Linear-BN-ReLU bottleneck and a Linear.
 * Both views go through the network as one batch of 2N. (The paper's fixed learning rate for the
 * predictor is not reproduced: every head follows the run's schedule.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

enum { HP_PROJ_HIDDEN, HP_PROJ_OUT, HP_PRED_HIDDEN, HP_COUNT };

static const gs_hparam_decl simsiam_hparams[HP_COUNT] = {
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL,
     "projector hidden width (two Linear-BN-ReLU layers)"},
    {"proj_output_dim", GS_HP_INT, 2048, 1, 65536, NULL,
     "projector output width (Linear-BN without affine), also the predictor's in and out"},
    {"pred_hidden_dim", GS_HP_INT, 512, 1, 65536, NULL,
     "predictor bottleneck width (Linear-BN-ReLU)"},
};

typedef struct simsiam {
  gs_model *backbone;
  gs_mlp *projector, *predictor;
} simsiam;

static void simsiam_destroy(void *self) {
  simsiam *s = self;
  if (!s) return;
  gs_mlp_free(s->predictor);
  gs_mlp_free(s->projector);
  free(s);
}

static gs_status simsiam_create(const gs_method_ctx *ctx, void **self) {
  simsiam *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "simsiam: out of memory");
  s->backbone = ctx->backbone;
  int64_t hid = (int64_t)ctx->hp[HP_PROJ_HIDDEN], out = (int64_t)ctx->hp[HP_PROJ_OUT];
  int64_t proj[4] = {gs_model_feat_dim(ctx->backbone), hid, hid, out};
  int64_t pred[3] = {out, (int64_t)ctx->hp[HP_PRED_HIDDEN], out};
  gs_status st = GS_OK;
  s->projector = gs_mlp_new(ctx->dev, "projector", proj, 4, 1, 0, ctx->seed ^ 0x5135a1ull);
  if (!s->projector) st = gs_fail_context(GS_ERR_INVALID, "simsiam: projector");
  if (st == GS_OK) {
    s->predictor = gs_mlp_new(ctx->dev, "predictor", pred, 3, 0, 0, ctx->seed ^ 0x5135a2ull);
    if (!s->predictor) st = gs_fail_context(GS_ERR_INVALID, "simsiam: predictor");
  }
  if (st != GS_OK) {
    simsiam_destroy(s);
    return st;
  }
  *self = s;
  return GS_OK;
}

static gs_status simsiam_params(void *self, gs_pset *out) {
  simsiam *s = self;
  gs_status st = gs_pset_extend(out, gs_mlp_params(s->projector));
  return st == GS_OK ? gs_pset_extend(out, gs_mlp_params(s->predictor)) : st;
}

static gs_status simsiam_state(void *self, gs_pset *out) {
  simsiam *s = self;
  gs_status st = gs_pset_extend(out, gs_mlp_state(s->projector));
  return st == GS_OK ? gs_pset_extend(out, gs_mlp_state(s->predictor)) : st;
}

/* Rows [N, 2N) then [0, N): each row's partner from the other view. */
static gs_tensor *swap_views(gs_graph *g, gs_tensor *x, int64_t n) {
  gs_tensor *halves[2] = {gs_slice(g, x, 0, n, n), gs_slice(g, x, 0, 0, n)};
  return gs_concat(g, halves, 2, 0);
}

static gs_status simsiam_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                    gs_method_out *out) {
  simsiam *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "simsiam: needs 2 views, got %d", n_views);
  int64_t n = gs_tensor_dim(views[0], 0);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *z = gs_mlp_forward(s->projector, g, gs_model_forward(s->backbone, g, x, 1), 1);
  gs_tensor *p = gs_mlp_forward(s->predictor, g, z, 1);
  gs_tensor *pn = gs_l2_normalize(g, p, 1, 1e-12f);
  gs_tensor *tn = swap_views(g, gs_l2_normalize(g, gs_detach(g, z), 1, 1e-12f), n);
  /* The two half-weighted means over N are one mean over 2N. */
  gs_tensor *loss = gs_scale(g, gs_sum_all(g, gs_mul(g, pn, tn)), -1.0f / (float)(2 * n));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "simsiam: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = z;
  return GS_OK;
}

/* SimSiam: MoCo v2's recipe. */
static gs_status simsiam_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  static const gs_aug_style style = {.blur = 1};
  *out = gs_aug_recipe_make(&style, size, 2);
  return GS_OK;
}

static const gs_method_iface simsiam_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "simsiam",
    .summary = "SimSiam: predictor regresses the other view's projection, stop-gradient, no EMA",
    .hparams = simsiam_hparams,
    .n_hparams = HP_COUNT,
    .create = simsiam_create,
    .destroy = simsiam_destroy,
    .params = simsiam_params,
    .state = simsiam_state,
    .build_loss = simsiam_build_loss,
    .feed = NULL,
    .after_step = NULL,
    .views = simsiam_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &simsiam_iface; }
