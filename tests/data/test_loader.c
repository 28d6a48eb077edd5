/* The loader: identical batches whatever the thread count and prefetch depth, each epoch a
 * permutation reshuffled from the seed, drop_last, seek for resume, views equal to
 * gs_augment_sample, recipes per method, and the plain (evaluation) batches. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/data.h"

#define N 100
#define B 16

typedef struct run {
  int64_t nb;
  float *views[3];
  int64_t samples[64][B];
  int32_t labels[64][B];
  int n[64];
} run;

static size_t view_floats(const gs_aug_recipe *r, int v, int c) {
  return (size_t)B * c * r->views[v].size * r->views[v].size;
}

/* Takes `nb` batches from a fresh loader and records everything in *out. */
static void take(const gs_dataset *ds, const gs_loader_options *o, int64_t nb, run *out) {
  gs_loader *l = gs_loader_new(ds, o);
  CHECKF(l != NULL, "%s", gs_errmsg());
  if (!l) return;
  int c = gs_dataset_channels(ds);
  out->nb = nb;
  for (int v = 0; v < o->recipe.n_views; v++)
    out->views[v] = calloc((size_t)nb * view_floats(&o->recipe, v, c), sizeof(float));
  for (int64_t b = 0; b < nb; b++) {
    gs_batch bt;
    CHECK(gs_loader_next(l, &bt) == GS_OK);
    out->n[b] = bt.n;
    memcpy(out->samples[b], bt.samples, sizeof(int64_t) * (size_t)bt.n);
    memcpy(out->labels[b], bt.labels, sizeof(int32_t) * (size_t)bt.n);
    for (int v = 0; v < bt.n_views; v++) {
      size_t per = view_floats(&o->recipe, v, c) / B;
      memcpy(out->views[v] + (size_t)b * view_floats(&o->recipe, v, c), bt.views[v],
             sizeof(float) * per * (size_t)bt.n);
    }
  }
  gs_loader_free(l);
}

static void free_run(run *r) {
  for (int v = 0; v < 3; v++) free(r->views[v]);
}

int main(void) {
  gs_dataset_options dopt = {.limit = N, .seed = 3};
  gs_dataset *ds = gs_dataset_open("synthetic:20x20x3", GS_SPLIT_TRAIN, &dopt);
  CHECKF(ds != NULL, "%s", gs_errmsg());
  if (!ds) return check_summary();
  CHECK(gs_dataset_size(ds) == N && gs_dataset_classes(ds) == 10 && gs_dataset_channels(ds) == 3);

  gs_loader_options o = {.batch = B, .threads = 1, .seed = 42, .drop_last = 0, .prefetch = 2};
  static const gs_aug_style dino = {.asymmetric = 1, .global_crop_min = 0.4f};
  o.recipe = gs_aug_recipe_make(&dino, 16, 3); /* two global views, one small local crop */
  CHECK(o.recipe.n_views == 3 && o.recipe.views[2].size < 16);
  const int64_t bpe = (N + B - 1) / B, nb = 2 * bpe + 3;

  /* Determinism across threads and prefetch depth. */
  run *r1 = calloc(1, sizeof(run)), *r3 = calloc(1, sizeof(run));
  take(ds, &o, nb, r1);
  o.threads = 3;
  o.prefetch = 5;
  take(ds, &o, nb, r3);
  int same = 1;
  for (int v = 0; v < 3; v++)
    same &= memcmp(r1->views[v], r3->views[v], nb * view_floats(&o.recipe, v, 3) * 4) == 0;
  same &= memcmp(r1->samples, r3->samples, sizeof r1->samples) == 0;
  CHECKF(same, "1 thread and 3 threads made different batches");

  /* Each epoch is a permutation, the last batch partial, labels those of the samples. */
  CHECK(r1->n[bpe - 1] == N - (bpe - 1) * B && r1->n[0] == B);
  for (int e = 0; e < 2; e++) {
    int seen[N] = {0}, bad_label = 0;
    for (int64_t b = e * bpe; b < (e + 1) * bpe; b++)
      for (int j = 0; j < r1->n[b]; j++) {
        int64_t s = r1->samples[b][j];
        if (s >= 0 && s < N) seen[s]++;
        int32_t lab;
        gs_dataset_get(ds, s, NULL, &lab);
        bad_label += lab != r1->labels[b][j];
      }
    int perm = 1;
    for (int i = 0; i < N; i++) perm &= seen[i] == 1;
    CHECKF(perm, "epoch %d is not a permutation", e);
    CHECK(bad_label == 0);
  }
  CHECKF(memcmp(r1->samples[0], r1->samples[bpe], sizeof r1->samples[0]) != 0,
         "epochs 0 and 1 have the same order");
  int sorted = 1;
  for (int j = 1; j < B; j++) sorted &= r1->samples[0][j] == r1->samples[0][j - 1] + 1;
  CHECKF(!sorted, "epoch 0 is not shuffled");

  /* The same view through gs_augment_sample. */
  {
    int64_t s = r1->samples[bpe + 1][5]; /* epoch 1 */
    for (int v = 0; v < 3; v++) {
      int sz = o.recipe.views[v].size;
      size_t per = (size_t)3 * sz * sz;
      float *one = malloc(sizeof(float) * per);
      CHECK(gs_augment_sample(ds, s, &o.recipe.views[v], o.seed, 1, v, one) == GS_OK);
      const float *in_batch =
          r1->views[v] + (size_t)(bpe + 1) * view_floats(&o.recipe, v, 3) + 5 * per;
      CHECKF(memcmp(one, in_batch, per * sizeof(float)) == 0, "view %d differs", v);
      free(one);
    }
  }

  /* The two views of one image differ; values are finite and normalised. */
  {
    size_t per = (size_t)3 * 16 * 16;
    CHECK(memcmp(r1->views[0], r1->views[1], per * sizeof(float)) != 0);
    int finite = 1;
    double sum = 0;
    for (size_t i = 0; i < (size_t)bpe * view_floats(&o.recipe, 0, 3); i++) {
      finite &= isfinite(r1->views[0][i]);
      sum += r1->views[0][i];
    }
    CHECK(finite);
    double mean = sum / (double)((size_t)bpe * view_floats(&o.recipe, 0, 3));
    CHECKF(fabs(mean) < 1.0, "normalised mean %g", mean);
  }

  /* Seek: resuming at (1, 2) gives what the uninterrupted run gave; and seeking back works. */
  {
    gs_loader *l = gs_loader_new(ds, &o);
    gs_batch bt;
    CHECK(gs_loader_seek(l, 1, 2) == GS_OK);
    CHECK(gs_loader_next(l, &bt) == GS_OK && bt.epoch == 1 && bt.index == 2);
    CHECK(memcmp(bt.samples, r1->samples[bpe + 2], sizeof(int64_t) * B) == 0);
    CHECK(memcmp(bt.views[0], r1->views[0] + (size_t)(bpe + 2) * view_floats(&o.recipe, 0, 3),
                 view_floats(&o.recipe, 0, 3) * 4) == 0);
    for (int k = 0; k < 3; k++) gs_loader_next(l, &bt);
    CHECK(gs_loader_seek(l, 0, 0) == GS_OK);
    CHECK(gs_loader_next(l, &bt) == GS_OK && bt.epoch == 0 && bt.index == 0);
    CHECK(memcmp(bt.views[1], r1->views[1], view_floats(&o.recipe, 1, 3) * 4) == 0);
    CHECK(gs_loader_seek(l, 0, bpe) != GS_OK);
    CHECK(gs_loader_batches_per_epoch(l) == bpe);
    gs_loader_free(l);
  }

  /* drop_last, and a batch larger than the data set. */
  {
    gs_loader_options d = o;
    d.drop_last = 1;
    gs_loader *l = gs_loader_new(ds, &d);
    CHECK(l && gs_loader_batches_per_epoch(l) == N / B);
    gs_batch bt;
    for (int k = 0; k < N / B + 1; k++) CHECK(gs_loader_next(l, &bt) == GS_OK && bt.n == B);
    CHECK(bt.epoch == 1 && bt.index == 0);
    gs_loader_free(l);
    d.batch = N + 1;
    CHECK(gs_loader_new(ds, &d) == NULL);
  }

  /* A different seed shuffles differently. */
  {
    run *r2 = calloc(1, sizeof(run));
    gs_loader_options s = o;
    s.seed = 43;
    take(ds, &s, 1, r2);
    CHECK(memcmp(r2->samples[0], r1->samples[0], sizeof r1->samples[0]) != 0);
    free_run(r2);
    free(r2);
  }

  /* Recipes: BYOL's style is asymmetric, SimCLR's (the zero style, and NULL) symmetric. */
  static const gs_aug_style byol = {.asymmetric = 1}, zero = {0};
  {
    gs_aug_recipe b = gs_aug_recipe_make(&byol, 32, 2);
    CHECK(b.n_views == 2 && b.views[0].blur_p == 1.0f && b.views[0].solarize_p == 0.0f);
    CHECK(b.views[1].blur_p == 0.1f && b.views[1].solarize_p == 0.2f);
    gs_aug_recipe s = gs_aug_recipe_make(NULL, 32, 2), u = gs_aug_recipe_make(&zero, 32, 2);
    CHECK(memcmp(&s.views[0], &s.views[1], sizeof s.views[0]) == 0);
    CHECK(memcmp(&s, &u, sizeof s) == 0);
    CHECK(s.views[0].size == 32 && s.views[0].flip_p == 0.5f && s.views[0].jitter_p == 0.8f);
  }

  /* One-channel images: jitter touches brightness/contrast only, values stay finite. */
  {
    gs_dataset *g = gs_dataset_open("synthetic:12x12x1", GS_SPLIT_TEST, &dopt);
    CHECK(g && gs_dataset_channels(g) == 1);
    gs_view_config v = gs_aug_recipe_make(&byol, 12, 2).views[1];
    v.jitter_p = 1.0f;
    v.gray_p = 1.0f;
    float out[144];
    int finite = 1;
    for (int i = 0; i < 20; i++) {
      CHECK(gs_augment_sample(g, i, &v, 1, 0, 1, out) == GS_OK);
      for (int k = 0; k < 144; k++) finite &= isfinite(out[k]);
    }
    CHECK(finite);
    gs_loader_options go = {.batch = 8, .threads = 2, .seed = 1};
    gs_loader *l = gs_loader_new(g, &go); /* no recipe: SimCLR's at the image size */
    gs_batch bt;
    CHECK(l && gs_loader_next(l, &bt) == GS_OK && bt.n_views == 2 && bt.n == 8);
    gs_loader_free(l);
    gs_dataset_close(g);
  }

  /* Plain batches are the normalised pixels, NCHW. */
  {
    float mean[3], std[3], x[3 * 20 * 20];
    uint8_t px[20 * 20 * 3];
    int32_t lab;
    gs_dataset_norm(ds, mean, std);
    CHECK(gs_dataset_batch_plain(ds, 7, 1, x, &lab) == GS_OK);
    gs_dataset_get(ds, 7, px, NULL);
    float want = (px[(3 * 20 + 4) * 3 + 2] / 255.0f - mean[2]) / std[2];
    CHECK(fabsf(x[2 * 400 + 3 * 20 + 4] - want) < 1e-5f && lab == 7 % 10);
    CHECK(gs_dataset_batch_plain(ds, N - 1, 2, x, NULL) != GS_OK);
  }

  free_run(r1);
  free_run(r3);
  free(r1);
  free(r3);
  gs_dataset_close(ds);
  return check_summary();
}
