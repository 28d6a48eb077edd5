/* A folder of photos through the loader, against torchvision and against the training step, in
 * one run (bench/README.md):
 *
 *  1. the loader decoding and augmenting the folder's files in its worker threads (random resized
 *     crop from the full image, flip, colour jitter with p 0.8, normalisation; one 224x224 view per
 *     image) against torchvision's RandomResizedCrop/RandomHorizontalFlip/ColorJitter pipeline
 *     with PIL in a DataLoader with as many workers, on the same files (bench/torchvision_loader.py
 *     under /usr/bin/python3), alternating gessl, torchvision, gessl, torchvision;
 *  2. the loader with SimCLR's training recipe (two 224x224 views, blur, grayscale) against the
 *     images per second a CPU ResNet-18 SimCLR training step at 224 consumes.
 *
 *   gessl-bench-folder DIR [THREADS [IMAGES [TRAIN_STEPS]]]     defaults 2, 1024, 2
 *
 * DIR: a labelled folder of JPEGs, e.g. made by tests/data/make_folder (build/bin/make_folder
 * DIR 200 500x375 jpg rgb: Fashion-MNIST upscaled to 500x375, tinted per class). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "gessl/data.h"
#include "gessl/train.h"

#define SIZE 224

/* torchvision's pipeline as one gessl view. */
static gs_aug_recipe torchvision_recipe(void) {
  gs_aug_recipe r;
  memset(&r, 0, sizeof r);
  r.n_views = 1;
  gs_view_config *v = &r.views[0];
  v->size = SIZE;
  v->crop_scale_min = 0.08f;
  v->crop_scale_max = 1.0f;
  v->crop_ratio_min = 3.0f / 4.0f;
  v->crop_ratio_max = 4.0f / 3.0f;
  v->flip_p = 0.5f;
  v->jitter_p = 0.8f;
  v->brightness = v->contrast = v->saturation = 0.4f;
  v->hue = 0.1f;
  return r;
}

/* Images per second through the loader, or < 0 on failure. */
static double loader_rate(const char *spec, int threads, int images, gs_aug_recipe recipe) {
  gs_dataset_options dopt = {.image_size = SIZE, .holdout = -1};
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &dopt);
  if (!ds) return -1;
  gs_loader_options o = {.batch = 64, .threads = threads, .seed = 1, .drop_last = 1};
  o.recipe = recipe;
  gs_loader *l = gs_loader_new(ds, &o);
  double rate = loader_images_per_s(l, images);
  gs_loader_free(l);
  gs_dataset_close(ds);
  return rate;
}

static double torchvision_rate(const char *script, const char *dir, int threads, int images) {
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' %d %d %d", script, dir, threads, images,
           SIZE);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  double rate = -1;
  char line[256];
  while (fgets(line, sizeof line, p))
    if (sscanf(line, "images_per_s %lf", &rate) == 1) break;
  pclose(p);
  return rate;
}

static double train_rate(const char *spec, int steps) {
  gs_train_config cfg;
  gs_train_config_init(&cfg);
  cfg.backend = "cpu";
  cfg.data = spec;
  cfg.model = "resnet18";
  cfg.image_size = SIZE;
  cfg.holdout = 0;
  cfg.batch = 16;
  cfg.max_steps = steps;
  gs_train_result res;
  if (gs_train_run(NULL, &cfg, &res) != GS_OK) {
    fprintf(stderr, "training step: %s\n", gs_errmsg());
    return -1;
  }
  return res.images_per_s;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gessl-bench-folder DIR [THREADS [IMAGES [TRAIN_STEPS]]]\n");
    return 2;
  }
  const char *dir = argv[1];
  int threads = argc > 2 ? atoi(argv[2]) : 2, images = argc > 3 ? atoi(argv[3]) : 1024;
  int steps = argc > 4 ? atoi(argv[4]) : 2;
  char spec[4200], script[4200];
  snprintf(spec, sizeof spec, "folder:%s", dir);
  snprintf(script, sizeof script, "%s", GESSL_BENCH_DIR "/torchvision_loader.py");
  printf("folder %s, %d workers, %dx%d output, %d images per measure\n", dir, threads, SIZE, SIZE,
         images);
  double g[2], t[2];
  for (int round = 0; round < 2; round++) {
    g[round] = loader_rate(spec, threads, images, torchvision_recipe());
    t[round] = torchvision_rate(script, dir, threads, images);
    printf("  round %d: gessl loader %.1f images/s, torchvision+PIL %.1f images/s\n", round + 1,
           g[round], t[round]);
    fflush(stdout);
    if (g[round] < 0 || t[round] < 0) {
      fprintf(stderr, "measure failed: %s\n", gs_errmsg());
      return 1;
    }
  }
  double gs = (g[0] + g[1]) / 2, ts = (t[0] + t[1]) / 2;
  printf("loader / torchvision: %.2fx (target >= 2x)\n", gs / ts);
  double simclr = loader_rate(spec, threads, images / 2, gs_aug_recipe_make(NULL, SIZE, 2));
  double step = train_rate(spec, steps);
  printf("SimCLR recipe (2 views of %d): loader %.1f images/s; ResNet-18 CPU training step %.2f "
         "images/s\n",
         SIZE, simclr, step);
  if (simclr < 0 || step <= 0) return 1;
  printf("loader / training step: %.1fx (target >= 10x)\n", simclr / step);
  return 0;
}
