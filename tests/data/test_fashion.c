/* The packaged Fashion-MNIST (Debian's dataset-fashion-mnist) opens under its short name with
 * both splits. The package is part of the set-up, so its absence is a failure, not a skip. */
#include "check.h"
#include "gessl/data.h"

int main(void) {
  gs_dataset *tr = gs_dataset_open("fashion-mnist", GS_SPLIT_TRAIN, NULL);
  CHECKF(tr != NULL, "%s", gs_errmsg());
  gs_dataset *te = gs_dataset_open("fashion-mnist", GS_SPLIT_TEST, NULL);
  CHECKF(te != NULL, "%s", gs_errmsg());
  if (tr && te) {
    CHECK(gs_dataset_size(tr) == 60000);
    CHECK(gs_dataset_size(te) == 10000);
    CHECK(gs_dataset_height(tr) == 28 && gs_dataset_width(tr) == 28);
    CHECK(gs_dataset_channels(tr) == 1);
    CHECK(gs_dataset_classes(tr) == 10 && gs_dataset_classes(te) == 10);
    int counts[10] = {0};
    int32_t lab;
    for (int64_t i = 0; i < 60000; i++) {
      gs_dataset_get(tr, i, NULL, &lab);
      if (lab >= 0 && lab < 10) counts[lab]++;
    }
    for (int k = 0; k < 10; k++) CHECKF(counts[k] == 6000, "class %d has %d images", k, counts[k]);
    float x[28 * 28];
    CHECK(gs_dataset_batch_plain(te, 9999, 1, x, &lab) == GS_OK && lab >= 0 && lab < 10);
    gs_dataset_options o = {.limit = 1000};
    gs_dataset *small = gs_dataset_open("fashion-mnist", GS_SPLIT_TRAIN, &o);
    CHECK(small && gs_dataset_size(small) == 1000);
    gs_dataset_close(small);
  }
  gs_dataset_close(tr);
  gs_dataset_close(te);
  return check_summary();
}
