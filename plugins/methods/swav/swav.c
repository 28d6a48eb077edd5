/* SwAV (Caron et al. 2020): swapped prediction of online cluster assignments.
 *
 * Both views go through the backbone and projector as one batch of 2N (SwAV forwards the crops
 * of one resolution together). With z the L2-normalised projections and C the prototypes
 * [K, D] (kept L2-normalised: after every optimizer step, and once at creation),
 *   scores = z C^T,   q_v = SinkhornKnopp(detach(scores of view v)),
 *   loss = 1/2 sum_v -mean_n sum_k q_v[n,k] log softmax(scores of view 1-v / temperature)[n,k].
 * Sinkhorn-Knopp: Q = exp((s - max s) / eps), then `iterations` times: every prototype's column
 * normalised to sum 1, then every sample's row to sum 1 (the reference's /K, /B and *B factors
 * cancel in the next normalisation; subtracting the maximum only avoids overflow).
 *
 * Optional queue (queue_size > 0, a multiple of the batch): the normalised embeddings of the
 * last queue_size/N batches of each view join the Sinkhorn problem (their scores against the
 * current prototypes), so the equal-partition constraint holds over more samples than one small
 * batch. The loss program only records the batch's embeddings in a state tensor; after_batch (or
 * after_step, when the host did not call it) shifts them into the queue, so a meta-optimizer
 * that runs the loss program several times per batch still pushes each batch once. The queue takes
 * part once it is full: until then a 0/1 state tensor (swav.queue_ready, saved with checkpoints)
 * zeroes its rows, keeping one compiled program. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gessl/gessl.h"

enum {
  HP_TEMPERATURE,
  HP_PROTOTYPES,
  HP_SK_ITERS,
  HP_SK_EPS,
  HP_PROJ_HIDDEN,
  HP_PROJ_OUT,
  HP_QUEUE,
  HP_LOCAL_CROPS,
  HP_COUNT
};

static const gs_hparam_decl swav_hparams[HP_COUNT] = {
    {"temperature", GS_HP_FLOAT, 0.1, 1e-3, 10.0, NULL, "softmax temperature of the predictions"},
    {"num_prototypes", GS_HP_INT, 3000, 2, 1 << 20, NULL, "number of prototypes (clusters)"},
    {"sk_iterations", GS_HP_INT, 3, 1, 100, NULL, "Sinkhorn-Knopp iterations"},
    {"sk_epsilon", GS_HP_FLOAT, 0.05, 1e-3, 10.0, NULL,
     "Sinkhorn-Knopp entropy regularisation (smaller: harder assignments)"},
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL, "projector hidden width (Linear-BN-ReLU)"},
    {"proj_output_dim", GS_HP_INT, 128, 1, 65536, NULL, "projector output width"},
    {"queue_size", GS_HP_INT, 0, 0, 1 << 20, NULL,
     "embeddings per view kept from earlier batches for the assignments (0: no queue; a "
     "multiple of the batch)"},
    {"local_crops", GS_HP_INT, 0, 0, 6, NULL,
     "multi-crop: small crops per image that predict the two global views' assignments"},
};

typedef struct swav {
  gs_device *dev;
  gs_model *backbone;
  gs_mlp *projector;
  gs_param *prototypes; /* [K, D], trainable */
  gs_pset *params, *state;
  float temperature, sk_eps;
  int sk_iters, local_crops;
  int64_t batch, queue_len, dim;
  gs_param *queue[2]; /* [queue_len, D] per view, newest rows first */
  gs_param *last_z;   /* [2N, D]: the normalised embeddings of the last batch */
  gs_param *ready;    /* [1]: 1 once the queue is full */
  int64_t pushes;
  int pushed; /* after_batch pushed since the last after_step */
  gs_program *normalise, *push;
} swav;

static void swav_destroy(void *self) {
  swav *s = self;
  if (!s) return;
  if (s->normalise) gs_program_free(s->normalise);
  if (s->push) gs_program_free(s->push);
  for (int v = 0; v < 2; v++)
    if (s->queue[v]) gs_param_free(s->queue[v]);
  if (s->last_z) gs_param_free(s->last_z);
  if (s->ready) gs_param_free(s->ready);
  if (s->prototypes) gs_param_free(s->prototypes);
  gs_pset_free(s->params);
  gs_pset_free(s->state);
  gs_mlp_free(s->projector);
  free(s);
}

/* PyTorch's default Linear init, U(-1/sqrt(D), 1/sqrt(D)); normalised right after. */
static gs_status init_prototypes(swav *s, uint64_t seed) {
  return gs_param_init_uniform(s->prototypes, 1.0 / sqrt((double)s->dim), seed ^ 0x5a5a7e57ull);
}

/* The programs after_step runs: prototypes := rows / ||rows||, and the queue shift. */
static gs_status build_hooks(swav *s) {
  gs_graph *g = gs_graph_new();
  if (!g) return gs_fail(GS_ERR_NOMEM, "swav: out of memory");
  gs_assign(g, s->prototypes, gs_l2_normalize(g, gs_param_ref(g, s->prototypes), 1, 1e-12f));
  s->normalise = gs_graph_status(g) == GS_OK ? gs_compile(s->dev, g, NULL, 0) : NULL;
  gs_status st = s->normalise ? GS_OK : GS_ERR_INVALID;
  gs_graph_free(g);
  if (st != GS_OK || s->queue_len == 0) return st;
  g = gs_graph_new();
  if (!g) return gs_fail(GS_ERR_NOMEM, "swav: out of memory");
  for (int v = 0; v < 2; v++) {
    gs_tensor *fresh = gs_slice(g, gs_param_ref(g, s->last_z), 0, v * s->batch, s->batch);
    gs_tensor *parts[2] = {fresh, NULL};
    int n = 1;
    if (s->queue_len > s->batch)
      parts[n++] = gs_slice(g, gs_param_ref(g, s->queue[v]), 0, 0, s->queue_len - s->batch);
    gs_assign(g, s->queue[v], n == 1 ? fresh : gs_concat(g, parts, 2, 0));
  }
  s->push = gs_graph_status(g) == GS_OK ? gs_compile(s->dev, g, NULL, 0) : NULL;
  if (!s->push) st = GS_ERR_INVALID;
  gs_graph_free(g);
  return st;
}

static gs_status swav_create(const gs_method_ctx *ctx, void **self) {
  swav *s = calloc(1, sizeof *s);
  if (!s) return gs_fail(GS_ERR_NOMEM, "swav: out of memory");
  s->dev = ctx->dev;
  s->backbone = ctx->backbone;
  s->temperature = (float)ctx->hp[HP_TEMPERATURE];
  s->sk_eps = (float)ctx->hp[HP_SK_EPS];
  s->sk_iters = (int)ctx->hp[HP_SK_ITERS];
  s->local_crops = (int)ctx->hp[HP_LOCAL_CROPS];
  s->batch = ctx->batch;
  s->queue_len = (int64_t)ctx->hp[HP_QUEUE];
  s->dim = (int64_t)ctx->hp[HP_PROJ_OUT];
  int64_t k = (int64_t)ctx->hp[HP_PROTOTYPES];
  if (s->queue_len > 0 && (s->batch < 1 || s->queue_len % s->batch != 0)) {
    int64_t q = s->queue_len;
    free(s);
    return gs_fail(GS_ERR_INVALID, "swav: queue_size %lld is not a multiple of the batch %lld",
                   (long long)q, (long long)ctx->batch);
  }
  int64_t dims[3] = {gs_model_feat_dim(ctx->backbone), (int64_t)ctx->hp[HP_PROJ_HIDDEN], s->dim};
  s->projector = gs_mlp_new(ctx->dev, "projector", dims, 3, 0, 0, ctx->seed ^ 0x5a7full);
  s->params = gs_pset_new();
  s->state = gs_pset_new();
  s->prototypes = gs_param_new(ctx->dev, "prototypes.weight", GS_SHAPE(k, s->dim), 1);
  gs_status st = s->projector && s->params && s->state && s->prototypes ? GS_OK : GS_ERR_NOMEM;
  if (st == GS_OK) st = gs_pset_extend(s->params, gs_mlp_params(s->projector));
  if (st == GS_OK) st = gs_pset_add(s->params, s->prototypes);
  if (st == GS_OK) st = gs_pset_extend(s->state, gs_mlp_state(s->projector));
  if (st == GS_OK && s->queue_len > 0) {
    s->queue[0] = gs_param_new(ctx->dev, "swav.queue.0", GS_SHAPE(s->queue_len, s->dim), 0);
    s->queue[1] = gs_param_new(ctx->dev, "swav.queue.1", GS_SHAPE(s->queue_len, s->dim), 0);
    s->last_z = gs_param_new(ctx->dev, "swav.last_z", GS_SHAPE(2 * s->batch, s->dim), 0);
    s->ready = gs_param_new(ctx->dev, "swav.queue_ready", GS_SHAPE(1), 0);
    st = s->queue[0] && s->queue[1] && s->last_z && s->ready ? GS_OK : GS_ERR_NOMEM;
    for (int v = 0; v < 2 && st == GS_OK; v++) st = gs_pset_add(s->state, s->queue[v]);
    if (st == GS_OK) st = gs_pset_add(s->state, s->ready);
  }
  if (st == GS_OK) st = init_prototypes(s, ctx->seed);
  if (st == GS_OK) st = build_hooks(s);
  if (st == GS_OK) st = gs_program_run(s->normalise);
  if (st != GS_OK) {
    char why[256];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    swav_destroy(s);
    return gs_fail(st, "swav: %s", why);
  }
  *self = s;
  return GS_OK;
}

static gs_status swav_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, ((swav *)self)->params);
}
static gs_status swav_state(void *self, gs_pset *out) {
  return gs_pset_extend(out, ((swav *)self)->state);
}

/* Assignments of the rows of `scores` [N, K] (detached), with the queue's rows in the problem
 * when the method has a queue (weighted by the 0/1 `use`). */
static gs_tensor *sinkhorn(swav *s, gs_graph *g, gs_tensor *scores, int view, gs_tensor *use) {
  const int axis0[1] = {0}, axis1[1] = {1}, all[2] = {0, 1};
  int64_t n = gs_tensor_dim(scores, 0);
  gs_tensor *sc = scores, *miss = NULL;
  if (use) {
    gs_tensor *qs = gs_matmul(g, gs_param_ref(g, s->queue[view]),
                              gs_detach(g, gs_param_ref(g, s->prototypes)), 0, 1);
    gs_tensor *parts[2] = {qs, scores};
    sc = gs_concat(g, parts, 2, 0);
    /* 1 for the rows that take part, 0 for queue rows not yet in use; miss = 1 - weight keeps
     * their row sums away from 0/0. */
    gs_tensor *wparts[2] = {
        gs_expand(g, gs_reshape(g, use, GS_SHAPE(1, 1)), GS_SHAPE(s->queue_len, 1)),
        gs_fill(g, GS_SHAPE(n, 1), 1.0f)};
    gs_tensor *w = gs_concat(g, wparts, 2, 0);
    miss = gs_affine(g, w, -1.0f, 1.0f);
    sc = gs_sub(g, sc, gs_max(g, sc, all, 2, 1));
    sc = gs_mul(g, gs_exp(g, gs_scale(g, sc, 1.0f / s->sk_eps)), w);
  } else {
    sc = gs_sub(g, sc, gs_max(g, sc, all, 2, 1));
    sc = gs_exp(g, gs_scale(g, sc, 1.0f / s->sk_eps));
  }
  for (int it = 0; it < s->sk_iters; it++) {
    sc = gs_div(g, sc, gs_sum(g, sc, axis0, 1, 1));
    gs_tensor *rows = gs_sum(g, sc, axis1, 1, 1);
    sc = gs_div(g, sc, miss ? gs_add(g, rows, miss) : rows);
  }
  return use ? gs_slice(g, sc, 0, s->queue_len, n) : sc;
}

/* Multi-crop as in SwAV: assignments q come from the two global views (views 0 and 1) only;
 * every other view — the other global view and the local crops — predicts them, and the loss
 * averages over the predicting views and the two assigned views. With two views this is the
 * plain swapped prediction. */
static gs_status swav_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                 gs_method_out *out) {
  swav *s = self;
  int want = 2 + s->local_crops;
  if (n_views != want)
    return gs_fail(GS_ERR_INVALID,
                   "swav: local_crops=%d needs %d views, got %d (a host that does not ask "
                   "the views member gives 2)",
                   s->local_crops, want, n_views);
  int64_t n = gs_tensor_dim(views[0], 0);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *p = gs_mlp_forward(s->projector, g, gs_model_forward(s->backbone, g, x, 1), 1);
  gs_tensor *z = gs_l2_normalize(g, p, 1, 1e-12f);
  gs_tensor *scores = gs_matmul(g, z, gs_param_ref(g, s->prototypes), 0, 1);
  /* Local crops share one size, smaller than the global views: one more pass for all of them. */
  gs_tensor *local = NULL;
  if (s->local_crops > 0) {
    gs_tensor *xl = gs_concat(g, views + 2, s->local_crops, 0);
    gs_tensor *pl = gs_mlp_forward(s->projector, g, gs_model_forward(s->backbone, g, xl, 1), 1);
    local = gs_matmul(g, gs_l2_normalize(g, pl, 1, 1e-12f), gs_param_ref(g, s->prototypes), 0, 1);
  }
  /* The queue takes part only with the batch size it was made for. */
  gs_tensor *use = NULL;
  if (s->queue_len > 0 && n == s->batch) {
    use = gs_param_ref(g, s->ready);
    gs_assign(g, s->last_z, gs_detach(g, z));
  }
  /* Data-parallel: the Sinkhorn assignments and the loss are the global batch's (every rank's
   * scores gathered, per view; the identity in a single process). The queue stays per rank, as in
   * the SwAV recipe. */
  scores = gs_all_gather(g, scores, 2);
  if (local) local = gs_all_gather(g, local, s->local_crops);
  n *= gs_world_batch_ranks();
  gs_tensor *loss = NULL;
  float w = -1.0f / (2.0f * (float)n * (float)(n_views - 1));
  for (int v = 0; v < 2; v++) {
    gs_tensor *q = sinkhorn(s, g, gs_detach(g, gs_slice(g, scores, 0, v * n, n)), v, use);
    for (int u = 0; u < n_views; u++) {
      if (u == v) continue;
      gs_tensor *su =
          u < 2 ? gs_slice(g, scores, 0, u * n, n) : gs_slice(g, local, 0, (u - 2) * n, n);
      gs_tensor *term =
          gs_sum_all(g, gs_mul(g, q, gs_log_softmax(g, gs_scale(g, su, 1.0f / s->temperature), 1)));
      loss = loss ? gs_axpby(g, 1.0f, loss, w, term) : gs_scale(g, term, w);
    }
  }
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "swav: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = p;
  return GS_OK;
}

static gs_status swav_after_batch(void *self) {
  swav *s = self;
  if (!s->push) return GS_OK;
  gs_status st = gs_program_run(s->push);
  if (st == GS_OK && ++s->pushes * s->batch == s->queue_len) st = gs_param_fill(s->ready, 1.0f);
  s->pushed = st == GS_OK;
  return st;
}

static gs_status swav_after_step(void *self, const gs_step_info *info) {
  (void)info;
  swav *s = self;
  gs_status st = gs_program_run(s->normalise);
  if (st == GS_OK && !s->pushed) st = swav_after_batch(s);
  s->pushed = 0;
  return st;
}

/* Two global views (crops of 14% and more) and local_crops small ones of at most 14%. */
static gs_status swav_views(const double *hp, int size, gs_aug_recipe *out) {
  static const gs_aug_style style = {.global_crop_min = 0.14f, .local_crop_max = 0.14f};
  *out = gs_aug_recipe_make(&style, size, 2 + (int)hp[HP_LOCAL_CROPS]);
  return GS_OK;
}

static const gs_method_iface swav_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "swav",
    .summary = "SwAV: swapped prediction of Sinkhorn-Knopp cluster assignments over prototypes",
    .hparams = swav_hparams,
    .n_hparams = HP_COUNT,
    .create = swav_create,
    .destroy = swav_destroy,
    .params = swav_params,
    .state = swav_state,
    .build_loss = swav_build_loss,
    .feed = NULL,
    .after_step = swav_after_step,
    .after_batch = swav_after_batch,
    .views = swav_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &swav_iface; }
