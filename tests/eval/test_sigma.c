/* Sigma from embeddings with known answers (perfect: about 0, random: about 1 normalised), and
 * measured through a method plugin on a small backbone, which must leave the BN statistics as
 * they were; the backbone-level figure equals sigma of features extracted separately in eval
 * mode. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/eval.h"

static uint64_t rng_state = 99;
static double nrand(void) {
  double u, v;
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  u = (double)(rng_state >> 11) / 9007199254740992.0;
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  v = (double)(rng_state >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void embeddings(void) {
  enum { N = 64, D = 512 };
  float *e = calloc((size_t)2 * N * D, sizeof *e);
  /* Perfect: partners identical, other images orthogonal (one-hot rows, scaled). */
  for (int i = 0; i < N; i++) e[i * D + i] = e[(i + N) * D + i] = 3.0f;
  double raw = -1, norm = -1;
  CHECKF(gs_sigma_from_embed(e, 2 * N, D, 0.1f, &raw, &norm) == GS_OK, "%s", gs_errmsg());
  /* Each view: log(1 + (2N-2) e^-10), tiny. */
  double want = log(1.0 + (2.0 * N - 2.0) * exp(-10.0));
  printf("sigma perfect: raw %.6f norm %.6f (expected raw %.6f)\n", raw, norm, want);
  CHECK(fabs(raw - want) < 1e-9 && norm < 0.002);

  for (int k = 0; k < 2 * N * D; k++) e[k] = (float)nrand();
  CHECKF(gs_sigma_from_embed(e, 2 * N, D, 0.1f, &raw, &norm) == GS_OK, "%s", gs_errmsg());
  printf("sigma random: raw %.4f norm %.4f (log(2N-1) = %.4f)\n", raw, norm, log(2.0 * N - 1));
  CHECK(norm > 0.95 && norm < 1.1);

  /* All views identical: every neighbour as likely as the partner, exactly uniform. */
  for (int k = 0; k < 2 * N * D; k++) e[k] = (float)(k % D == 0);
  CHECK(gs_sigma_from_embed(e, 2 * N, D, 0.1f, &raw, &norm) == GS_OK);
  CHECK(fabs(norm - 1.0) < 1e-9);

  CHECK(gs_sigma_from_embed(e, 7, D, 0.1f, &raw, &norm) == GS_ERR_INVALID);
  CHECK(gs_sigma_from_embed(e, 2 * N, D, 0.0f, &raw, &norm) == GS_ERR_INVALID);
  e[5] = NAN;
  CHECK(gs_sigma_from_embed(e, 2 * N, D, 0.1f, &raw, &norm) == GS_ERR_NUMERIC);
  free(e);
}

/* The backbone figure recomputed here from the same tasks: the loader with sigma's options, the
 * features of views 0 and 1 by gs_eval_forward five images at a time (another batch composition,
 * a zero-padded last batch), then gs_sigma_from_embed. Equal only if the backbone ran in eval mode
 * (training-mode BN would normalise each image by its batch's statistics). */
static double backbone_sigma_by_hand(gs_device *dev, const gs_method_iface *m, gs_model *bb,
                                     const gs_dataset *ds, const gs_sigma_options *so) {
  gs_loader_options lo = {0};
  CHECK(gs_method_views(m, NULL, gs_dataset_height(ds), &lo.recipe) == GS_OK);
  lo.batch = so->task_size;
  lo.threads = so->threads;
  lo.seed = so->seed;
  lo.drop_last = 1;
  gs_loader *loader = gs_loader_new(ds, &lo);
  CHECKF(loader != NULL, "%s", gs_errmsg());
  if (!loader) return NAN;
  int n = so->task_size, c = gs_dataset_channels(ds);
  int64_t d = gs_model_feat_dim(bb);
  float *feat = malloc((size_t)2 * n * (size_t)d * sizeof *feat);
  double sum = 0;
  for (int t = 0; t < so->tasks; t++) {
    gs_batch b;
    CHECK(gs_loader_next(loader, &b) == GS_OK);
    for (int v = 0; v < 2; v++) {
      int vs = lo.recipe.views[v].size;
      CHECKF(gs_eval_forward(dev, bb, b.views[v], n, c, vs, vs, 0, 5,
                             feat + (size_t)v * n * (size_t)d) == GS_OK,
             "%s", gs_errmsg());
    }
    double raw = NAN;
    CHECK(gs_sigma_from_embed(feat, 2 * n, d, 0.1f, &raw, NULL) == GS_OK);
    sum += raw;
  }
  free(feat);
  gs_loader_free(loader);
  return sum / so->tasks;
}

static void through_method(void) {
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, "cpu") : NULL;
  const gs_method_iface *m = rt ? gs_runtime_method(rt, "simclr") : NULL;
  CHECKF(dev && m, "%s", gs_errmsg());
  if (!dev || !m) {
    if (rt) gs_runtime_close(rt);
    return;
  }
  gs_dataset_options dopt = {0};
  dopt.limit = 64;
  gs_dataset *ds = gs_dataset_open("synthetic:16x16x3", GS_SPLIT_TRAIN, &dopt);
  gs_dataset *gray = gs_dataset_open("synthetic:20x20x1", GS_SPLIT_TRAIN, &dopt);
  CHECKF(ds && gray, "%s", gs_errmsg());
  gs_model_config mc = {0};
  mc.arch = "convnet";
  mc.in_channels = 3;
  mc.image_size = 16;
  mc.width = 0.25f;
  mc.seed = 1;
  gs_model *bb = gs_model_new(dev, &mc);
  double *hp = calloc((size_t)m->n_hparams, sizeof *hp);
  for (int k = 0; k < m->n_hparams; k++) {
    hp[k] = m->hparams[k].def;
    if (!strcmp(m->hparams[k].name, "proj_hidden_dim")) hp[k] = 32;
    if (!strcmp(m->hparams[k].name, "proj_output_dim")) hp[k] = 16;
  }
  gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION),
                       .dev = dev,
                       .backbone = bb,
                       .batch = 16,
                       .total_steps = 1,
                       .hp = hp};
  void *self = NULL;
  CHECKF(bb && m->create(&ctx, &self) == GS_OK, "%s", gs_errmsg());
  if (bb && self && ds && gray) {
    const gs_pset *state = gs_model_state(bb);
    gs_param *rm = gs_pset_get(state, 0);
    int64_t c = gs_param_shape(rm).dim[0];
    float *before = malloc((size_t)c * 4), *after = malloc((size_t)c * 4);
    CHECK(gs_param_read(rm, before) == GS_OK);
    gs_sigma_options so = {0};
    so.task_size = 16;
    so.tasks = 3;
    so.seed = 5;
    so.threads = 1;
    gs_sigma_result r1 = {0}, r2 = {0};
    CHECKF(gs_sigma_measure(dev, m, self, bb, ds, &so, &r1) == GS_OK, "%s", gs_errmsg());
    printf("sigma simclr, random init: raw %.4f norm %.4f over %d tasks of %d\n", r1.raw, r1.norm,
           r1.tasks, r1.task_size);
    CHECK(isfinite(r1.raw) && r1.norm > 0.0 && r1.norm < 1.2 && r1.tasks == 3);
    CHECK(gs_param_read(rm, after) == GS_OK);
    CHECK(memcmp(before, after, (size_t)c * 4) == 0);
    double by_hand = backbone_sigma_by_hand(dev, m, bb, ds, &so);
    printf("sigma on the backbone: raw %.6f norm %.4f; recomputed from features %.6f\n",
           r1.backbone_raw, r1.backbone_norm, by_hand);
    CHECK(isfinite(r1.backbone_raw) && r1.backbone_norm > 0.0 && r1.backbone_norm < 1.2);
    CHECKF(fabs(r1.backbone_raw - by_hand) < 1e-4 * fabs(by_hand), "%.9f vs %.9f", r1.backbone_raw,
           by_hand);
    CHECK(fabs(r1.backbone_norm - r1.backbone_raw / log(2.0 * 16 - 1)) < 1e-12);
    /* Not the projector's figure: a separate measurement on other rows. */
    CHECK(r1.backbone_raw != r1.raw);
    /* Eval-mode BN reads the running statistics: moving them moves the backbone figure (and
     * measuring put them back, as checked above). */
    float *moved = malloc((size_t)c * 4);
    for (int64_t k = 0; k < c; k++) moved[k] = before[k] + 0.5f;
    CHECK(gs_param_write(rm, moved) == GS_OK);
    gs_sigma_result r3 = {0};
    CHECKF(gs_sigma_measure(dev, m, self, bb, ds, &so, &r3) == GS_OK, "%s", gs_errmsg());
    CHECKF(r3.backbone_raw != r1.backbone_raw && r3.raw == r1.raw, "%.9f %.9f / %.9f %.9f",
           r3.backbone_raw, r1.backbone_raw, r3.raw, r1.raw);
    CHECK(gs_param_write(rm, before) == GS_OK);
    free(moved);
    /* Same seed, same tasks, same state: the same value. */
    CHECKF(gs_sigma_measure(dev, m, self, bb, ds, &so, &r2) == GS_OK, "%s", gs_errmsg());
    CHECKF(r1.raw == r2.raw && r1.backbone_raw == r2.backbone_raw, "%.9f vs %.9f", r1.raw, r2.raw);
    /* A one-channel data set of another size, converted and resized for the backbone. */
    so.image_size = 16;
    CHECKF(gs_sigma_measure(dev, m, self, bb, gray, &so, &r2) == GS_OK, "%s", gs_errmsg());
    CHECK(isfinite(r2.norm) && isfinite(r2.backbone_norm));
    so.task_size = 100; /* larger than the data set */
    CHECK(gs_sigma_measure(dev, m, self, bb, ds, &so, &r2) == GS_ERR_INVALID);
    free(before);
    free(after);
  }
  if (self) m->destroy(self);
  free(hp);
  gs_model_free(bb);
  gs_dataset_close(ds);
  gs_dataset_close(gray);
  gs_device_close(dev);
  gs_runtime_close(rt);
}

int main(void) {
  embeddings();
  through_method();
  return check_summary();
}
