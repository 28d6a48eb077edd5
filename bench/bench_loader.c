/* Loader throughput against the training step's consumption, in one run: images per second of
 * the loader (two augmented 32x32x3 views per image, SimCLR's recipe, 2 worker threads, synthetic
 * data so no file system is measured) beside the images per second a CPU SimCLR training step of
 * the small ConvNet consumes at the same batch. The loader must stay well ahead (target: 10x), so
 * it never starves the device.
 *
 *   gessl-bench-loader [THREADS [BATCHES [TRAIN_STEPS]]]     defaults 2, 60, 8 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "gessl/data.h"
#include "gessl/train.h"

/* Images per second the loader delivers, or < 0 on failure. */
static double loader_rate(int threads, int batches) {
  gs_dataset *ds = gs_dataset_open("synthetic:32x32x3", GS_SPLIT_TRAIN, NULL);
  if (!ds) return -1;
  gs_loader_options o = {.batch = 256, .threads = threads, .seed = 1, .drop_last = 1};
  o.recipe = gs_aug_recipe_make(NULL, 32, 2);
  gs_loader *l = gs_loader_new(ds, &o);
  double rate = loader_images_per_s(l, (long)batches * o.batch); /* whole batches: drop_last */
  gs_loader_free(l);
  gs_dataset_close(ds);
  return rate;
}

/* Images per second a CPU SimCLR step of the ConvNet consumes (the loop's own measure, setup
 * excluded), or < 0 on failure. */
static double train_rate(int steps) {
  gs_train_config cfg;
  gs_train_config_init(&cfg);
  cfg.backend = "cpu";
  cfg.data = "synthetic:32x32x3";
  cfg.model = "convnet";
  cfg.batch = 256;
  cfg.max_steps = steps;
  gs_train_result res;
  if (gs_train_run(NULL, &cfg, &res) != GS_OK) return -1;
  return res.images_per_s;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2, batches = argc > 2 ? atoi(argv[2]) : 60;
  int steps = argc > 3 ? atoi(argv[3]) : 8;
  setenv("OMP_WAIT_POLICY", "passive", 0); /* as the gessl program does, before plugins load */
  double load = loader_rate(threads, batches);
  if (load < 0) {
    fprintf(stderr, "gessl-bench-loader: loader: %s\n", gs_errmsg());
    return 1;
  }
  double train = train_rate(steps);
  if (train < 0) {
    fprintf(stderr, "gessl-bench-loader: training step: %s\n", gs_errmsg());
    return 1;
  }
  printf("loader: %.0f images/s (2 views of 32x32x3, %d threads)\n", load, threads);
  printf("training step consumes: %.0f images/s (CPU, ConvNet, SimCLR, batch 256)\n", train);
  printf("loader / training step: %.1fx (target: at least 10x)\n", load / train);
  return 0;
}
