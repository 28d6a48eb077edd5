/* DINO (Caron et al. 2021): self-distillation without labels. A student (backbone, head) matches
 * the output distribution of a teacher whose weights are an exponential moving average of the
 * student's; the teacher's outputs are centred and sharpened, which is what prevents collapse.
 *
 * Head: an MLP (Linear-BN-ReLU, Linear-BN-ReLU, Linear to the bottleneck), L2 normalisation, then
 * a weight-normalised Linear without bias to the prototypes (DINO's norm_last_layer: every
 * prototype row has unit norm). With s_v the student outputs of view v and t_g the teacher's of
 * the global views g in {0, 1}:
 *   P_g = softmax((t_g - c) / tau_t)  (detached),   log Q_v = log_softmax(s_v / tau_s)
 *   loss = mean over the pairs (g, v != g) of mean_n -sum_k P_g[n,k] log Q_v[n,k].
 * Views beyond the first two (multi-crop's local crops, local_crops of them: the table's
 * views member asks the host for 2 + local_crops views) go through the student only; views of one
 * size are batched together. tau_t rises linearly from warmup_teacher_temp to teacher_temp over
 * the first warmup_teacher_temp_frac of the run, fed each step as the input "dino.teacher_temp".
 * The centre c follows the mean teacher output: the loss program saves the batch mean with an
 * assign sink, and after each optimizer step one compiled program does
 *   c := m_c c + (1 - m_c) batch_mean  and  teacher := m teacher + (1 - m) student
 * (m fed, cosine ramp to 1), so running the loss more than once per step (GeSSL) moves neither.
 * Left to the training loop's options rather than done here: the reference's frozen prototypes
 * during the first epoch and its gradient clipping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/gessl.h"

enum {
  HP_PROJ_HIDDEN,
  HP_BOTTLENECK,
  HP_PROTOTYPES,
  HP_STUDENT_TEMP,
  HP_TEACHER_TEMP,
  HP_WARMUP_TEACHER_TEMP,
  HP_WARMUP_FRAC,
  HP_CENTER_MOMENTUM,
  HP_MOMENTUM,
  HP_MOMENTUM_END,
  HP_LOCAL_CROPS,
  HP_COUNT
};

static const gs_hparam_decl dino_hparams[HP_COUNT] = {
    {"proj_hidden_dim", GS_HP_INT, 2048, 1, 65536, NULL,
     "head MLP hidden width (two Linear-BN-ReLU layers)"},
    {"bottleneck_dim", GS_HP_INT, 256, 1, 65536, NULL,
     "head MLP output width, L2-normalised before the prototypes"},
    {"num_prototypes", GS_HP_INT, 4096, 1, 1 << 20, NULL,
     "output dimension K (weight-normalised prototypes)"},
    {"student_temp", GS_HP_FLOAT, 0.1, 1e-3, 10.0, NULL, "student softmax temperature"},
    {"teacher_temp", GS_HP_FLOAT, 0.07, 1e-3, 10.0, NULL,
     "teacher softmax temperature after the warm-up"},
    {"warmup_teacher_temp", GS_HP_FLOAT, 0.04, 1e-3, 10.0, NULL,
     "teacher softmax temperature at the first step"},
    {"warmup_teacher_temp_frac", GS_HP_FLOAT, 0.1, 0.0, 1.0, NULL,
     "fraction of the run over which the teacher temperature rises linearly"},
    {"center_momentum", GS_HP_FLOAT, 0.9, 0.0, 1.0, NULL, "EMA momentum of the teacher centre"},
    {"momentum", GS_HP_FLOAT, 0.996, 0.0, 1.0, NULL,
     "teacher EMA momentum at the first step (cosine ramp to momentum_end)"},
    {"momentum_end", GS_HP_FLOAT, 1.0, 0.0, 1.0, NULL, "teacher EMA momentum at the last step"},
    {"local_crops", GS_HP_INT, 0, 0, 6, NULL,
     "multi-crop: small local views per image, seen by the student only"},
};

#define DINO_M_INPUT "dino.m"
#define DINO_TEMP_INPUT "dino.teacher_temp"

/* The head of one network: the MLP and the prototypes. */
typedef struct dino_head {
  gs_mlp *mlp;
  gs_param *last;  /* [K, bottleneck], rows normalised in the graph */
  gs_pset *params; /* the MLP's params then `last` */
} dino_head;

typedef struct dino {
  gs_device *dev;
  gs_model *backbone, *teacher;
  dino_head student_head, teacher_head;
  gs_param *center;       /* [1, K] */
  gs_param *batch_center; /* [1, K] mean teacher output of the last batch */
  gs_program *after;      /* teacher EMA and centre update */
  double hp[HP_COUNT];
  int64_t total_steps;
} dino;

static void head_free(dino_head *h) {
  gs_pset_free(h->params);
  if (h->last) gs_param_free(h->last);
  gs_mlp_free(h->mlp);
}

/* prefix "head" -> head.0.weight ... (MLP), head.last_layer.weight [K, bottleneck], initialised as
 * PyTorch's Linear, U(-1/sqrt(in), 1/sqrt(in)). */
static gs_status head_new(dino_head *h, gs_device *dev, const char *prefix, const int64_t *dims,
                          int64_t k, uint64_t seed) {
  h->mlp = gs_mlp_new(dev, prefix, dims, 4, 0, 0, seed);
  if (!h->mlp) return gs_fail_context(GS_ERR_INVALID, "dino: %s", prefix);
  char name[128];
  snprintf(name, sizeof name, "%s.last_layer.weight", prefix);
  int64_t in = dims[3];
  h->last = gs_param_new(dev, name, GS_SHAPE(k, in), 1);
  h->params = gs_pset_new();
  if (!h->last || !h->params) return gs_fail_context(GS_ERR_NOMEM, "dino: %s", name);
  gs_status st = gs_pset_extend(h->params, gs_mlp_params(h->mlp));
  if (st == GS_OK) st = gs_pset_add(h->params, h->last);
  if (st == GS_OK) st = gs_param_init_uniform(h->last, 1.0 / sqrt((double)in), seed ^ 0xd1a0ull);
  return st;
}

/* [R, in] -> [R, K] logits (before the temperature); *bottleneck gets the MLP output. */
static gs_tensor *head_forward(dino_head *h, gs_graph *g, gs_tensor *x, gs_tensor **bottleneck) {
  gs_tensor *b = gs_mlp_forward(h->mlp, g, x, 1);
  if (bottleneck) *bottleneck = b;
  gs_tensor *w = gs_l2_normalize(g, gs_param_ref(g, h->last), 1, 1e-12f);
  return gs_matmul(g, gs_l2_normalize(g, b, 1, 1e-12f), w, 0, 1);
}

static void dino_destroy(void *self) {
  dino *d = self;
  if (!d) return;
  if (d->after) gs_program_free(d->after);
  if (d->batch_center) gs_param_free(d->batch_center);
  if (d->center) gs_param_free(d->center);
  head_free(&d->teacher_head);
  head_free(&d->student_head);
  gs_model_free(d->teacher);
  free(d);
}

static gs_status build_after(dino *d) {
  gs_graph *g = gs_graph_new();
  if (!g) return gs_fail(GS_ERR_NOMEM, "dino: out of memory");
  gs_tensor *mt = gs_input(g, DINO_M_INPUT, GS_F32, GS_SHAPE(1));
  gs_ema_update_set(g, gs_model_params(d->teacher), gs_model_params(d->backbone), mt);
  gs_ema_update_set(g, d->teacher_head.params, d->student_head.params, mt);
  gs_tensor *mc = gs_fill(g, GS_SHAPE(1), (float)d->hp[HP_CENTER_MOMENTUM]);
  gs_ema_update(g, d->center, gs_param_ref(g, d->batch_center), mc);
  if (gs_graph_status(g) != GS_OK) {
    gs_status st = gs_fail(gs_graph_status(g), "dino: after-step update: %s", gs_graph_error(g));
    gs_graph_free(g);
    return st;
  }
  d->after = gs_compile(d->dev, g, NULL, 0);
  gs_graph_free(g);
  return d->after ? GS_OK
                  : gs_fail_context(GS_ERR_INVALID, "dino: compiling the after-step update");
}

static gs_status dino_create(const gs_method_ctx *ctx, void **self) {
  dino *d = calloc(1, sizeof *d);
  if (!d) return gs_fail(GS_ERR_NOMEM, "dino: out of memory");
  d->dev = ctx->dev;
  d->backbone = ctx->backbone;
  d->total_steps = ctx->total_steps;
  memcpy(d->hp, ctx->hp, sizeof d->hp);
  int64_t hid = (int64_t)d->hp[HP_PROJ_HIDDEN], k = (int64_t)d->hp[HP_PROTOTYPES];
  int64_t dims[4] = {gs_model_feat_dim(ctx->backbone), hid, hid, (int64_t)d->hp[HP_BOTTLENECK]};
  gs_status st = head_new(&d->student_head, ctx->dev, "head", dims, k, ctx->seed ^ 0xd1a01ull);
  if (st == GS_OK) {
    d->teacher = gs_model_clone(ctx->backbone, "teacher.");
    if (!d->teacher) st = gs_fail_context(GS_ERR_INVALID, "dino: teacher backbone");
  }
  if (st == GS_OK) st = head_new(&d->teacher_head, ctx->dev, "teacher.head", dims, k, 0);
  if (st == GS_OK) st = gs_pset_copy(d->teacher_head.params, d->student_head.params);
  if (st == GS_OK)
    st = gs_pset_copy(gs_mlp_state(d->teacher_head.mlp), gs_mlp_state(d->student_head.mlp));
  if (st == GS_OK) {
    d->center = gs_param_new(ctx->dev, "dino.center", GS_SHAPE(1, k), 0);
    d->batch_center = gs_param_new(ctx->dev, "dino.batch_center", GS_SHAPE(1, k), 0);
    if (!d->center || !d->batch_center) st = gs_fail_context(GS_ERR_NOMEM, "dino: centre");
  }
  if (st == GS_OK) st = build_after(d);
  if (st != GS_OK) {
    dino_destroy(d);
    return st;
  }
  *self = d;
  return GS_OK;
}

static gs_status dino_params(void *self, gs_pset *out) {
  return gs_pset_extend(out, ((dino *)self)->student_head.params);
}

static gs_status dino_state(void *self, gs_pset *out) {
  dino *d = self;
  const gs_pset *sets[] = {gs_mlp_state(d->student_head.mlp), gs_model_params(d->teacher),
                           gs_model_state(d->teacher), d->teacher_head.params,
                           gs_mlp_state(d->teacher_head.mlp)};
  gs_status st = GS_OK;
  for (size_t k = 0; k < sizeof sets / sizeof *sets && st == GS_OK; k++)
    st = gs_pset_extend(out, sets[k]);
  if (st == GS_OK) st = gs_pset_add(out, d->center);
  return st;
}

enum { MAX_VIEWS = 16 };

static gs_status dino_build_loss(void *self, gs_graph *g, gs_tensor *const *views, int n_views,
                                 gs_method_out *out) {
  dino *d = self;
  int want = 2 + (int)d->hp[HP_LOCAL_CROPS];
  if (n_views < want || n_views > MAX_VIEWS)
    return gs_fail(GS_ERR_INVALID,
                   "dino: local_crops=%d needs %d views (at most %d), got %d (a host that does "
                   "not ask the views member gives 2)",
                   want - 2, want, MAX_VIEWS, n_views);
  int64_t n = gs_tensor_dim(views[0], 0);
  float inv_ts = 1.0f / (float)d->hp[HP_STUDENT_TEMP];

  /* Teacher on the two global views. */
  gs_tensor *x = gs_concat(g, views, 2, 0);
  gs_tensor *t = head_forward(&d->teacher_head, g, gs_model_forward(d->teacher, g, x, 1), NULL);
  t = gs_detach(g, t);
  gs_tensor *temp = gs_input(g, DINO_TEMP_INPUT, GS_F32, GS_SHAPE(1));
  gs_tensor *centred = gs_sub(g, t, gs_param_ref(g, d->center));
  gs_tensor *p = gs_softmax(g, gs_div(g, centred, temp), 1);
  int zero = 0;
  gs_tensor *batch_mean = gs_mean(g, t, &zero, 1, 1);

  /* Student on every view: the global pair as one batch, then each run of same-sized views. */
  gs_tensor *logq[MAX_VIEWS] = {0};
  gs_tensor *bottleneck = NULL;
  gs_tensor *s =
      head_forward(&d->student_head, g, gs_model_forward(d->backbone, g, x, 1), &bottleneck);
  gs_tensor *ls = gs_log_softmax(g, gs_scale(g, s, inv_ts), 1);
  logq[0] = gs_slice(g, ls, 0, 0, n);
  logq[1] = gs_slice(g, ls, 0, n, n);
  for (int v = 2; v < n_views;) {
    int e = v + 1;
    gs_shape sv = gs_tensor_shape(views[v]), se;
    while (e < n_views && (se = gs_tensor_shape(views[e]), gs_shape_eq(&se, &sv))) e++;
    gs_tensor *xl = gs_concat(g, views + v, e - v, 0);
    gs_tensor *sl =
        head_forward(&d->student_head, g, gs_model_forward(d->backbone, g, xl, 1), NULL);
    gs_tensor *lsl = gs_log_softmax(g, gs_scale(g, sl, inv_ts), 1);
    for (int j = v; j < e; j++) logq[j] = gs_slice(g, lsl, 0, (int64_t)(j - v) * n, n);
    v = e;
  }

  gs_tensor *total = NULL;
  int pairs = 0;
  for (int gv = 0; gv < 2; gv++) {
    gs_tensor *pg = gs_slice(g, p, 0, (int64_t)gv * n, n);
    for (int v = 0; v < n_views; v++) {
      if (v == gv) continue;
      gs_tensor *term = gs_sum_all(g, gs_mul(g, pg, logq[v]));
      total = total ? gs_add(g, total, term) : term;
      pairs++;
    }
  }
  gs_tensor *loss = gs_scale(g, total, -1.0f / (float)((int64_t)pairs * n));
  /* Data-parallel: the centre follows the global batch's mean (the ranks' means averaged). */
  gs_assign(g, d->batch_center, gs_all_reduce(g, batch_mean, 1));
  if (gs_graph_status(g) != GS_OK)
    return gs_fail(gs_graph_status(g), "dino: %s", gs_graph_error(g));
  out->loss = loss;
  out->embed = bottleneck;
  return GS_OK;
}

/* Linear warm-up of the teacher temperature over the first fraction of the run. */
static float teacher_temp(const dino *d, int64_t step, int64_t total) {
  double t0 = d->hp[HP_WARMUP_TEACHER_TEMP], t1 = d->hp[HP_TEACHER_TEMP];
  double warm = d->hp[HP_WARMUP_FRAC] * (double)total;
  if (warm <= 0.0 || (double)step >= warm) return (float)t1;
  return (float)(t0 + (t1 - t0) * ((double)step / warm));
}

static gs_status dino_feed(void *self, gs_program *prog, const gs_step_info *info) {
  dino *d = self;
  if (!gs_program_has_input(prog, DINO_TEMP_INPUT)) return GS_OK;
  int64_t total = info->total > 0 ? info->total : d->total_steps;
  float temp = teacher_temp(d, info->step, total);
  return gs_program_feed_name(prog, DINO_TEMP_INPUT, &temp);
}

static gs_status dino_after_step(void *self, const gs_step_info *info) {
  dino *d = self;
  int64_t total = info->total > 0 ? info->total : d->total_steps;
  float mt = gs_cosine_ramp(info->step - 1, total, (float)d->hp[HP_MOMENTUM],
                            (float)d->hp[HP_MOMENTUM_END]);
  gs_status st = gs_program_feed_name(d->after, DINO_M_INPUT, &mt);
  if (st == GS_OK) st = gs_program_run(d->after);
  return st == GS_OK ? GS_OK : gs_fail_context(st, "dino: teacher and centre update");
}

/* Two global views (BYOL's asymmetric pair, crops of 40% and more) and local_crops small ones. */
static gs_status dino_views(const double *hp, int size, gs_aug_recipe *out) {
  static const gs_aug_style style = {
      .asymmetric = 1, .global_crop_min = 0.4f, .local_crop_max = 0.4f};
  *out = gs_aug_recipe_make(&style, size, 2 + (int)hp[HP_LOCAL_CROPS]);
  return GS_OK;
}

static const gs_method_iface dino_iface = {
    .abi_version = GS_METHOD_ABI_VERSION,
    .struct_size = sizeof(gs_method_iface),
    .name = "dino",
    .summary = "DINO: student matches a centred, sharpened EMA teacher over prototypes",
    .hparams = dino_hparams,
    .n_hparams = HP_COUNT,
    .create = dino_create,
    .destroy = dino_destroy,
    .params = dino_params,
    .state = dino_state,
    .build_loss = dino_build_loss,
    .feed = dino_feed,
    .after_step = dino_after_step,
    .views = dino_views,
};

GS_API const gs_method_iface *gessl_method_entry(void) { return &dino_iface; }
