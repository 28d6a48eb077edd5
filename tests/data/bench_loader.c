/* Loader throughput: images per second for two augmented 32x32x3 views per image (SimCLR's
 * recipe) on 2 worker threads, synthetic data so no file system is measured. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gessl/data.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2, batches = argc > 2 ? atoi(argv[2]) : 60;
  gs_dataset *ds = gs_dataset_open("synthetic:32x32x3", GS_SPLIT_TRAIN, NULL);
  if (!ds) {
    fprintf(stderr, "bench-loader: %s\n", gs_errmsg());
    return 1;
  }
  gs_loader_options o = {.batch = 256, .threads = threads, .seed = 1, .drop_last = 1};
  o.recipe = gs_aug_recipe_for("simclr", 32, 2);
  gs_loader *l = gs_loader_new(ds, &o);
  if (!l) {
    fprintf(stderr, "bench-loader: %s\n", gs_errmsg());
    return 1;
  }
  gs_batch b;
  gs_loader_next(l, &b); /* warm-up: threads started, ring filling */
  double t0 = now();
  long images = 0;
  for (int k = 0; k < batches; k++) {
    if (gs_loader_next(l, &b)) {
      fprintf(stderr, "bench-loader: %s\n", gs_errmsg());
      return 1;
    }
    images += b.n;
  }
  double dt = now() - t0;
  printf("loader: %.0f images/s (2 views of 32x32x3, simclr recipe, %d threads, batch %d, %ld "
         "images in %.2f s)\n",
         images / dt, threads, o.batch, images, dt);
  gs_loader_free(l);
  gs_dataset_close(ds);
  return 0;
}
