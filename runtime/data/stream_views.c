/* The augmented views of a streamed image: crops are drawn on the image's size in its file, then
 * the file is decoded at the smallest size the crop allows (a JPEG shrinks in its decoder), once
 * per decoded size the views need. The decode size of a view depends only on its own crop, so the
 * loader and gs_augment_sample give the same numbers. A folder with a decode-once cache reads the
 * cached image in place instead, its crops drawn on the size in the file all the same, so with the
 * cache stored at the files' own size the views are those of the files. */
#include <stdlib.h>

#include "data_internal.h"

/* The views of a cached image: no decode, no copy. */
static gs_status cached_views(const gs_images *im, int64_t i, const gs_aug_recipe *recipe,
                              uint64_t seed, int64_t epoch, int first, const float *mean,
                              const float *std, float *const *views, float *scratch) {
  const uint8_t *px;
  gs_status s = gs_image_cache_get(im, i, &px);
  if (s) return s;
  const int S = im->cache_size;
  for (int v = first; v < first + recipe->n_views; v++) {
    gs_rng r = gs_rng_make(seed, (uint64_t)epoch, (uint64_t)i, (uint64_t)v);
    gs_augment_image_scaled(px, S, S, im->full_h[i], im->full_w[i], im->c,
                            &recipe->views[v - first], mean, std, &r, views[v - first], scratch);
  }
  return GS_OK;
}

void gs_images_decode_size(const gs_images *im, int64_t i, int min_w, int min_h, int *h, int *w) {
  if (im->cache_px) {
    *h = *w = im->cache_size;
    return;
  }
  *h = im->full_h[i];
  *w = im->full_w[i];
  if (im->is_jpeg[i]) gs_jpeg_scaled_size(im->full_w[i], im->full_h[i], min_w, min_h, w, h);
}

gs_status gs_stream_views(const gs_images *im, int64_t i, const gs_aug_recipe *recipe,
                          uint64_t seed, int64_t epoch, const float *mean, const float *std,
                          float *const *views, float *scratch) {
  if (im->cache_px) return cached_views(im, i, recipe, seed, epoch, 0, mean, std, views, scratch);
  const int fh = im->full_h[i], fw = im->full_w[i], nv = recipe->n_views;
  int dh[GS_MAX_VIEWS], dw[GS_MAX_VIEWS], mh[GS_MAX_VIEWS], mw[GS_MAX_VIEWS];
  for (int v = 0; v < nv; v++) {
    gs_rng r = gs_rng_make(seed, (uint64_t)epoch, (uint64_t)i, (uint64_t)v);
    gs_augment_min_decode(fh, fw, &recipe->views[v], r, &mh[v], &mw[v]);
    gs_images_decode_size(im, i, mw[v], mh[v], &dh[v], &dw[v]);
  }
  int done[GS_MAX_VIEWS] = {0};
  gs_status s = GS_OK;
  for (int v = 0; v < nv && !s; v++) {
    if (done[v]) continue;
    uint8_t *px;
    int h, w;
    if ((s = gs_images_decode(im, i, mw[v], mh[v], &px, &h, &w))) break;
    for (int u = v; u < nv; u++) /* every view that wants this decoded size */
      if (!done[u] && dh[u] == dh[v] && dw[u] == dw[v]) {
        gs_rng r = gs_rng_make(seed, (uint64_t)epoch, (uint64_t)i, (uint64_t)u);
        gs_augment_image_scaled(px, h, w, fh, fw, im->c, &recipe->views[u], mean, std, &r, views[u],
                                scratch);
        done[u] = 1;
      }
    free(px);
  }
  return s;
}

gs_status gs_stream_view(const gs_images *im, int64_t i, const gs_view_config *v, uint64_t seed,
                         int64_t epoch, int view, const float *mean, const float *std, float *out,
                         float *scratch) {
  if (im->cache_px) {
    gs_aug_recipe one = {.n_views = 1};
    one.views[0] = *v;
    return cached_views(im, i, &one, seed, epoch, view, mean, std, &out, scratch);
  }
  const int fh = im->full_h[i], fw = im->full_w[i];
  gs_rng r = gs_rng_make(seed, (uint64_t)epoch, (uint64_t)i, (uint64_t)view);
  int mh, mw, h, w;
  gs_augment_min_decode(fh, fw, v, r, &mh, &mw);
  uint8_t *px;
  gs_status s = gs_images_decode(im, i, mw, mh, &px, &h, &w);
  if (s) return s;
  gs_augment_image_scaled(px, h, w, fh, fw, im->c, v, mean, std, &r, out, scratch);
  free(px);
  return GS_OK;
}
