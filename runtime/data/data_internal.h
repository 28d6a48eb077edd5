/* Internals of the data pipeline: the in-memory image store every data set decodes into, the
 * byte-level parsers (kept free of file I/O so the fuzz targets can drive them directly), the
 * counter-based random numbers and the single-view augmentation the loader workers run. */
#ifndef GESSL_DATA_INTERNAL_H
#define GESSL_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gessl/data.h"
#include "gessl/io.h"

/* n images of h x w x c bytes (HWC), labels (-1 when unlabelled; NULL allowed while parsing).
 * A streamed store (folders) has no pixels: image i is decoded from paths + path_at[i] when used,
 * at its own size full_h[i] x full_w[i]; h x w is then the size evaluation resizes it to. */
typedef struct gs_images {
  int64_t n;
  int h, w, c;
  int classes;
  uint8_t *pixels;
  int32_t *labels;
  char *paths;              /* NUL-terminated paths, one after the other */
  int64_t *path_at;         /* image i's path starts at paths + path_at[i] */
  int32_t *full_h, *full_w; /* image i's size in its file */
  uint8_t *is_jpeg;         /* image i is a JPEG (its decoder can shrink it) */
  int64_t max_pixels;       /* decompression-bomb guard the decoders apply */
  /* A folder read through its decode-once cache (image_cache.c): image i is record cache_at[i] of
   * the mapped file: cache_size x cache_size x c bytes at cache_px, and a 16-byte entry at
   * cache_records (its size in the file, whether it decoded). NULL cache_px: no cache. */
  const uint8_t *cache_px, *cache_records;
  int64_t *cache_at;
  int cache_size;
  void *cache_map;
  size_t cache_len;
  char *cache_path;
} gs_images;

void gs_images_free(gs_images *im);
/* Appends src to dst (shapes must agree; dst may be empty) and frees src. */
gs_status gs_images_append(gs_images *dst, gs_images *src, const char *name);

/* The views of streamed image i for (seed, epoch): the crops are drawn on its size in the file,
 * then it is decoded once per decoded size the views need (a JPEG shrinks in its decoder as far as
 * a view's crop allows; most views share one size), so each view is what gs_augment_sample gives.
 * views[v] points at c*size*size floats. */
gs_status gs_stream_views(const gs_images *im, int64_t i, const gs_aug_recipe *recipe,
                          uint64_t seed, int64_t epoch, const float *mean, const float *std,
                          float *const *views, float *scratch);

/* One view of streamed image i: what gs_stream_views gives as view `view`. */
gs_status gs_stream_view(const gs_images *im, int64_t i, const gs_view_config *v, uint64_t seed,
                         int64_t epoch, int view, const float *mean, const float *std, float *out,
                         float *scratch);

/* Keeps the train part (want_test 0) or the held-out test part (1) of a labelled store, split per
 * class by `frac` and `seed` (split.c), in a seeded shuffled order. Unlabelled: unchanged. */
gs_status gs_images_holdout(gs_images *im, int want_test, float frac, uint64_t seed,
                            const char *name);

/* ---- decode-once cache of a folder (image_cache.c) ---- */

/* Fingerprint of a folder's index: each image's path under the folder, file size and mtime, in
 * index order. gs_cache_fp_add folds one image in. */
typedef struct gs_cache_fp {
  uint64_t a, b;
} gs_cache_fp;
#define GS_CACHE_FP_INIT                                                                           \
  { 0xcbf29ce484222325ull, 0x6a09e667f3bcc908ull }
void gs_cache_fp_add(gs_cache_fp *fp, const char *rel_path, int64_t size, int64_t mtime_ns);

/* Maps the cache file of a folder store whose index (im->n images, fingerprint fp) is built:
 * GS_OK with the cache attached (channels and image sizes taken from it, nothing probed); GS_OK
 * with *stale set to why the file cannot serve this folder (missing, another size, the folder
 * changed: the caller rebuilds it); an error naming the file when it is not a cache, truncated or
 * corrupt (nothing is overwritten). */
gs_status gs_image_cache_open(gs_images *im, const char *path, int size, gs_cache_fp fp,
                              char *stale, size_t stale_len);
/* Decodes every image of a probed store at size x size on `threads` threads and writes the cache
 * durably. Images that fail to decode are flagged (the loader skips them); more than 1% of them is
 * an error naming the first, and nothing is written. *bad gets their count. */
gs_status gs_image_cache_build(const gs_images *im, const char *path, int size, gs_cache_fp fp,
                               int threads, int64_t *bad);
/* Image i's cached pixels, or an error naming its file when it was flagged at build. */
gs_status gs_image_cache_get(const gs_images *im, int64_t i, const uint8_t **px);
/* Unmaps the cache of a store. */
void gs_image_cache_close(gs_images *im);
/* The header and record table of a cache file in memory (the part gs_image_cache_open checks):
 * GS_OK and its fields, or an error naming `name`. *stale as above. Free of file I/O. */
typedef struct gs_cache_header {
  uint32_t version, size, channels;
  int64_t count, bad;
  gs_cache_fp fp;
  uint64_t pixels_at, file_len; /* offset of the pixel block and the file size it implies */
} gs_cache_header;
gs_status gs_image_cache_parse(const uint8_t *buf, size_t len, const char *name, gs_cache_header *h,
                               int *not_current);

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

/* scikit-learn's digits CSV (gzip already inflated): lines of 64 pixel counts 0..16 and a label
 * 0..9, giving 8x8 gray images scaled to 0..255 and 10 classes. */
gs_status gs_digits_parse(const uint8_t *buf, size_t len, const char *name, gs_images *im);

/* A decoded PNG or JPEG, normalised to 8-bit RGB (alpha dropped, palette and gray expanded). */
typedef struct gs_png_info {
  int width, height;
  int is_color; /* the file had colour (palette or RGB), not only gray */
  int is_jpeg;  /* set by gs_image_probe */
} gs_png_info;
/* Decodes a PNG from memory into *rgb (malloc'd, width*height*3). Refuses images with more than
 * max_pixels pixels before allocating. */
gs_status gs_png_decode(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                        gs_png_info *info, uint8_t **rgb);

/* 1 when buf starts with the JPEG signature (SOI followed by a marker). */
int gs_is_jpeg(const uint8_t *buf, size_t len);
/* The size gs_jpeg_decode gives a w x h JPEG asked for at least min_w x min_h. */
void gs_jpeg_scaled_size(int w, int h, int min_w, int min_h, int *sw, int *sh);
/* Decodes a JPEG from memory into *rgb (malloc'd, 8-bit RGB) with the same pixel limit as PNG. The
 * decoder scales down in the DCT domain by the largest factor (down to 1/8) that keeps the sides at
 * least min_w x min_h (0, 0: full size); info has the decoded (scaled) size. */
gs_status gs_jpeg_decode(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                         int min_w, int min_h, gs_png_info *info, uint8_t **rgb);

/* ---- streamed images (stream.c) ---- */

/* Size and colour from the first bytes of a PNG or JPEG (header only, nothing decoded). */
gs_status gs_image_probe(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                         gs_png_info *info);
gs_status gs_image_probe_file(const char *path, int64_t max_pixels, gs_png_info *info);
/* Decodes a PNG or JPEG file to 8-bit RGB; JPEGs shrink in the decoder while the result keeps at
 * least min_w x min_h pixels (0, 0: full size). */
gs_status gs_image_decode_file(const char *path, int64_t max_pixels, int min_w, int min_h,
                               gs_png_info *info, uint8_t **rgb);
/* Image i of a streamed store in its channels (im->c): *px malloc'd, *h x *w (a copy of the cached
 * image when the store has a cache). */
void gs_images_decode_size(const gs_images *im, int64_t i, int min_w, int min_h, int *h, int *w);
gs_status gs_images_decode(const gs_images *im, int64_t i, int min_w, int min_h, uint8_t **px,
                           int *h, int *w);

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
/* The same for an image decoded at h x w from one of full_h x full_w (a JPEG shrunk in its
 * decoder): the crop is drawn on the full size, so the view does not depend on the decode size. */
void gs_augment_image_scaled(const uint8_t *src, int h, int w, int full_h, int full_w, int c,
                             const gs_view_config *v, const float *mean, const float *std,
                             gs_rng *rng, float *out, float *scratch);
/* The decoded size view v needs so its crop keeps at least v->size pixels per side: the crop box
 * drawn from a copy of rng (the view itself draws the same box). */
void gs_augment_min_decode(int full_h, int full_w, const gs_view_config *v, gs_rng rng, int *min_h,
                           int *min_w);

/* Access to the image store behind a data set (no copy). */
const gs_images *gs_dataset_images(const gs_dataset *ds);

#endif
