/* Streamed folders: indexed at open, decoded by the loader's workers. PNG and JPEG folders give the
 * same images; batches are identical at any worker count and after a seek, and equal to
 * gs_augment_sample (JPEGs shrunk in the decoder included); a file that fails to decode mid-run is
 * skipped (the same way at any worker count) and reported once, fatal with bad_images_fatal, and
 * the loader stops once over 1% of the folder has failed. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fashion_folder.h"
#include "fixtures.h"
#include "stream_fixtures.h"

static gs_dataset *open_folder(const char *rel, int size, float holdout) {
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path(rel));
  gs_dataset_options o = {0};
  o.image_size = size;
  o.holdout = holdout;
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "%s: %s", rel, gs_errmsg());
  return ds;
}

static void check_png_vs_jpeg(void) {
  gs_dataset *p = open_folder("png", 24, -1), *j = open_folder("jpg", 24, -1);
  if (!p || !j) return;
  CHECK(gs_dataset_size(p) == 300 && gs_dataset_size(j) == 300);
  CHECK(gs_dataset_channels(p) == 3 && gs_dataset_channels(j) == 3);
  CHECK(gs_dataset_height(j) == 24 && gs_dataset_width(j) == 24);
  uint8_t a[24 * 24 * 3], b[24 * 24 * 3];
  double diff = 0;
  for (int64_t i = 0; i < 300; i += 7) {
    int32_t la, lb;
    CHECK(gs_dataset_get(p, i, a, &la) == GS_OK && gs_dataset_get(j, i, b, &lb) == GS_OK);
    CHECK(la == lb);
    for (int k = 0; k < 24 * 24 * 3; k++) diff += fabs((double)a[k] - b[k]);
  }
  diff /= 43.0 * 24 * 24 * 3;
  CHECKF(diff < 6.0, "PNG and JPEG folders differ by %.2f per pixel", diff);
  gs_dataset_close(p);
  gs_dataset_close(j);
}

static void check_determinism(const char *rel) {
  gs_dataset *ds = open_folder(rel, 16, 0);
  if (!ds) return;
  int64_t bpe = gs_dataset_size(ds) / B;
  taken a, b, c;
  CHECK(take(ds, 1, 1, -1, 0, 2 * (int)bpe, 0, &a) == GS_OK);
  CHECK(take(ds, 3, 4, -1, 0, 2 * (int)bpe, 0, &b) == GS_OK);
  CHECKF(memcmp(a.samples, b.samples, sizeof a.samples) == 0, "%s: samples differ", rel);
  CHECKF(memcmp(a.views, b.views, sizeof(float) * 2 * bpe * a.per_batch) == 0,
         "%s: views differ between 1 and 3 workers", rel);
  CHECK(take(ds, 2, 2, 1, 2, 2, 0, &c) == GS_OK); /* resume at epoch 1, batch 2 */
  CHECKF(memcmp(c.views, a.views + (bpe + 2) * a.per_batch, sizeof(float) * 2 * a.per_batch) == 0,
         "%s: a seek does not give the same batches", rel);
  /* The loader's view is gs_augment_sample's. */
  int64_t s = a.samples[bpe + 1][5];
  gs_aug_style byol = {.asymmetric = 1};
  gs_aug_recipe r = gs_aug_recipe_make(&byol, 16, 2);
  int ch = gs_dataset_channels(ds);
  float *one = malloc(sizeof(float) * ch * 16 * 16);
  CHECK(gs_augment_sample(ds, s, &r.views[1], 11, 1, 1, one) == GS_OK);
  const float *want = a.views + (bpe + 1) * a.per_batch + a.per_batch / 2 + (size_t)5 * ch * 256;
  CHECKF(memcmp(one, want, sizeof(float) * ch * 256) == 0, "%s: gs_augment_sample differs", rel);
  free(one);
  free(a.views);
  free(b.views);
  free(c.views);
  gs_dataset_close(ds);
}

static void check_bad_images(void) {
  int64_t bad[8];
  make_flat("bad1", 600, 1, bad);
  gs_dataset *ds = open_folder("bad1", 16, 0);
  if (!ds) return;
  taken a, b;
  bad_calls = 0;
  CHECK(take(ds, 1, 1, -1, 0, 30, 0, &a) == GS_OK);
  CHECKF(bad_calls == 1, "%d reports of one bad file over two epochs", bad_calls);
  CHECKF(fx_contains(bad_msg, "00001.png"), "report: %s", bad_msg);
  CHECK(take(ds, 3, 2, -1, 0, 30, 0, &b) == GS_OK);
  CHECK(memcmp(a.samples, b.samples, sizeof a.samples) == 0);
  CHECK(memcmp(a.views, b.views, sizeof(float) * 30 * a.per_batch) == 0);
  int seen = 0;
  for (int k = 0; k < 30; k++)
    for (int j = 0; j < B; j++) seen += a.samples[k][j] == bad[0];
  CHECKF(seen == 0, "the bad image was used %d times", seen);
  free(a.views);
  free(b.views);
  /* --bad-images fail: the first one stops the loader, naming it. */
  gs_status st = take(ds, 2, 2, -1, 0, 30, 1, &a);
  CHECK(st != GS_OK);
  CHECKF(fx_contains(gs_errmsg(), "00001.png") && fx_contains(gs_errmsg(), "--bad-images"), "%s",
         gs_errmsg());
  free(a.views);
  gs_dataset_close(ds);
  /* Seven of 600 (over 1%): the loader stops. */
  make_flat("bad7", 600, 7, bad);
  ds = open_folder("bad7", 16, 0);
  if (!ds) return;
  st = take(ds, 2, 2, -1, 0, 30, 0, &a);
  CHECK(st != GS_OK);
  CHECKF(fx_contains(gs_errmsg(), "over 1%"), "%s", gs_errmsg());
  free(a.views);
  gs_dataset_close(ds);
}

int main(void) {
  fx_init();
  CHECK(ff_write_folder_ex(fx_path("png"), 30, 40, 30, 3, 0) == 0);
  CHECK(ff_write_folder_ex(fx_path("jpg"), 30, 40, 30, 3, 1) == 0);
  CHECK(ff_write_folder_ex(fx_path("bigjpg"), 10, 96, 72, 3, 1) == 0);
  check_png_vs_jpeg();
  check_determinism("png");
  check_determinism("jpg");
  check_determinism("bigjpg");
  check_bad_images();
  return check_summary();
}
