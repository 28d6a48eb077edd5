/* SSL augmentations on one image: random resized crop + flip, colour jitter (random order),
 * random grayscale, Gaussian blur, solarisation, normalisation. Every random draw comes from the
 * counter-based generator keyed by (seed, epoch, sample, view), so results never depend on which
 * thread runs them. Works in float HWC [0, 1] inside caller-provided scratch: no allocation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

size_t gs_augment_scratch(int size, int c) { return 2 * (size_t)size * size * c; }

/* torchvision's RandomResizedCrop box: ten tries at (scale, ratio), then a centred fallback. */
static void crop_box(int h, int w, const gs_view_config *v, gs_rng *r, float *x0, float *y0,
                     float *cw, float *ch) {
  float smin = v->crop_scale_min, smax = v->crop_scale_max;
  if (smax <= 0.0f || smax > 1.0f) smax = 1.0f;
  if (smin <= 0.0f || smin > smax) smin = smax;
  float rmin = v->crop_ratio_min > 0 ? v->crop_ratio_min : 1.0f;
  float rmax = v->crop_ratio_max >= rmin ? v->crop_ratio_max : rmin;
  float area = (float)h * (float)w;
  for (int t = 0; t < 10; t++) {
    float ta = area * gs_rng_range(r, smin, smax);
    float ar = expf(gs_rng_range(r, logf(rmin), logf(rmax)));
    float bw = roundf(sqrtf(ta * ar)), bh = roundf(sqrtf(ta / ar));
    if (bw >= 1 && bh >= 1 && bw <= w && bh <= h) {
      *cw = bw;
      *ch = bh;
      *x0 = floorf(gs_rng_f(r) * (w - bw + 1));
      *y0 = floorf(gs_rng_f(r) * (h - bh + 1));
      return;
    }
  }
  float in_ratio = (float)w / (float)h;
  if (in_ratio < rmin) {
    *cw = (float)w;
    *ch = roundf(w / rmin);
  } else if (in_ratio > rmax) {
    *ch = (float)h;
    *cw = roundf(h * rmax);
  } else {
    *cw = (float)w;
    *ch = (float)h;
  }
  *x0 = floorf((w - *cw) / 2);
  *y0 = floorf((h - *ch) / 2);
}

/* Bilinear resample of the crop box into size x size, mirrored when flipping. */
static void crop_resize(const uint8_t *src, int h, int w, int c, float x0, float y0, float cw,
                        float ch, int flip, int size, float *dst) {
  const float sx = cw / size, sy = ch / size, k = 1.0f / 255.0f;
  for (int y = 0; y < size; y++) {
    float fy = y0 + (y + 0.5f) * sy - 0.5f;
    if (fy < 0) fy = 0;
    if (fy > h - 1) fy = (float)(h - 1);
    int iy = (int)fy, iy1 = iy + 1 < h ? iy + 1 : iy;
    float ay = fy - iy;
    for (int x = 0; x < size; x++) {
      int xo = flip ? size - 1 - x : x;
      float fx = x0 + (xo + 0.5f) * sx - 0.5f;
      if (fx < 0) fx = 0;
      if (fx > w - 1) fx = (float)(w - 1);
      int ix = (int)fx, ix1 = ix + 1 < w ? ix + 1 : ix;
      float ax = fx - ix;
      const uint8_t *p00 = src + ((size_t)iy * w + ix) * c, *p01 = src + ((size_t)iy * w + ix1) * c;
      const uint8_t *p10 = src + ((size_t)iy1 * w + ix) * c,
                    *p11 = src + ((size_t)iy1 * w + ix1) * c;
      float *o = dst + ((size_t)y * size + x) * c;
      for (int ch_ = 0; ch_ < c; ch_++) {
        float top = p00[ch_] + ax * (p01[ch_] - p00[ch_]);
        float bot = p10[ch_] + ax * (p11[ch_] - p10[ch_]);
        o[ch_] = (top + ay * (bot - top)) * k;
      }
    }
  }
}

static float luma(const float *p) { return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }

static void rgb_hue_shift(float *p, float shift) {
  float r = p[0], g = p[1], b = p[2];
  float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
  if (d <= 0.0f) return; /* gray: hue undefined, nothing to rotate */
  float hue;
  if (mx == r)
    hue = (g - b) / d / 6.0f;
  else if (mx == g)
    hue = ((b - r) / d + 2.0f) / 6.0f;
  else
    hue = ((r - g) / d + 4.0f) / 6.0f;
  hue += shift;
  hue -= floorf(hue);
  float s = d / mx, val = mx;
  float hh = hue * 6.0f;
  int i = (int)hh;
  if (i > 5) i = 5;
  float f = hh - i, pp = val * (1 - s), q = val * (1 - s * f), t = val * (1 - s * (1 - f));
  float out[6][3] = {{val, t, pp}, {q, val, pp}, {pp, val, t},
                     {pp, q, val}, {t, pp, val}, {val, pp, q}};
  p[0] = out[i][0];
  p[1] = out[i][1];
  p[2] = out[i][2];
}

static void colour_jitter(float *img, size_t npix, int c, const gs_view_config *v, gs_rng *r) {
  float fb = gs_rng_range(r, fmaxf(0.0f, 1.0f - v->brightness), 1.0f + v->brightness);
  float fc = gs_rng_range(r, fmaxf(0.0f, 1.0f - v->contrast), 1.0f + v->contrast);
  float fs = gs_rng_range(r, fmaxf(0.0f, 1.0f - v->saturation), 1.0f + v->saturation);
  float fh = gs_rng_range(r, -v->hue, v->hue);
  int order[4] = {0, 1, 2, 3};
  for (int k = 3; k > 0; k--) { /* torchvision applies the four in a random order */
    int j = (int)(gs_rng_u64(r) % (uint64_t)(k + 1));
    int t = order[k];
    order[k] = order[j];
    order[j] = t;
  }
  for (int k = 0; k < 4; k++) {
    switch (order[k]) {
    case 0:
      if (v->brightness > 0)
        for (size_t i = 0; i < npix * c; i++) img[i] = clamp01(img[i] * fb);
      break;
    case 1:
      if (v->contrast > 0) {
        double m = 0;
        for (size_t p = 0; p < npix; p++) m += c == 3 ? luma(img + 3 * p) : img[p];
        float mean = (float)(m / (double)npix);
        for (size_t i = 0; i < npix * c; i++) img[i] = clamp01(mean + fc * (img[i] - mean));
      }
      break;
    case 2:
      if (c == 3 && v->saturation > 0)
        for (size_t p = 0; p < npix; p++) {
          float *q = img + 3 * p, g = luma(q);
          for (int ch = 0; ch < 3; ch++) q[ch] = clamp01(g + fs * (q[ch] - g));
        }
      break;
    default:
      if (c == 3 && v->hue > 0)
        for (size_t p = 0; p < npix; p++) rgb_hue_shift(img + 3 * p, fh);
      break;
    }
  }
}

static int reflect(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

static void gaussian_blur(float *img, float *tmp, int size, int c, float sigma) {
  int radius = (int)ceilf(3.0f * sigma);
  if (radius < 1) radius = 1;
  if (radius > 32) radius = 32;
  float k[65], sum = 0;
  for (int i = -radius; i <= radius; i++)
    sum += k[i + radius] = expf(-0.5f * i * i / (sigma * sigma));
  for (int i = 0; i <= 2 * radius; i++) k[i] /= sum;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      for (int ch = 0; ch < c; ch++) {
        float acc = 0;
        for (int i = -radius; i <= radius; i++)
          acc += k[i + radius] * img[((size_t)y * size + reflect(x + i, size)) * c + ch];
        tmp[((size_t)y * size + x) * c + ch] = acc;
      }
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      for (int ch = 0; ch < c; ch++) {
        float acc = 0;
        for (int i = -radius; i <= radius; i++)
          acc += k[i + radius] * tmp[((size_t)reflect(y + i, size) * size + x) * c + ch];
        img[((size_t)y * size + x) * c + ch] = acc;
      }
}

void gs_augment_min_decode(int full_h, int full_w, const gs_view_config *v, gs_rng rng, int *min_h,
                           int *min_w) {
  float x0, y0, cw, ch;
  crop_box(full_h, full_w, v, &rng, &x0, &y0, &cw, &ch);
  double mh = ceil((double)full_h * v->size / ch), mw = ceil((double)full_w * v->size / cw);
  *min_h = mh > full_h ? full_h : (int)mh;
  *min_w = mw > full_w ? full_w : (int)mw;
}

void gs_augment_image(const uint8_t *src, int h, int w, int c, const gs_view_config *v,
                      const float *mean, const float *std, gs_rng *r, float *out, float *scratch) {
  gs_augment_image_scaled(src, h, w, h, w, c, v, mean, std, r, out, scratch);
}

void gs_augment_image_scaled(const uint8_t *src, int h, int w, int full_h, int full_w, int c,
                             const gs_view_config *v, const float *mean, const float *std,
                             gs_rng *r, float *out, float *scratch) {
  const int size = v->size;
  const size_t npix = (size_t)size * size;
  float *img = scratch, *tmp = scratch + npix * c;
  float x0, y0, cw, ch;
  crop_box(full_h, full_w, v, r, &x0, &y0, &cw, &ch);
  if (h != full_h || w != full_w) { /* the box in the decoded image's pixels */
    float sy = (float)h / (float)full_h, sx = (float)w / (float)full_w;
    x0 *= sx;
    cw *= sx;
    y0 *= sy;
    ch *= sy;
  }
  int flip = gs_rng_f(r) < v->flip_p;
  crop_resize(src, h, w, c, x0, y0, cw, ch, flip, size, img);
  if (gs_rng_f(r) < v->jitter_p) colour_jitter(img, npix, c, v, r);
  if (gs_rng_f(r) < v->gray_p && c == 3)
    for (size_t p = 0; p < npix; p++) {
      float g = luma(img + 3 * p);
      img[3 * p] = img[3 * p + 1] = img[3 * p + 2] = g;
    }
  if (gs_rng_f(r) < v->blur_p) {
    float lo = v->blur_sigma_min > 0 ? v->blur_sigma_min : 0.1f;
    float hi = v->blur_sigma_max >= lo ? v->blur_sigma_max : lo;
    gaussian_blur(img, tmp, size, c, gs_rng_range(r, lo, hi));
  }
  if (gs_rng_f(r) < v->solarize_p)
    for (size_t i = 0; i < npix * c; i++)
      if (img[i] >= 0.5f) img[i] = 1.0f - img[i];
  for (int ch_ = 0; ch_ < c; ch_++) {
    float inv = 1.0f / std[ch_], m = mean[ch_];
    float *o = out + (size_t)ch_ * npix;
    for (size_t p = 0; p < npix; p++) o[p] = (img[p * c + ch_] - m) * inv;
  }
}

gs_status gs_augment_sample(const gs_dataset *ds, int64_t i, const gs_view_config *v, uint64_t seed,
                            int64_t epoch, int view, float *out) {
  if (!ds || !v || !out || i < 0 || i >= gs_dataset_size(ds) || v->size < 1 || v->size > 4096)
    return gs_fail(GS_ERR_INVALID, "gs_augment_sample: bad arguments (sample %lld, size %d)",
                   (long long)i, v ? v->size : 0);
  const gs_images *im = gs_dataset_images(ds);
  float mean[4], std[4];
  gs_dataset_norm(ds, mean, std);
  float *scratch = malloc(sizeof(float) * gs_augment_scratch(v->size, im->c));
  if (!scratch) return gs_fail(GS_ERR_NOMEM, "gs_augment_sample: out of memory");
  gs_status s = GS_OK;
  if (im->path_at) { /* streamed: decoded from the file, as the loader does */
    s = gs_stream_view(im, i, v, seed, epoch, view, mean, std, out, scratch);
  } else {
    gs_rng r = gs_rng_make(seed, (uint64_t)epoch, (uint64_t)i, (uint64_t)view);
    size_t img = (size_t)im->h * im->w * im->c;
    gs_augment_image(im->pixels + img * (size_t)i, im->h, im->w, im->c, v, mean, std, &r, out,
                     scratch);
  }
  free(scratch);
  return s;
}

/* ---- recipes ---- */

static gs_view_config base_view(int size, float jitter_sat) {
  gs_view_config v;
  memset(&v, 0, sizeof v);
  v.size = size;
  /* Small images cannot afford 8% crops (a 3x3 patch of a 32x32 image carries nothing). */
  v.crop_scale_min = size <= 64 ? 0.2f : 0.08f;
  v.crop_scale_max = 1.0f;
  v.crop_ratio_min = 3.0f / 4.0f;
  v.crop_ratio_max = 4.0f / 3.0f;
  v.flip_p = 0.5f;
  v.jitter_p = 0.8f;
  v.brightness = 0.4f;
  v.contrast = 0.4f;
  v.saturation = jitter_sat;
  v.hue = 0.1f;
  v.gray_p = 0.2f;
  /* sigma in [0.1, 2] pixels at 224, scaled with the image but never below one pixel. */
  v.blur_sigma_min = 0.1f;
  v.blur_sigma_max = fmaxf(1.0f, 2.0f * size / 224.0f);
  return v;
}

gs_aug_recipe gs_aug_recipe_make(const gs_aug_style *style, int size, int n_views) {
  static const gs_aug_style simclr;
  const gs_aug_style *st = style ? style : &simclr;
  gs_aug_recipe r;
  memset(&r, 0, sizeof r);
  if (size < 1) size = 32;
  if (n_views < 1) n_views = 2;
  if (n_views > GS_MAX_VIEWS) n_views = GS_MAX_VIEWS;
  r.n_views = n_views;
  float local_max = st->local_crop_max > 0 ? st->local_crop_max : 0.4f;
  for (int k = 0; k < n_views; k++) {
    gs_view_config v = base_view(size, st->asymmetric ? 0.2f : 0.4f);
    if (st->asymmetric) { /* BYOL: one view always blurred, the other rarely blurred but solarised
                           */
      v.blur_p = k == 0 ? 1.0f : 0.1f;
      v.solarize_p = k == 0 ? 0.0f : 0.2f;
    } else {
      v.blur_p = st->blur || size > 64 ? 0.5f : 0.0f;
    }
    if (st->global_crop_min > 0 && k < 2) v.crop_scale_min = st->global_crop_min;
    if (k >= 2) { /* extra views are multi-crop's small local crops */
      int small = (size * 96 + 112) / 224;
      v.size = small < 8 ? (size < 8 ? size : 8) : small;
      v.crop_scale_min = 0.05f;
      v.crop_scale_max = local_max;
      v.blur_p = 0.5f;
      v.solarize_p = 0.0f;
    }
    r.views[k] = v;
  }
  return r;
}
