/* Held-out splits of a labelled folder (Fashion-MNIST written as PNG class folders): every class
 * in both parts, the parts disjoint and together the whole folder, the fraction obeyed, the same
 * split for the same seed and another for another seed; a --test-data folder numbered by the
 * bank's class names, and a test class the bank lacks refused by name. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "fashion_folder.h"
#include "fixtures.h"

enum { PER = 20, S = 12 };

/* A fingerprint of each image, to tell which images a part holds. */
static void fingerprints(const gs_dataset *ds, uint64_t *fp, int32_t *lab) {
  int64_t n = gs_dataset_size(ds);
  size_t img = (size_t)gs_dataset_height(ds) * gs_dataset_width(ds) * gs_dataset_channels(ds);
  uint8_t *px = malloc(img);
  for (int64_t i = 0; i < n; i++) {
    gs_dataset_get(ds, i, px, &lab[i]);
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < img; k++) h = (h ^ px[k]) * 1099511628211ull;
    fp[i] = h ^ (uint64_t)lab[i];
  }
  free(px);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static gs_dataset *open_part(const char *spec, gs_split split, float holdout, uint64_t seed) {
  gs_dataset_options o = {0};
  o.image_size = S;
  o.holdout = holdout;
  o.split_seed = seed;
  gs_dataset *ds = gs_dataset_open(spec, split, &o);
  CHECKF(ds != NULL, "%s: %s", spec, gs_errmsg());
  return ds;
}

static void check_split(const char *spec) {
  gs_dataset *all = open_part(spec, GS_SPLIT_TRAIN, -1, 0);
  gs_dataset *tr = open_part(spec, GS_SPLIT_TRAIN, 0, 0);
  gs_dataset *te = open_part(spec, GS_SPLIT_TEST, 0, 0);
  if (!all || !tr || !te) return;
  int64_t n = gs_dataset_size(all), ntr = gs_dataset_size(tr), nte = gs_dataset_size(te);
  CHECKF(n == 10 * PER && ntr == 10 * (PER - PER / 5) && nte == 10 * (PER / 5),
         "sizes all %lld train %lld test %lld", (long long)n, (long long)ntr, (long long)nte);
  CHECK(gs_dataset_holdout(tr) > 0.19f && gs_dataset_holdout(tr) < 0.21f);
  CHECK(gs_dataset_holdout(all) == 0.0f);
  CHECK(gs_dataset_classes(tr) == 10 && gs_dataset_classes(te) == 10);
  CHECK(!strcmp(gs_dataset_class_name(te, 3), "dress"));
  uint64_t *fa = calloc((size_t)n, 8), *fb = calloc((size_t)n, 8);
  int32_t *la = calloc((size_t)n, 4), *lb = calloc((size_t)n, 4);
  fingerprints(tr, fb, lb);
  fingerprints(te, fb + ntr, lb + ntr);
  int per_tr[10] = {0}, per_te[10] = {0};
  for (int64_t i = 0; i < ntr; i++) per_tr[lb[i]]++;
  for (int64_t i = ntr; i < n; i++) per_te[lb[i]]++;
  for (int c = 0; c < 10; c++)
    CHECKF(per_tr[c] == PER - PER / 5 && per_te[c] == PER / 5, "class %d: %d train, %d test", c,
           per_tr[c], per_te[c]);
  /* The first images of the train part are not one class (a --limit samples every class). */
  int first_classes = 0, seen[10] = {0};
  for (int64_t i = 0; i < 20; i++) first_classes += !seen[lb[i]]++;
  CHECKF(first_classes >= 5, "the first 20 train images hold %d classes", first_classes);
  /* Disjoint and together the whole folder. */
  fingerprints(all, fa, la);
  qsort(fa, (size_t)n, 8, cmp_u64);
  qsort(fb, (size_t)n, 8, cmp_u64);
  CHECK(memcmp(fa, fb, (size_t)n * 8) == 0);
  /* Same seed, same split; another seed, another split. */
  gs_dataset *te2 = open_part(spec, GS_SPLIT_TEST, 0, 0),
             *te3 = open_part(spec, GS_SPLIT_TEST, 0, 7);
  if (te2 && te3) {
    uint64_t *f2 = calloc((size_t)nte, 8), *f3 = calloc((size_t)nte, 8),
             *f1 = calloc((size_t)nte, 8);
    fingerprints(te, f1, la);
    fingerprints(te2, f2, la);
    fingerprints(te3, f3, la);
    CHECK(memcmp(f1, f2, (size_t)nte * 8) == 0);
    CHECK(memcmp(f1, f3, (size_t)nte * 8) != 0);
    free(f1);
    free(f2);
    free(f3);
  }
  /* Another fraction. */
  gs_dataset *te4 = open_part(spec, GS_SPLIT_TEST, 0.5f, 0);
  if (te4) CHECK(gs_dataset_size(te4) == 10 * PER / 2);
  gs_dataset_close(te2);
  gs_dataset_close(te3);
  gs_dataset_close(te4);
  free(fa);
  free(fb);
  free(la);
  free(lb);
  gs_dataset_close(all);
  gs_dataset_close(tr);
  gs_dataset_close(te);
}

/* A test folder with a subset of the classes, in another order of names: numbered like the bank. */
static void check_test_data(const char *spec) {
  fx_mkdir("other");
  fx_mkdir("other/bag");
  fx_mkdir("other/dress");
  uint8_t px[S * S] = {0};
  char p[600];
  snprintf(p, sizeof p, "%s", fx_path("other/bag/a.png"));
  CHECK(gs_png_write(p, px, S, S, 1) == GS_OK);
  snprintf(p, sizeof p, "%s", fx_path("other/dress/b.png"));
  CHECK(gs_png_write(p, px, S, S, 1) == GS_OK);
  gs_dataset *bank = open_part(spec, GS_SPLIT_TRAIN, -1, 0);
  if (!bank) return;
  char other[600];
  snprintf(other, sizeof other, "folder:%s", fx_path("other"));
  gs_dataset_options o = {0};
  o.image_size = S;
  o.holdout = -1;
  o.classes_of = bank;
  gs_dataset *te = gs_dataset_open(other, GS_SPLIT_TEST, &o);
  CHECKF(te != NULL, "test data: %s", gs_errmsg());
  if (te) {
    int32_t a, b;
    gs_dataset_get(te, 0, NULL, &a);
    gs_dataset_get(te, 1, NULL, &b);
    /* The bank's classes are its sorted folder names: bag 0, boot 1, coat 2, dress 3, ... */
    CHECKF(a == 0 && b == 3, "labels %d %d, expected 0 (bag) and 3 (dress)", a, b);
    CHECK(gs_dataset_classes(te) == 10 && !strcmp(gs_dataset_class_name(te, 1), "boot"));
    gs_dataset_close(te);
  }
  fx_mkdir("other/zebra");
  snprintf(p, sizeof p, "%s", fx_path("other/zebra/c.png"));
  CHECK(gs_png_write(p, px, S, S, 1) == GS_OK);
  CHECK(gs_dataset_open(other, GS_SPLIT_TEST, &o) == NULL);
  CHECKF(fx_contains(gs_errmsg(), "'zebra'") && fx_contains(gs_errmsg(), "no example"), "%s",
         gs_errmsg());
  gs_dataset_close(bank);
}

int main(void) {
  fx_init();
  CHECK(ff_write_folder(fx_path("fm"), PER, S) == 0);
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path("fm"));
  check_split(spec);
  check_test_data(spec);
  return check_summary();
}
