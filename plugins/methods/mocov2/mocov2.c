/* MoCo v2 (Chen et al. 2020, after He et al. 2019): a query encoder (backbone, MLP projector)
 * learns to pick the key of its own image, made by a momentum encoder, among the keys of earlier
 * batches kept in a queue.
 *
 * With q the L2-normalised query projections, k the momentum encoder's (detached) for the other
 * view, and Q [K, D] the queue,
 *   loss = mean_i -log( exp(q_i.k_i/t) / (exp(q_i.k_i/t) + sum_j exp(q_i.Q_j/t)) ).
 * Symmetric (default): both views serve as queries against the other view's keys and the mean runs
 * over 2N rows, and both views' keys enter the queue; otherwise view 0 queries view 1's keys. The
 * projector has a BN hidden layer (the "MoCo v2+" head common on CIFAR); without shuffling BN
 * across devices the momentum encoder sees BN statistics of the whole batch.
 *
 * Device-side state and when it changes:
 *   - the loss program saves the batch's keys into `mocov2.keys` (an assign sink);
 *   - after each optimizer step one compiled program does the momentum update (m fed, cosine
 *     0.99 -> 1) and another pushes the saved keys to the front of the queue, dropping the
 *     oldest: Q := concat(keys, Q[0 : K - M]). So the queue holds keys of the encoder as it was.
 *     A meta-optimizer that takes several batches per step pushes each batch's keys after its
 *     passes (after_batch), so every batch reaches the queue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

enum {
  HP_TEMPERATURE,
  HP_QUEUE,
  HP_PROJ_HIDDEN,
  HP_PROJ_OUT,
  HP_MOMENTUM,
  HP_MOMENTUM_END,
  HP_SYMMETRIC,
  HP_COUNT
};

static const gs_hparam_decl mocov2_hparams[HP_COUNT] = {
    {"temperature", GS_HP_FLOAT, 0.2, 1e-3, 10.0, NULL, "softmax temperature of InfoNCE"},
    {"queue_size", GS_HP_INT, 4096, 1, 1 << 22, NULL,
     "negative keys kept (at least the keys of one batch: N, 2N when symmetric)"},
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL, "projector hidden width (Linear-BN-ReLU)"},
    {"proj_output_dim", GS_HP_INT, 128, 1, 65536, NULL, "projector output width (key size)"},
    {"momentum", GS_HP_FLOAT, 0.99, 0.0, 1.0, NULL,
     "momentum encoder EMA at the first step (cosine ramp to momentum_end)"},
    {"momentum_end", GS_HP_FLOAT, 1.0, 0.0, 1.0, NULL, "momentum encoder EMA at the last step"},
    {"symmetric", GS_HP_BOOL, 1, 0, 1, NULL,
     "both views are queries (loss averaged over 2N), both views' keys are queued"},
};

#define MOCO_M_INPUT "mocov2.m"

typedef struct mocov2 {
  gs_device *dev;
  gs_model *backbone, *key_net;
  gs_mlp *projector, *key_projector;
  gs_param *queue;   /* [K, D] L2-normalised keys, newest first */
  gs_param *keys;    /* [M, D] the keys of the last batch the loss ran on */
  gs_program *after; /* momentum update of the key encoder */
  gs_program *push;  /* the saved keys into the queue */
  int pushed;        /* after_batch pushed since the last after_step */
  float temperature, m0, m1;
  int symmetric;
  int64_t batch, total_steps;
} mocov2;

static void mocov2_destroy(void *self) {
  mocov2 *m = self;
  if (!m) return;
  if (m->after) gs_program_free(m->after);
  if (m->push) gs_program_free(m->push);
  if (m->keys) gs_param_free(m->keys);
  if (m->queue) gs_param_free(m->queue);
  gs_mlp_free(m->key_projector);
  gs_mlp_free(m->projector);
  gs_model_free(m->key_net);
  free(m);
}

/* The queue starts as random unit vectors (as the reference implementation), so the first
 * batches have negatives before any key was pushed. */
static gs_status init_queue(mocov2 *m, int64_t k, int64_t d, uint64_t seed) {
  float *q = malloc((size_t)(k * d) * sizeof *q);
  if (!q)
    return gs_fail(GS_ERR_NOMEM, "mocov2: out of memory for a %lld x %lld queue", (long long)k,
                   (long long)d);
  gs_status st = gs_param_init_normal(m->queue, 1.0, seed);
  if (st == GS_OK) st = gs_param_read(m->queue, q);
  for (int64_t i = 0; i < k && st == GS_OK; i++) {
    double n2 = 0.0;
    for (int64_t j = 0; j < d; j++) n2 += (double)q[i * d + j] * q[i * d + j];
    float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
    for (int64_t j = 0; j < d; j++) q[i * d + j] *= inv;
  }
  if (st == GS_OK) st = gs_param_write(m->queue, q);
  free(q);
  return st;
}

static gs_status compile_hook(mocov2 *m, gs_graph *g, gs_program **out, const char *what) {
  if (gs_graph_status(g) != GS_OK) {
    gs_status st = gs_fail(gs_graph_status(g), "mocov2: %s: %s", what, gs_graph_error(g));
    gs_graph_free(g);
    return st;
  }
  *out = gs_compile(m->dev, g, NULL, 0);
  gs_graph_free(g);
  return *out ? GS_OK : gs_fail_context(GS_ERR_INVALID, "mocov2: compiling the %s", what);
}

/* The hooks' programs: the momentum update of the key encoder, and the queue push. */
static gs_status build_after(mocov2 *m, int64_t k, int64_t rows) {
  gs_graph *g = gs_graph_new();
  if (!g) return gs_fail(GS_ERR_NOMEM, "mocov2: out of memory");
  gs_tensor *mt = gs_input(g, MOCO_M_INPUT, GS_F32, GS_SHAPE(1));
  gs_ema_update_set(g, gs_model_params(m->key_net), gs_model_params(m->backbone), mt);
  gs_ema_update_set(g, gs_mlp_params(m->key_projector), gs_mlp_params(m->projector), mt);
  gs_status st = compile_hook(m, g, &m->after, "momentum update");
  if (st != GS_OK) return st;
  if (!(g = gs_graph_new())) return gs_fail(GS_ERR_NOMEM, "mocov2: out of memory");
  gs_tensor *keys = gs_param_ref(g, m->keys), *next = keys;
  if (k > rows) {
    gs_tensor *parts[2] = {keys, gs_slice(g, gs_param_ref(g, m->queue), 0, 0, k - rows)};
    next = gs_concat(g, parts, 2, 0);
  }
  gs_assign(g, m->queue, next);
  return compile_hook(m, g, &m->push, "queue push");
}

static gs_status mocov2_create(const gs_method_ctx *ctx, void **self) {
  mocov2 *m = calloc(1, sizeof *m);
  if (!m) return gs_fail(GS_ERR_NOMEM, "mocov2: out of memory");
  m->dev = ctx->dev;
  m->backbone = ctx->backbone;
  m->temperature = (float)ctx->hp[HP_TEMPERATURE];
  m->m0 = (float)ctx->hp[HP_MOMENTUM];
  m->m1 = (float)ctx->hp[HP_MOMENTUM_END];
  m->symmetric = ctx->hp[HP_SYMMETRIC] != 0.0;
  m->batch = ctx->batch;
  m->total_steps = ctx->total_steps;
  int64_t k = (int64_t)ctx->hp[HP_QUEUE], d = (int64_t)ctx->hp[HP_PROJ_OUT];
  /* Data-parallel: every rank queues the keys of the whole global batch (gathered), so the ranks'
   * queues stay equal. */
  int64_t rows = (m->symmetric ? 2 * ctx->batch : ctx->batch) * gs_world_batch_ranks();
  if (k < rows) {
    free(m);
    return gs_fail(GS_ERR_INVALID,
                   "mocov2: queue_size %lld is smaller than the %lld keys of one batch",
                   (long long)k, (long long)rows);
  }
  int64_t proj[3] = {gs_model_feat_dim(ctx->backbone), (int64_t)ctx->hp[HP_PROJ_HIDDEN], d};
  gs_status st = GS_OK;
  m->projector = gs_mlp_new(ctx->dev, "projector", proj, 3, 0, 0, ctx->seed ^ 0x30c02ull);
  if (!m->projector) st = gs_fail_context(GS_ERR_INVALID, "mocov2: projector");
  if (st == GS_OK) {
    m->key_net = gs_model_clone(ctx->backbone, "momentum.");
    if (!m->key_net) st = gs_fail_context(GS_ERR_INVALID, "mocov2: momentum backbone");
  }
  if (st == GS_OK) {
    m->key_projector = gs_mlp_new(ctx->dev, "momentum.projector", proj, 3, 0, 0, 0);
    if (!m->key_projector) st = gs_fail_context(GS_ERR_INVALID, "mocov2: momentum projector");
  }
  if (st == GS_OK) st = gs_pset_copy(gs_mlp_params(m->key_projector), gs_mlp_params(m->projector));
  if (st == GS_OK) st = gs_pset_copy(gs_mlp_state(m->key_projector), gs_mlp_state(m->projector));
  if (st == GS_OK) {
    m->queue = gs_param_new(ctx->dev, "mocov2.queue", GS_SHAPE(k, d), 0);
    m->keys = gs_param_new(ctx->dev, "mocov2.keys", GS_SHAPE(rows, d), 0);
    if (!m->queue || !m->keys) st = gs_fail_context(GS_ERR_NOMEM, "mocov2: queue");
  }
  if (st == GS_OK) st = init_queue(m, k, d, ctx->seed ^ 0x30c03ull);
  if (st == GS_OK) st = build_after(m, k, rows);
  if (st != GS_OK) {
    mocov2_destroy(m);
    return st;
  }
  *self = m;
  return GS_OK;
}

static gs_status mocov2_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, gs_mlp_params(((mocov2 *)self)->projector));
}

static gs_status mocov2_state(void *self, gs_pset *out) {
  mocov2 *m = self;
  const gs_pset *sets[] = {gs_mlp_state(m->projector), gs_model_params(m->key_net),
                           gs_model_state(m->key_net), gs_mlp_params(m->key_projector),
                           gs_mlp_state(m->key_projector)};
  gs_status st = GS_OK;
  for (size_t k = 0; k < sizeof sets / sizeof *sets && st == GS_OK; k++)
    st = gs_pset_extend(out, sets[k]);
  if (st == GS_OK) st = gs_pset_add(out, m->queue);
  return st;
}

static gs_status mocov2_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                   gs_method_out *out) {
  mocov2 *m = self;
  if (n_views < 2) return gs_fail(GS_ERR_INVALID, "mocov2: needs 2 views, got %d", n_views);
  int64_t n = gs_tensor_dim(views[0], 0);
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *z = gs_mlp_forward(m->projector, g, gs_model_forward(m->backbone, g, x, 1), 1);
  gs_tensor *kz = gs_mlp_forward(m->key_projector, g, gs_model_forward(m->key_net, g, x, 1), 1);
  gs_tensor *q = gs_l2_normalize(g, z, 1, 1e-12f);
  gs_tensor *k = gs_l2_normalize(g, gs_detach(g, kz), 1, 1e-12f);
  gs_tensor *kq; /* per query row, the key of the same image from the other view */
  if (m->symmetric) {
    gs_tensor *halves[2] = {gs_slice(g, k, 0, n, n), gs_slice(g, k, 0, 0, n)};
    kq = gs_concat(g, halves, 2, 0);
  } else {
    q = gs_slice(g, q, 0, 0, n);
    kq = gs_slice(g, k, 0, n, n);
  }
  int one = 1;
  gs_tensor *pos = gs_sum(g, gs_mul(g, q, kq), &one, 1, 1);          /* [R, 1] */
  gs_tensor *neg = gs_matmul(g, q, gs_param_ref(g, m->queue), 0, 1); /* [R, K] */
  gs_tensor *parts[2] = {pos, neg};
  gs_tensor *logits = gs_scale(g, gs_concat(g, parts, 2, 1), 1.0f / m->temperature);
  gs_tensor *logp_pos = gs_slice(g, gs_log_softmax(g, logits, 1), 1, 0, 1);
  gs_tensor *loss = gs_neg(g, gs_mean_all(g, logp_pos));
  /* Only a batch of the size the queue push was built for can be queued. */
  if (n == m->batch)
    gs_assign(g, m->keys, gs_all_gather(g, m->symmetric ? k : kq, m->symmetric ? 2 : 1));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "mocov2: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = z;
  return GS_OK;
}

static gs_status mocov2_after_batch(void *self) {
  mocov2 *m = self;
  gs_status st = gs_program_run(m->push);
  m->pushed = st == GS_OK;
  return st == GS_OK ? GS_OK : gs_fail_context(st, "mocov2: queue push");
}

static gs_status mocov2_after_step(void *self, const gs_step_info *info) {
  mocov2 *m = self;
  int64_t total = info->total > 0 ? info->total : m->total_steps;
  float mt = gs_cosine_ramp(info->step - 1, total, m->m0, m->m1);
  gs_status st = gs_program_feed_name(m->after, MOCO_M_INPUT, &mt);
  if (st == GS_OK) st = gs_program_run(m->after);
  if (st != GS_OK) return gs_fail_context(st, "mocov2: momentum update");
  /* The keys go into the queue after the momentum update, as they always have. */
  st = m->pushed ? GS_OK : mocov2_after_batch(m);
  m->pushed = 0;
  return st;
}

/* MoCo v2: SimCLR's recipe with blur on every view. */
static gs_status mocov2_views(const double *hp, int size, gs_aug_recipe *out) {
  (void)hp;
  static const gs_aug_style style = {.blur = 1};
  *out = gs_aug_recipe_make(&style, size, 2);
  return GS_OK;
}

static const gs_method_iface mocov2_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "mocov2",
    .summary = "MoCo v2: InfoNCE against a momentum encoder's keys and a queue of negatives",
    .hparams = mocov2_hparams,
    .n_hparams = HP_COUNT,
    .create = mocov2_create,
    .destroy = mocov2_destroy,
    .params = mocov2_params,
    .state = mocov2_state,
    .build_loss = mocov2_build_loss,
    .feed = NULL,
    .after_step = mocov2_after_step,
    .after_batch = mocov2_after_batch,
    .views = mocov2_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &mocov2_iface; }
