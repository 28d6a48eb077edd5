/* A seeded synthetic data set of shapes and textures (ten classes) for tests and benchmarks that
 * must not depend on files. Class k is a fixed kind of pattern; colours, position, size, period
 * and noise vary per sample, so instance discrimination has something to learn. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define SYN_TRAIN 2048
#define SYN_TEST 512
#define SYN_CLASSES 10

/* Coverage of pixel (x, y) in [0,1]-relative coordinates by the pattern of class k. */
static int pattern(int k, float x, float y, float cx, float cy, float r, float period,
                   float phase) {
  float dx = x - cx, dy = y - cy;
  switch (k) {
  case 0: return dx * dx + dy * dy < r * r;                               /* disc */
  case 1: return fabsf(dx) < r && fabsf(dy) < r;                          /* square */
  case 2: return dy > -r && dy < r && fabsf(dx) < (dy + r) * 0.5f;        /* triangle */
  case 3: return fabsf(sqrtf(dx * dx + dy * dy) - r * 0.75f) < r * 0.25f; /* ring */
  case 4: return (fabsf(dx) < r * 0.3f || fabsf(dy) < r * 0.3f) && fabsf(dx) < r && fabsf(dy) < r;
  case 5: return fmodf(y / period + phase, 1.0f) < 0.5f; /* h stripes */
  case 6: return fmodf(x / period + phase, 1.0f) < 0.5f; /* v stripes */
  case 7: return (fmodf(x / period + phase, 1.0f) < 0.5f) ^ (fmodf(y / period, 1.0f) < 0.5f);
  case 8: return fmodf((x + y) / period + phase, 1.0f) < 0.5f; /* diagonal */
  default: {                                                   /* dot grid */
    float fx = fmodf(x / period + phase, 1.0f) - 0.5f, fy = fmodf(y / period, 1.0f) - 0.5f;
    return fx * fx + fy * fy < 0.09f;
  }
  }
}

gs_status gs_synthetic_make(const char *spec, gs_split split, const gs_dataset_options *opt,
                            gs_images *im) {
  int h = 32, w = 32, c = 3;
  if (spec[9] == ':') {
    char tail;
    if (sscanf(spec + 10, "%dx%dx%d%c", &h, &w, &c, &tail) != 3 || h < 4 || w < 4 || h > 1024 ||
        w > 1024 || (c != 1 && c != 3))
      return gs_fail(GS_ERR_INVALID,
                     "data set %s: expected synthetic:HxWxC with H, W in 4..1024 and C 1 or 3",
                     spec);
  }
  int64_t n = split == GS_SPLIT_TRAIN ? SYN_TRAIN : SYN_TEST;
  if (opt->limit > 0 && opt->limit < n) n = opt->limit;
  size_t img = (size_t)h * w * c;
  im->pixels = malloc(img * (size_t)n);
  im->labels = malloc(sizeof(int32_t) * (size_t)n);
  if (!im->pixels || !im->labels) {
    gs_images_free(im);
    return gs_fail(GS_ERR_NOMEM, "data set %s: out of memory", spec);
  }
  for (int64_t i = 0; i < n; i++) {
    gs_rng r = gs_rng_make(opt->seed, 0x5e7, (uint64_t)split, (uint64_t)i);
    int k = (int)(i % SYN_CLASSES);
    float bg[3], fg[3];
    for (int ch = 0; ch < 3; ch++) {
      bg[ch] = gs_rng_range(&r, 0.0f, 0.45f);
      fg[ch] = gs_rng_range(&r, 0.55f, 1.0f);
    }
    if (gs_rng_f(&r) < 0.5f) /* sometimes light on dark, sometimes dark on light */
      for (int ch = 0; ch < 3; ch++) {
        float t = bg[ch];
        bg[ch] = fg[ch];
        fg[ch] = t;
      }
    float cx = gs_rng_range(&r, 0.3f, 0.7f), cy = gs_rng_range(&r, 0.3f, 0.7f);
    float rad = gs_rng_range(&r, 0.15f, 0.3f), period = gs_rng_range(&r, 0.12f, 0.3f);
    float phase = gs_rng_f(&r), noise = gs_rng_range(&r, 0.0f, 0.08f);
    uint8_t *px = im->pixels + img * (size_t)i;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int on = pattern(k, (x + 0.5f) / w, (y + 0.5f) / h, cx, cy, rad, period, phase);
        float nz = (gs_rng_f(&r) - 0.5f) * 2.0f * noise;
        for (int ch = 0; ch < c; ch++) {
          float v = (c == 1 ? 0.5f * ((on ? fg : bg)[0] + (on ? fg : bg)[1]) : (on ? fg : bg)[ch]);
          v = (v + nz) * 255.0f + 0.5f;
          px[((size_t)y * w + x) * c + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
      }
    im->labels[i] = k;
  }
  im->n = n;
  im->h = h;
  im->w = w;
  im->c = c;
  im->classes = SYN_CLASSES;
  return GS_OK;
}
