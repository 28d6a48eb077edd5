/* BYOL (Grill et al. 2020): an online network (backbone, projector, predictor) predicts the
 * projection of the other view made by a target network (backbone, projector) whose weights are an
 * exponential moving average of the online ones. No negatives; the asymmetry (predictor, stop-
 * gradient, slow target) is what keeps the representation from collapsing.
 *
 * With p the online predictions and z' the target projections of the two views,
 *   loss = mean_n (2 - 2 cos(p_0, z'_1)) + mean_n (2 - 2 cos(p_1, z'_0))   (z' detached)
 * i.e. the paper's symmetrised L + L~, in [0, 8]. Both views go through each network as one batch
 * of 2N (one pass, BN statistics over both views). The target follows the online weights after
 * every optimizer step with m = 1 - (1 - m0)(cos(pi k/K) + 1)/2, through a small compiled program
 * of EMA sinks whose m is fed, so the update stays on the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

enum { HP_PROJ_HIDDEN, HP_PROJ_OUT, HP_PRED_HIDDEN, HP_MOMENTUM, HP_MOMENTUM_END, HP_COUNT };

static const gs_hparam_decl byol_hparams[HP_COUNT] = {
    {"proj_hidden_dim", GS_HP_INT, 4096, 1, 65536, NULL, "projector hidden width (Linear-BN-ReLU)"},
    {"proj_output_dim", GS_HP_INT, 256, 1, 65536, NULL, "projector and predictor output width"},
    {"pred_hidden_dim", GS_HP_INT, 4096, 1, 65536, NULL, "predictor hidden width (Linear-BN-ReLU)"},
    {"momentum", GS_HP_FLOAT, 0.99, 0.0, 1.0, NULL,
     "target EMA momentum at the first step (cosine ramp to momentum_end)"},
    {"momentum_end", GS_HP_FLOAT, 1.0, 0.0, 1.0, NULL, "target EMA momentum at the last step"},
};

#define BYOL_M_INPUT "byol.m"

typedef struct byol {
  gs_device *dev;
  gs_model *backbone, *target;
  gs_mlp *projector, *predictor, *target_projector;
  gs_program *ema; /* target := m*target + (1-m)*online, for every param of both networks */
  float m0, m1;
  int64_t total_steps;
} byol;

static void byol_destroy(void *self) {
  byol *b = self;
  if (!b) return;
  if (b->ema) gs_program_free(b->ema);
  gs_mlp_free(b->target_projector);
  gs_mlp_free(b->predictor);
  gs_mlp_free(b->projector);
  gs_model_free(b->target);
  free(b);
}

static gs_status build_ema(byol *b) {
  gs_graph *g = gs_graph_new();
  if (!g) return gs_fail(GS_ERR_NOMEM, "byol: out of memory");
  gs_tensor *m = gs_input(g, BYOL_M_INPUT, GS_F32, GS_SHAPE(1));
  gs_ema_update_set(g, gs_model_params(b->target), gs_model_params(b->backbone), m);
  gs_ema_update_set(g, gs_mlp_params(b->target_projector), gs_mlp_params(b->projector), m);
  if (gs_graph_status(g) != GS_OK) {
    gs_status st = gs_fail(gs_graph_status(g), "byol: target update: %s", gs_graph_error(g));
    gs_graph_free(g);
    return st;
  }
  b->ema = gs_compile(b->dev, g, NULL, 0);
  gs_graph_free(g);
  return b->ema ? GS_OK : gs_fail_context(GS_ERR_INVALID, "byol: compiling the target update");
}

static gs_status byol_create(const gs_method_ctx *ctx, void **self) {
  byol *b = calloc(1, sizeof *b);
  if (!b) return gs_fail(GS_ERR_NOMEM, "byol: out of memory");
  b->dev = ctx->dev;
  b->backbone = ctx->backbone;
  b->m0 = (float)ctx->hp[HP_MOMENTUM];
  b->m1 = (float)ctx->hp[HP_MOMENTUM_END];
  b->total_steps = ctx->total_steps;
  int64_t out = (int64_t)ctx->hp[HP_PROJ_OUT];
  int64_t proj[3] = {gs_model_feat_dim(ctx->backbone), (int64_t)ctx->hp[HP_PROJ_HIDDEN], out};
  int64_t pred[3] = {out, (int64_t)ctx->hp[HP_PRED_HIDDEN], out};
  gs_status st = GS_OK;
  b->projector = gs_mlp_new(ctx->dev, "projector", proj, 3, 0, 0, ctx->seed ^ 0xb1011ull);
  if (!b->projector) st = gs_fail_context(GS_ERR_INVALID, "byol: projector");
  if (st == GS_OK) {
    b->predictor = gs_mlp_new(ctx->dev, "predictor", pred, 3, 0, 0, ctx->seed ^ 0xb1012ull);
    if (!b->predictor) st = gs_fail_context(GS_ERR_INVALID, "byol: predictor");
  }
  /* The target starts as a copy of the online network. */
  if (st == GS_OK) {
    b->target = gs_model_clone(ctx->backbone, "target.");
    if (!b->target) st = gs_fail_context(GS_ERR_INVALID, "byol: target backbone");
  }
  if (st == GS_OK) {
    b->target_projector = gs_mlp_new(ctx->dev, "target.projector", proj, 3, 0, 0, 0);
    if (!b->target_projector) st = gs_fail_context(GS_ERR_INVALID, "byol: target projector");
  }
  if (st == GS_OK)
    st = gs_pset_copy(gs_mlp_params(b->target_projector), gs_mlp_params(b->projector));
  if (st == GS_OK) st = gs_pset_copy(gs_mlp_state(b->target_projector), gs_mlp_state(b->projector));
  if (st == GS_OK) st = build_ema(b);
  if (st != GS_OK) {
    byol_destroy(b);
    return st;
  }
  *self = b;
  return GS_OK;
}

static gs_status byol_params(void *self, gs_pset *out) {
  byol *b = self;
  gs_status st = gs_pset_extend(out, gs_mlp_params(b->projector));
  return st == GS_OK ? gs_pset_extend(out, gs_mlp_params(b->predictor)) : st;
}

static gs_status byol_state(void *self, gs_pset *out) {
  byol *b = self;
  const gs_pset *sets[] = {gs_mlp_state(b->projector),         gs_mlp_state(b->predictor),
                           gs_model_params(b->target),         gs_model_state(b->target),
                           gs_mlp_params(b->target_projector), gs_mlp_state(b->target_projector)};
  gs_status st = GS_OK;
  for (size_t k = 0; k < sizeof sets / sizeof *sets && st == GS_OK; k++)
    st = gs_pset_extend(out, sets[k]);
  return st;
}

/* Rows [N, 2N) then [0, N): each row's partner from the other view. */
static gs_tensor *swap_views(gs_graph *g, gs_tensor *x, int64_t n) {
  gs_tensor *halves[2] = {gs_slice(g, x, 0, n, n), gs_slice(g, x, 0, 0, n)};
  return gs_concat(g, halves, 2, 0);
}

static gs_status byol_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                 gs_method_out *out) {
  byol *b = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "byol: needs 2 views, got %d", n_views);
  int64_t n = gs_tensor_dim(views[0], 0);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *z = gs_mlp_forward(b->projector, g, gs_model_forward(b->backbone, g, x, 1), 1);
  gs_tensor *p = gs_mlp_forward(b->predictor, g, z, 1);
  gs_tensor *zt = gs_mlp_forward(b->target_projector, g, gs_model_forward(b->target, g, x, 1), 1);
  zt = gs_detach(g, zt);
  gs_tensor *pn = gs_l2_normalize(g, p, 1, 1e-12f);
  gs_tensor *tn = swap_views(g, gs_l2_normalize(g, zt, 1, 1e-12f), n);
  /* Two means over N of 2 - 2cos = 4 - 4 * (mean over 2N of cos). */
  gs_tensor *cos_mean = gs_scale(g, gs_sum_all(g, gs_mul(g, pn, tn)), 1.0f / (float)(2 * n));
  gs_tensor *loss = gs_affine(g, cos_mean, -4.0f, 4.0f);
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "byol: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = z;
  return GS_OK;
}

static gs_status byol_after_step(void *self, const gs_step_info *info) {
  byol *b = self;
  int64_t total = info->total > 0 ? info->total : b->total_steps;
  /* The step just taken is step info->step - 1 of the schedule. */
  float m = gs_cosine_ramp(info->step - 1, total, b->m0, b->m1);
  gs_status st = gs_program_feed_name(b->ema, BYOL_M_INPUT, &m);
  if (st == GS_OK) st = gs_program_run(b->ema);
  return st == GS_OK ? GS_OK : gs_fail_context(st, "byol: target update");
}

/* BYOL's asymmetric pair: one view always blurred, the other solarised. */
static gs_status byol_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  static const gs_aug_style style = {.asymmetric = 1};
  *out = gs_aug_recipe_make(&style, size, 2);
  return GS_OK;
}

static const gs_method_iface byol_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "byol",
    .summary = "BYOL: online predictor regresses an EMA target's projection of the other view",
    .hparams = byol_hparams,
    .n_hparams = HP_COUNT,
    .create = byol_create,
    .destroy = byol_destroy,
    .params = byol_params,
    .state = byol_state,
    .build_loss = byol_build_loss,
    .feed = NULL,
    .after_step = byol_after_step,
    .views = byol_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &byol_iface; }
