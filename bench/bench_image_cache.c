/* A CIFAR-sized folder of PNGs through the loader three ways, in one run (bench/README.md):
 *
 *  - in memory: the same images written as CIFAR-10 binary batches and opened as cifar10:, which
 *    decodes everything at open into the heap (the path folders took before they were streamed);
 *  - cached: the folder with its decode-once cache (--image-cache), mapped at open;
 *  - streamed: the folder decoded by the loader's workers per batch.
 *
 * Each loader makes SimCLR's two 32x32 views per image, batches of 256: in-memory, cached,
 * streamed, then the same in reverse order; the ratios are cached / in-memory and cached /
 * streamed. Open times (index, cache build, cache map, CIFAR parse) are printed too.
 *
 *   gessl-bench-image-cache DIR [THREADS [IMAGES]]      defaults 2, 20000
 *
 * DIR: a labelled folder of 32x32 PNGs, e.g. build/bin/make_folder DIR 1000 32x32 png rgb (10,000
 * Fashion-MNIST images resized and tinted per class). Scratch files go to a temporary folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "gessl/data.h"

static gs_dataset *open_timed(const char *spec, const char *cache, double *seconds) {
  gs_dataset_options o = {.holdout = -1, .cache = cache};
  double t0 = now();
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  *seconds = now() - t0;
  if (!ds) fprintf(stderr, "%s: %s\n", spec, gs_errmsg());
  return ds;
}

/* Images per second through the loader (SimCLR's recipe at 32), or < 0 on failure. */
static double loader_rate(const gs_dataset *ds, int threads, long images) {
  gs_loader_options o = {.batch = 256, .threads = threads, .seed = 1, .drop_last = 1};
  o.recipe = gs_aug_recipe_make(NULL, 32, 2);
  gs_loader *l = gs_loader_new(ds, &o);
  double rate = loader_images_per_s(l, images);
  if (rate < 0) fprintf(stderr, "loader: %s\n", gs_errmsg());
  gs_loader_free(l);
  return rate;
}

/* The folder's images as CIFAR-10 binary: five data batches of <label><3072 bytes CHW> records. */
static int write_cifar(const gs_dataset *ds, const char *dir) {
  int64_t n = gs_dataset_size(ds);
  uint8_t hwc[3072], rec[3073];
  for (int k = 0; k < 5; k++) {
    char path[4300];
    snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, k + 1);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (int64_t i = n * k / 5; i < n * (k + 1) / 5; i++) {
      int32_t label;
      if (gs_dataset_get(ds, i, hwc, &label) != GS_OK) {
        fclose(f);
        return -1;
      }
      rec[0] = (uint8_t)label;
      for (int c = 0; c < 3; c++)
        for (int p = 0; p < 1024; p++) rec[1 + c * 1024 + p] = hwc[p * 3 + c];
      if (fwrite(rec, 1, sizeof rec, f) != sizeof rec) {
        fclose(f);
        return -1;
      }
    }
    if (fclose(f) != 0) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: gessl-bench-image-cache DIR [THREADS [IMAGES]]\n");
    return 2;
  }
  const int threads = argc > 2 ? atoi(argv[2]) : 2;
  const long images = argc > 3 ? atol(argv[3]) : 20000;
  char tmp[] = "/tmp/gessl-bench-cache-XXXXXX", spec[4200], cifar[4300], cache[4300];
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(spec, sizeof spec, "folder:%s", argv[1]);
  snprintf(cifar, sizeof cifar, "cifar10:%s", tmp);
  snprintf(cache, sizeof cache, "%s/folder.cache", tmp);
  double t_index, t_build, t_map, t_cifar;
  int rc = 1;
  gs_dataset *streamed = open_timed(spec, NULL, &t_index), *cached = NULL, *memory = NULL;
  if (!streamed) goto done;
  if (gs_dataset_width(streamed) != 32 || gs_dataset_channels(streamed) != 3) {
    fprintf(stderr, "%s: expected 32x32 colour images\n", argv[1]);
    goto done;
  }
  if (write_cifar(streamed, tmp) != 0) {
    fprintf(stderr, "cannot write the CIFAR batches in %s\n", tmp);
    goto done;
  }
  gs_dataset_close(open_timed(spec, cache, &t_build)); /* builds the cache */
  cached = open_timed(spec, cache, &t_map);
  memory = open_timed(cifar, NULL, &t_cifar);
  if (!cached || !memory) goto done;
  long n = (long)gs_dataset_size(streamed);
  printf("folder %s: %ld 32x32 PNGs, %d workers, SimCLR's 2 views, batches of 256, %ld images "
         "per measure\n",
         argv[1], n, threads, images);
  printf("open: streamed (index) %.2f s, cache build %.2f s (%.1f MB), cached %.3f s, CIFAR binary "
         "%.3f s\n",
         t_index, t_build, (double)n * 3072 / 1e6, t_map, t_cifar);
  double m[2] = {0}, c[2] = {0}, s[2] = {0};
  const gs_dataset *sets[3] = {memory, cached, streamed};
  for (int round = 0; round < 2; round++) { /* the second round in reverse order */
    for (int k = 0; k < 3; k++) {
      int which = round == 0 ? k : 2 - k;
      double *into = which == 0 ? &m[round] : which == 1 ? &c[round] : &s[round];
      *into = loader_rate(sets[which], threads, which == 2 ? images / 4 : images);
    }
    printf("  round %d: in memory %.0f images/s, cached %.0f images/s, streamed %.0f images/s\n",
           round + 1, m[round], c[round], s[round]);
    fflush(stdout);
    if (m[round] < 0 || c[round] < 0 || s[round] < 0) goto done;
  }
  double mm = (m[0] + m[1]) / 2, cc = (c[0] + c[1]) / 2, ss = (s[0] + s[1]) / 2;
  printf("cached / in memory: %.2fx (target about 1x)\n", cc / mm);
  printf("cached / streamed: %.2fx\n", cc / ss);
  rc = 0;
done:
  gs_dataset_close(memory);
  gs_dataset_close(cached);
  gs_dataset_close(streamed);
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return rc;
}
