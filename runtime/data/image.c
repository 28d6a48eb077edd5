/* The in-memory image store shared by every data set, resampling and the table-free epoch
 * permutation. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

void gs_images_free(gs_images *im) {
  if (!im) return;
  free(im->pixels);
  free(im->labels);
  free(im->paths);
  free(im->path_at);
  free(im->full_h);
  free(im->full_w);
  free(im->is_jpeg);
  gs_image_cache_close(im);
  memset(im, 0, sizeof *im);
}

gs_status gs_images_append(gs_images *dst, gs_images *src, const char *name) {
  if (dst->n == 0) {
    gs_images_free(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
    return GS_OK;
  }
  if (dst->h != src->h || dst->w != src->w || dst->c != src->c) {
    gs_images_free(src);
    return gs_fail(GS_ERR_FORMAT, "%s: images of a different size than the files before it", name);
  }
  size_t img = (size_t)dst->h * dst->w * dst->c;
  int64_t n = dst->n + src->n;
  uint8_t *px = realloc(dst->pixels, (size_t)n * img);
  if (!px) {
    gs_images_free(src);
    return gs_fail(GS_ERR_NOMEM, "%s: out of memory", name);
  }
  dst->pixels = px;
  memcpy(px + (size_t)dst->n * img, src->pixels, (size_t)src->n * img);
  if (dst->labels || src->labels) {
    int had = dst->labels != NULL;
    int32_t *lab = realloc(dst->labels, sizeof(int32_t) * (size_t)n);
    if (!lab) {
      gs_images_free(src);
      return gs_fail(GS_ERR_NOMEM, "%s: out of memory", name);
    }
    if (!had)
      for (int64_t i = 0; i < dst->n; i++) lab[i] = -1;
    for (int64_t i = 0; i < src->n; i++) lab[dst->n + i] = src->labels ? src->labels[i] : -1;
    dst->labels = lab;
  }
  if (src->classes > dst->classes) dst->classes = src->classes;
  dst->n = n;
  gs_images_free(src);
  return GS_OK;
}

/* One axis of a separable triangle filter whose support widens with the shrink factor, so
 * shrinking averages every source pixel (no aliasing) and enlarging is plain bilinear. */
typedef struct taps {
  int first, count;
  float w[64];
} taps;

static void axis_taps(int in, int out, int o, taps *t) {
  float scale = (float)in / (float)out;
  float support = scale > 1.0f ? scale : 1.0f;
  float center = ((float)o + 0.5f) * scale - 0.5f;
  int lo = (int)floorf(center - support) + 1, hi = (int)floorf(center + support);
  if (hi - lo + 1 > 64) { /* extreme shrink: keep the central taps */
    int mid = (int)floorf(center);
    lo = mid - 31;
    hi = mid + 32;
  }
  float sum = 0;
  t->first = lo;
  t->count = hi - lo + 1;
  for (int k = 0; k < t->count; k++) {
    float d = fabsf((float)(lo + k) - center) / support;
    float wt = d < 1.0f ? 1.0f - d : 0.0f;
    t->w[k] = wt;
    sum += wt;
  }
  if (sum <= 0) {
    t->count = 1;
    t->w[0] = 1;
    sum = 1;
  }
  for (int k = 0; k < t->count; k++) t->w[k] /= sum;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void gs_resize_u8(const uint8_t *src, int h, int w, int c, uint8_t *dst, int oh, int ow) {
  if (h == oh && w == ow) {
    memcpy(dst, src, (size_t)h * w * c);
    return;
  }
  /* Horizontal pass into a float row buffer per output row, then vertical. */
  float *tmp = malloc(sizeof(float) * (size_t)h * ow * c);
  if (!tmp) { /* nearest neighbour needs no memory */
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++)
        memcpy(dst + ((size_t)y * ow + x) * c,
               src + ((size_t)(y * h / oh) * w + (size_t)x * w / ow) * c, (size_t)c);
    return;
  }
  taps t;
  for (int x = 0; x < ow; x++) {
    axis_taps(w, ow, x, &t);
    for (int y = 0; y < h; y++)
      for (int ch = 0; ch < c; ch++) {
        float acc = 0;
        for (int k = 0; k < t.count; k++)
          acc += t.w[k] * src[((size_t)y * w + clampi(t.first + k, 0, w - 1)) * c + ch];
        tmp[((size_t)y * ow + x) * c + ch] = acc;
      }
  }
  for (int y = 0; y < oh; y++) {
    axis_taps(h, oh, y, &t);
    for (int x = 0; x < ow; x++)
      for (int ch = 0; ch < c; ch++) {
        float acc = 0;
        for (int k = 0; k < t.count; k++)
          acc += t.w[k] * tmp[((size_t)clampi(t.first + k, 0, h - 1) * ow + x) * c + ch];
        int v = (int)lrintf(acc);
        dst[((size_t)y * ow + x) * c + ch] = (uint8_t)clampi(v, 0, 255);
      }
  }
  free(tmp);
}

int64_t gs_epoch_order(int64_t pos, int64_t n, uint64_t key) {
  if (n <= 1) return 0;
  int bits = 0;
  while (((int64_t)1 << bits) < n) bits++;
  if (bits & 1) bits++; /* balanced halves; the domain is under 4n, so walks stay short */
  int half = bits / 2;
  uint64_t mask = ((uint64_t)1 << half) - 1, x = (uint64_t)pos;
  do {
    uint64_t l = x >> half, r = x & mask;
    for (int round = 0; round < 4; round++) {
      uint64_t f = gs_mix64(r ^ gs_mix64(key + (uint64_t)round)) & mask;
      uint64_t nl = r;
      r = l ^ f;
      l = nl;
    }
    x = l << half | r;
  } while (x >= (uint64_t)n);
  return (int64_t)x;
}
