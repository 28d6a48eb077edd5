/* The augmented views of a streamed image: crops are drawn on the image's size in its file, then
 * the file is decoded at the smallest size the crop allows (a JPEG shrinks in its decoder), once
 * per decoded size the views need. The decode size of a view depends only on its own crop, so the
 * loader and gs_augment_sample give the same numbers. */
#include <stdlib.h>

#include "data_internal.h"

void gs_images_decode_size(const gs_images *im, int64_t i, int min_w, int min_h, int *h, int *w) {
  *h = im->full_h[i];
  *w = im->full_w[i];
  if (im->is_jpeg[i]) gs_jpeg_scaled_size(im->full_w[i], im->full_h[i], min_w, min_h, w, h);
}

gs_status gs_stream_views(const gs_images *im, int64_t i, const gs_aug_recipe *recipe,
                          uint64_t seed, int64_t epoch, const float *mean, const float *std,
                          float *const *views, float *scratch) {
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
