/* Writes a labelled image folder made from the installed Fashion-MNIST package (Debian's
 * dataset-fashion-mnist): DIR/<class name>/NNNNN.png, the first `per_class` training images of
 * each class, upscaled (nearest neighbour) to size x size. Nothing is downloaded. */
#ifndef GESSL_TEST_FASHION_FOLDER_H
#define GESSL_TEST_FASHION_FOLDER_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "gessl/data.h"

static const char *const ff_class_names[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                               "sandal",  "shirt",   "sneaker",  "bag",   "boot"};

/* 0 on success; -1 with a message on stderr. */
static inline int ff_write_folder(const char *dir, int per_class, int size) {
  gs_dataset *ds = gs_dataset_open("fashion-mnist", GS_SPLIT_TRAIN, NULL);
  if (!ds) {
    fprintf(stderr, "fashion-mnist: %s\n", gs_errmsg());
    return -1;
  }
  int h = gs_dataset_height(ds), w = gs_dataset_width(ds), done[10] = {0}, rc = 0;
  uint8_t *src = malloc((size_t)h * w), *dst = malloc((size_t)size * size);
  char path[1024];
  mkdir(dir, 0755);
  for (int k = 0; k < 10; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, ff_class_names[k]);
    mkdir(path, 0755);
  }
  int64_t left = 10LL * per_class;
  for (int64_t i = 0; rc == 0 && left > 0 && i < gs_dataset_size(ds); i++) {
    int32_t lab;
    gs_dataset_get(ds, i, src, &lab);
    if (lab < 0 || lab > 9 || done[lab] >= per_class) continue;
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) dst[y * size + x] = src[(y * h / size) * w + x * w / size];
    snprintf(path, sizeof path, "%s/%s/%05d.png", dir, ff_class_names[lab], done[lab]);
    if (gs_png_write(path, dst, size, size, 1) != GS_OK) {
      fprintf(stderr, "%s\n", gs_errmsg());
      rc = -1;
    }
    done[lab]++;
    left--;
  }
  free(src);
  free(dst);
  gs_dataset_close(ds);
  return rc;
}

#endif
