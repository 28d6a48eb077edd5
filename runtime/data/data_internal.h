/* Internals of the data pipeline: the in-memory image store every data set decodes into, the
 * byte-level parsers (kept free of file I/O so the fuzz targets can drive them directly), the
 * counter-based random numbers and the single-view augmentation the loader workers run. */
#ifndef GESSL_DATA_INTERNAL_H
#define GESSL_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gessl/data.h"
#include "gessl/io.h"

/* n images of h x w x c bytes (HWC), labels (-1 when unlabelled; NULL allowed while parsing). */
typedef struct gs_images {
  int64_t n;
  int h, w, c;
  int classes;
  uint8_t *pixels;
  int32_t *labels;
} gs_images;

void gs_images_free(gs_images *im);
/* Appends src to dst (shapes must agree; dst may be empty) and frees src. */
gs_status gs_images_append(gs_images *dst, gs_images *src, const char *name);

/* Keeps the train part (want_test 0) or the held-out test part (1) of a labelled store, split per
 * class by `frac` and `seed` (split.c), in a seeded shuffled order. Unlabelled: unchanged. */
gs_status gs_images_holdout(gs_images *im, int want_test, float frac, uint64_t seed,
                            const char *name);

/* ---- parsers: bytes in, gs_images out; `name` names the input in error messages ---- */

/* Inflates gzip data, refusing outputs over max_out bytes. *out is malloc'd (caller frees). */
gs_status gs_gunzip(const uint8_t *buf, size_t len, const char *name, size_t max_out, uint8_t **out,
                    size_t *out_len);
/* IDX (big-endian, unsigned byte): images are rank 3 (n, h, w), labels rank 1. Fills pixels or
 * labels of *im (labels: im->n and im->labels only). */
gs_status gs_idx_parse_images(const uint8_t *buf, size_t len, const char *name, gs_images *im);
gs_status gs_idx_parse_labels(const uint8_t *buf, size_t len, const char *name, gs_images *im);
/* CIFAR binary: records of <label> (CIFAR-10) or <coarse><fine> (CIFAR-100) + 3072 bytes CHW. */
gs_status gs_cifar_parse(const uint8_t *buf, size_t len, const char *name, int cifar100,
                         gs_images *im);

/* A decoded PNG, normalised to 8-bit RGB (alpha dropped, palette and gray expanded). */
typedef struct gs_png_info {
  int width, height;
  int is_color; /* the file had colour (palette or RGB), not only gray */
} gs_png_info;
/* Decodes a PNG from memory into *rgb (malloc'd, width*height*3). Refuses images with more than
 * max_pixels pixels before allocating. */
gs_status gs_png_decode(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                        gs_png_info *info, uint8_t **rgb);

/* Resamples an h x w x c image to oh x ow (bilinear, area-averaging when shrinking). */
void gs_resize_u8(const uint8_t *src, int h, int w, int c, uint8_t *dst, int oh, int ow);

/* ---- counter-based random numbers: every draw is a function of its key, not of history ---- */

static inline uint64_t gs_mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct gs_rng {
  uint64_t key, ctr;
} gs_rng;

static inline gs_rng gs_rng_make(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  gs_rng r = {gs_mix64(gs_mix64(gs_mix64(seed ^ 0x5851f42d4c957f2dull) ^ a) ^ b) ^ c, 0};
  r.key = gs_mix64(r.key);
  return r;
}
static inline uint64_t gs_rng_u64(gs_rng *r) {
  return gs_mix64(r->key + 0x632be59bd9b4e019ull * ++r->ctr);
}
/* Uniform in [0, 1). */
static inline float gs_rng_f(gs_rng *r) {
  return (float)(gs_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}
static inline float gs_rng_range(gs_rng *r, float lo, float hi) {
  return lo + (hi - lo) * gs_rng_f(r);
}

/* Position `pos` of a seeded permutation of [0, n) (a Feistel network with cycle walking), so a
 * shuffled epoch needs no table and any thread can compute any position. */
int64_t gs_epoch_order(int64_t pos, int64_t n, uint64_t key);

/* ---- augmentation ---- */

/* Floats of scratch space gs_augment_image needs for an output of `size` and c channels. */
size_t gs_augment_scratch(int size, int c);
/* One augmented view of an 8-bit HWC image, written NCHW-normalised into out (c*size*size). */
void gs_augment_image(const uint8_t *src, int h, int w, int c, const gs_view_config *v,
                      const float *mean, const float *std, gs_rng *rng, float *out, float *scratch);

/* Access to the image store behind a data set (no copy). */
const gs_images *gs_dataset_images(const gs_dataset *ds);

#endif
