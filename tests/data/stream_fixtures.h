/* Helpers of the streamed-folder and image-cache tests: batches taken from a fresh loader (the
 * samples and both views), the bad-image report they collect, and a flat folder with files cut
 * short mid-data. */
#ifndef GESSL_TEST_DATA_STREAM_FIXTURES_H
#define GESSL_TEST_DATA_STREAM_FIXTURES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixtures.h"
#include "gessl/data.h"

enum { B = 20 };

typedef struct taken {
  int64_t samples[40][B];
  float *views;
  size_t per_batch;
} taken;

static int bad_calls;
static char bad_msg[600];
static void on_bad(void *user, const char *msg) {
  (void)user;
  bad_calls++;
  snprintf(bad_msg, sizeof bad_msg, "%s", msg);
}

/* nb batches (view 0 and 1 of each) from a fresh loader, optionally after a seek. */
static gs_status take(const gs_dataset *ds, int threads, int prefetch, int64_t seek_epoch,
                      int64_t seek_idx, int nb, int fatal, taken *t) {
  gs_loader_options o = {0};
  o.batch = B;
  o.threads = threads;
  o.prefetch = prefetch;
  o.seed = 11;
  gs_aug_style byol = {.asymmetric = 1};
  o.recipe = gs_aug_recipe_make(&byol, 16, 2);
  o.bad_images_fatal = fatal;
  o.on_bad_image = on_bad;
  memset(t, 0, sizeof *t);
  gs_loader *l = gs_loader_new(ds, &o);
  CHECKF(l != NULL, "%s", gs_errmsg());
  if (!l) return GS_ERR_INVALID;
  if (seek_epoch >= 0) CHECK(gs_loader_seek(l, seek_epoch, seek_idx) == GS_OK);
  int c = gs_dataset_channels(ds);
  t->per_batch = (size_t)2 * B * c * 16 * 16;
  t->views = calloc((size_t)nb * t->per_batch, sizeof(float));
  gs_status st = GS_OK;
  for (int b = 0; b < nb && st == GS_OK; b++) {
    gs_batch bt;
    if ((st = gs_loader_next(l, &bt)) != GS_OK) break;
    memcpy(t->samples[b], bt.samples, sizeof(int64_t) * (size_t)bt.n);
    memcpy(t->views + b * t->per_batch, bt.views[0], sizeof(float) * t->per_batch / 2);
    memcpy(t->views + b * t->per_batch + t->per_batch / 2, bt.views[1],
           sizeof(float) * t->per_batch / 2);
  }
  gs_loader_free(l);
  return st;
}

/* Indices the statistics at open decode (every n/256-th): a bad file there is refused at open. */
static int sampled_at_open(int64_t i, int64_t n) {
  int64_t m = n < 256 ? n : 256;
  for (int64_t k = 0; k < m; k++)
    if (k * n / m == i) return 1;
  return 0;
}

/* A flat folder of n 8x8 PNGs, `nbad` of them cut short mid-data (a valid header). */
static void make_flat(const char *rel, int n, int nbad, int64_t *bad) {
  fx_mkdir(rel);
  uint8_t px[8 * 8];
  char name[600];
  int made = 0;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 64; k++) px[k] = (uint8_t)(i * 31 + k * 7);
    snprintf(name, sizeof name, "%s/%05d.png", fx_path(rel), i);
    CHECK(gs_png_write(name, px, 8, 8, 1) == GS_OK);
    if (made < nbad && !sampled_at_open(i, n)) {
      FILE *f = fopen(name, "r+b");
      CHECK(f && ftruncate(fileno(f), 45) == 0);
      if (f) fclose(f);
      bad[made++] = i;
    }
  }
}

#endif
