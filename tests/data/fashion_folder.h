/* Writes a labelled image folder made from the installed Fashion-MNIST package (Debian's
 * dataset-fashion-mnist): DIR/<class name>/NNNNN.png (or .jpg), the first `per_class` training
 * images of each class, upscaled (bilinear) to w x h. Colour images are tinted per class, so the
 * folder has colour and stays learnable. Nothing is downloaded. */
#ifndef GESSL_TEST_FASHION_FOLDER_H
#define GESSL_TEST_FASHION_FOLDER_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "gessl/data.h"

static const char *const ff_class_names[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                               "sandal",  "shirt",   "sneaker",  "bag",   "boot"};

static inline int ff_write_jpeg(const char *path, const uint8_t *px, int w, int h, int c) {
  tjhandle tj = tjInitCompress();
  unsigned char *jpg = NULL;
  unsigned long len = 0;
  int rc = tj && tjCompress2(tj, px, w, 0, h, c == 3 ? TJPF_RGB : TJPF_GRAY, &jpg, &len,
                             c == 3 ? TJSAMP_420 : TJSAMP_GRAY, 90, 0) == 0
               ? 0
               : -1;
  FILE *f = rc == 0 ? fopen(path, "wb") : NULL;
  if (!f || fwrite(jpg, 1, len, f) != len) rc = -1;
  if (f) fclose(f);
  if (rc) fprintf(stderr, "%s: cannot write the JPEG\n", path);
  tjFree(jpg);
  if (tj) tjDestroy(tj);
  return rc;
}

/* Gray (c 1) or tinted colour (c 3) PNG or JPEG files. 0 on success; -1 with a message. */
static inline int ff_write_folder_ex(const char *dir, int per_class, int w, int h, int c,
                                     int jpeg) {
  gs_dataset *ds = gs_dataset_open("fashion-mnist", GS_SPLIT_TRAIN, NULL);
  if (!ds) {
    fprintf(stderr, "fashion-mnist: %s\n", gs_errmsg());
    return -1;
  }
  int sh = gs_dataset_height(ds), sw = gs_dataset_width(ds), done[10] = {0}, rc = 0;
  uint8_t *src = malloc((size_t)sh * sw), *dst = malloc((size_t)w * h * c);
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
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        float fy = (y + 0.5f) * sh / h - 0.5f, fx = (x + 0.5f) * sw / w - 0.5f;
        fy = fy < 0 ? 0 : fy > sh - 1 ? (float)(sh - 1) : fy;
        fx = fx < 0 ? 0 : fx > sw - 1 ? (float)(sw - 1) : fx;
        int y0 = (int)fy, x0 = (int)fx, y1 = y0 + 1 < sh ? y0 + 1 : y0,
            x1 = x0 + 1 < sw ? x0 + 1 : x0;
        float ay = fy - y0, ax = fx - x0;
        float v = (1 - ay) * ((1 - ax) * src[y0 * sw + x0] + ax * src[y0 * sw + x1]) +
                  ay * ((1 - ax) * src[y1 * sw + x0] + ax * src[y1 * sw + x1]);
        for (int ch = 0; ch < c; ch++) {
          float tint = c == 3 ? 0.55f + 0.45f * (float)((lab * 3 + ch * 7) % 10) / 9.0f : 1.0f;
          dst[((size_t)y * w + x) * c + ch] = (uint8_t)(v * tint + 0.5f);
        }
      }
    snprintf(path, sizeof path, "%s/%s/%05d.%s", dir, ff_class_names[lab], done[lab],
             jpeg ? "jpg" : "png");
    if (jpeg) {
      rc = ff_write_jpeg(path, dst, w, h, c);
    } else if (gs_png_write(path, dst, w, h, c) != GS_OK) {
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

/* Gray PNGs of size x size. */
static inline int ff_write_folder(const char *dir, int per_class, int size) {
  return ff_write_folder_ex(dir, per_class, size, size, 1, 0);
}

#endif
