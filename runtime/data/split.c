/* Held-out splits for labelled data sets that ship without a test split. Each class is split on
 * its own (stratified), by a seeded permutation of its images, so the same seed gives the same
 * split on every machine and every class with two or more images lands in both parts. Each part
 * is then stored in a seeded shuffled order: a --limit taking its first N images samples every
 * class instead of the first classes of the sorted folder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

/* Images class c holds out of n_c: a rounded fraction, at least one, never all. */
static int64_t held_of(int64_t n_c, float frac) {
  if (n_c < 2) return 0;
  int64_t h = (int64_t)llround((double)frac * (double)n_c);
  if (h < 1) h = 1;
  if (h > n_c - 1) h = n_c - 1;
  return h;
}

/* Keeps images pick[0..m) of im, in that order (pixels, or the index of a streamed store and its
 * places in the cache). */
static gs_status keep(gs_images *im, const int64_t *pick, int64_t m, const char *name) {
  const size_t img = im->pixels ? (size_t)im->h * im->w * im->c : 0;
  uint8_t *px = img ? malloc(img * (size_t)m) : NULL;
  int32_t *lab = malloc(sizeof(int32_t) * (size_t)m);
  int64_t *at = im->path_at ? malloc(sizeof(int64_t) * (size_t)m) : NULL;
  int32_t *fh = im->path_at ? malloc(sizeof(int32_t) * (size_t)m) : NULL;
  int32_t *fw = im->path_at ? malloc(sizeof(int32_t) * (size_t)m) : NULL;
  uint8_t *jp = im->path_at ? malloc((size_t)m) : NULL;
  int64_t *ca = im->cache_at ? malloc(sizeof(int64_t) * (size_t)m) : NULL;
  if ((img && !px) || !lab || (im->path_at && (!at || !fh || !fw || !jp)) ||
      (im->cache_at && !ca)) {
    free(ca);
    free(jp);
    free(px);
    free(lab);
    free(at);
    free(fh);
    free(fw);
    return gs_fail(GS_ERR_NOMEM, "%s: out of memory for the held-out split", name);
  }
  for (int64_t k = 0; k < m; k++) {
    int64_t i = pick[k];
    if (px) memcpy(px + img * (size_t)k, im->pixels + img * (size_t)i, img);
    lab[k] = im->labels[i];
    if (at) {
      at[k] = im->path_at[i];
      fh[k] = im->full_h[i];
      fw[k] = im->full_w[i];
      jp[k] = im->is_jpeg[i];
    }
    if (ca) ca[k] = im->cache_at[i];
  }
  if (ca) {
    free(im->cache_at);
    im->cache_at = ca;
  }
  if (px) {
    free(im->pixels);
    im->pixels = px;
  }
  free(im->labels);
  im->labels = lab;
  if (at) {
    free(im->path_at);
    free(im->full_h);
    free(im->full_w);
    free(im->is_jpeg);
    im->is_jpeg = jp;
    im->path_at = at;
    im->full_h = fh;
    im->full_w = fw;
  }
  im->n = m;
  return GS_OK;
}

gs_status gs_images_holdout(gs_images *im, int want_test, float frac, uint64_t seed,
                            const char *name) {
  if (!im->labels || im->classes < 1 || im->n < 1) return GS_OK;
  const int64_t n = im->n;
  const int nc = im->classes;
  int64_t *start = calloc((size_t)nc + 1, sizeof(int64_t));
  int64_t *members = malloc(sizeof(int64_t) * (size_t)n);
  uint8_t *test = calloc((size_t)n, 1);
  int64_t *sel = malloc(sizeof(int64_t) * (size_t)n);
  gs_status st = GS_OK;
  if (!start || !members || !test || !sel) {
    st = gs_fail(GS_ERR_NOMEM, "%s: out of memory for the held-out split", name);
    goto done;
  }
  for (int64_t i = 0; i < n; i++) { /* counting sort by class: members of c, in file order */
    int32_t c = im->labels[i];
    if (c < 0 || c >= nc) {
      st = gs_fail(GS_ERR_FORMAT, "%s: sample %lld has label %d outside 0..%d", name, (long long)i,
                   (int)c, nc - 1);
      goto done;
    }
    start[c + 1]++;
  }
  for (int c = 0; c < nc; c++) start[c + 1] += start[c];
  {
    int64_t *fill = sel; /* borrowed as the per-class write cursor */
    memcpy(fill, start, sizeof(int64_t) * (size_t)nc);
    for (int64_t i = 0; i < n; i++) members[fill[im->labels[i]]++] = i;
  }
  for (int c = 0; c < nc; c++) {
    int64_t n_c = start[c + 1] - start[c], held = held_of(n_c, frac);
    uint64_t key = gs_mix64(gs_mix64(seed ^ 0x7e57c1a55ull) + (uint64_t)c);
    for (int64_t p = 0; p < held; p++) test[members[start[c] + gs_epoch_order(p, n_c, key)]] = 1;
  }
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (test[i] == (want_test != 0)) sel[m++] = i;
  if (m == 0) {
    st = gs_fail(GS_ERR_FORMAT, "%s: no class has two images, so nothing can be held out", name);
    goto done;
  }
  uint64_t order = gs_mix64(seed ^ (want_test ? 0x5e1ec7ull : 0x7a1full));
  for (int64_t k = 0; k < m; k++) members[k] = sel[gs_epoch_order(k, m, order)];
  st = keep(im, members, m, name);
done:
  free(start);
  free(members);
  free(test);
  free(sel);
  return st;
}
