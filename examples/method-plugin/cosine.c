/* "cosine": a minimal SSL method plugin, built outside the gessl source tree.
 *
 * The two views' projections should point the same way (invariance), and every projection
 * dimension should keep a spread over the batch (a variance hinge, as VICReg's), which is what
 * stops the trivial solution of mapping every image to one point:
 *   loss = -mean_n cos(z0_n, z1_n) + var_weight * mean_v mean_j relu(1 - std_j(z_v)).
 * It is written only against the public API in <gessl/gessl.h>. */
#include <gessl/gessl.h>
#include <stdio.h>
#include <stdlib.h>

enum { HP_VAR_WEIGHT, HP_PROJ_DIM, HP_COUNT };

static const gs_hparam_decl cosine_hparams[HP_COUNT] = {
    {"var_weight", GS_HP_FLOAT, 1.0, 0.0, 100.0, NULL, "weight of the variance hinge"},
    {"proj_dim", GS_HP_INT, 256, 1, 65536, NULL, "projector hidden and output width"},
};

typedef struct cosine {
  gs_model *backbone; /* the host's; not ours to free */
  gs_mlp *projector;
  float var_weight;
} cosine;

static gs_status cosine_create(const gs_method_ctx *ctx, void **self) {
  cosine *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "cosine: out of memory");
  s->backbone = ctx->backbone;
  s->var_weight = (float)ctx->hp[HP_VAR_WEIGHT];
  int64_t d = (int64_t)ctx->hp[HP_PROJ_DIM];
  int64_t dims[3] = {gs_model_feat_dim(ctx->backbone), d, d};
  s->projector = gs_mlp_new(ctx->dev, "projector", dims, 3, 0, 0, ctx->seed);
  if (!s->projector) {
    free(s);
    return gs_fail(GS_ERR_INVALID, "cosine: cannot create the projector");
  }
  *self = s;
  return GS_OK;
}

static void cosine_destroy(void *self) {
  cosine *s = self;
  gs_mlp_free(s->projector);
  free(s);
}

static gs_status add_all(gs_pset *out, const gs_pset *in) {
  for (int k = 0; k < gs_pset_count(in); k++)
    if (gs_pset_add(out, gs_pset_get(in, k)) != GS_OK) return GS_ERR_NOMEM;
  return GS_OK;
}

static gs_status cosine_params(void *self, gs_pset *out) {
  return add_all(out, gs_mlp_params(((cosine *)self)->projector));
}

static gs_status cosine_state(void *self, gs_pset *out) {
  return add_all(out, gs_mlp_state(((cosine *)self)->projector));
}

static gs_status cosine_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                   gs_method_out *out) {
  cosine *s = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "cosine: needs 2 views, got %d", n_views);
  const int axis0[1] = {0}, axis1[1] = {1};
  gs_tensor *z[2], *hinge[2];
  for (int v = 0; v < 2; v++) {
    gs_tensor *h = gs_model_forward(s->backbone, g, views[v], 1); /* [N, feat] */
    z[v] = gs_mlp_forward(s->projector, g, h, 1);                 /* [N, D] */
    gs_tensor *zc = gs_sub(g, z[v], gs_mean(g, z[v], axis0, 1, 1));
    gs_tensor *std = gs_sqrt(g, gs_add_scalar(g, gs_mean(g, gs_square(g, zc), axis0, 1, 0), 1e-4f));
    hinge[v] = gs_mean_all(g, gs_relu(g, gs_affine(g, std, -1.0f, 1.0f)));
  }
  gs_tensor *u0 = gs_l2_normalize(g, z[0], 1, 1e-12f), *u1 = gs_l2_normalize(g, z[1], 1, 1e-12f);
  gs_tensor *cos = gs_mean_all(g, gs_sum(g, gs_mul(g, u0, u1), axis1, 1, 0));
  gs_tensor *var = gs_axpby(g, 0.5f, hinge[0], 0.5f, hinge[1]);
  out->loss = gs_axpby(g, -1.0f, cos, s->var_weight, var);
  out->embed = gs_concat(g, z, 2, 0); /* [2N, D], view 0's rows first */
  /* Graph errors are sticky: one check after building. */
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "cosine: %s", gs_graph_error(g));
  return GS_OK;
}

/* Two views of SimCLR's augmentation recipe (gs_aug_style has the other published ones). */
static gs_status cosine_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  *out = gs_aug_recipe_make(NULL, size, 2);
  return GS_OK;
}

static const gs_method_iface cosine_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "cosine",
    .summary = "example: view invariance by cosine similarity, a variance hinge against collapse",
    .hparams = cosine_hparams,
    .n_hparams = HP_COUNT,
    .create = cosine_create,
    .destroy = cosine_destroy,
    .params = cosine_params,
    .state = cosine_state,
    .build_loss = cosine_build_loss,
    .feed = NULL,       /* no scheduled inputs */
    .after_step = NULL, /* no EMA teacher or queue */
    .views = cosine_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &cosine_iface; }
