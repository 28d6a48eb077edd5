/* Frozen features: one compiled eval-mode forward program per input shape, fed batch by batch
 * from host images that are first adapted to what the backbone takes (channels, size). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

void gs_features_free(gs_features *f) {
  if (!f) return;
  free(f->x);
  free(f->labels);
  memset(f, 0, sizeof *f);
}

int gs_model_in_channels(const gs_model *m) {
  const gs_pset *p = gs_model_params(m);
  if (!p || gs_pset_count(p) < 1) return 0;
  gs_shape s = gs_param_shape(gs_pset_get(p, 0));
  return s.rank == 4 ? (int)s.dim[1] : 0;
}

/* Bilinear resize of one plane with half-pixel centres (torch's align_corners=False, no
 * antialiasing), so a torch user resizing the same way sees the same input. */
static void resize_plane(const float *src, int h, int w, float *dst, int oh, int ow) {
  double sy = (double)h / oh, sx = (double)w / ow;
  for (int y = 0; y < oh; y++) {
    double fy = ((double)y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
    float ly = (float)(fy - y0);
    for (int x = 0; x < ow; x++) {
      double fx = ((double)x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
      float lx = (float)(fx - x0);
      float top = src[y0 * w + x0] * (1 - lx) + src[y0 * w + x1] * lx;
      float bot = src[y1 * w + x0] * (1 - lx) + src[y1 * w + x1] * lx;
      dst[y * ow + x] = top * (1 - ly) + bot * ly;
    }
  }
}

gs_status eval_adapt_images(const float *x, int64_t n, int c, int h, int w, int mc, int size,
                            float *out) {
  if (c != mc && !(c == 1 && mc == 3) && !(c == 3 && mc == 1))
    return gs_fail(GS_ERR_SHAPE,
                   "eval: images have %d channels, the backbone takes %d (only 1 <-> 3 convert)", c,
                   mc);
  size_t plane = (size_t)h * (size_t)w, oplane = (size_t)size * (size_t)size;
  float *tmp = NULL;
  if (c == 3 && mc == 1) {
    tmp = malloc(plane * sizeof *tmp);
    if (!tmp) return gs_fail(GS_ERR_NOMEM, "eval: out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    const float *img = x + (size_t)i * (size_t)c * plane;
    float *o = out + (size_t)i * (size_t)mc * oplane;
    for (int ch = 0; ch < mc; ch++) {
      const float *src;
      if (c == mc) {
        src = img + (size_t)ch * plane;
      } else if (c == 1) {
        src = img; /* gray to RGB: the same plane in every channel */
      } else {
        for (size_t p = 0; p < plane; p++)
          tmp[p] = 0.299f * img[p] + 0.587f * img[plane + p] + 0.114f * img[2 * plane + p];
        src = tmp;
      }
      if (size == h && size == w)
        memcpy(o + (size_t)ch * oplane, src, plane * sizeof *o);
      else
        resize_plane(src, h, w, o + (size_t)ch * oplane, size, size);
    }
  }
  free(tmp);
  return GS_OK;
}

void eval_fwd_free(eval_fwd *f) {
  gs_program_free(f->prog);
  gs_graph_free(f->g);
  free(f->buf);
  free(f->fbuf);
  memset(f, 0, sizeof *f);
}

gs_status eval_fwd_init(eval_fwd *f, gs_device *dev, gs_model *m, int batch, int size) {
  memset(f, 0, sizeof *f);
  f->batch = batch;
  f->mc = gs_model_in_channels(m);
  f->size = size;
  f->d = gs_model_feat_dim(m);
  size_t per = (size_t)f->mc * (size_t)size * (size_t)size;
  f->buf = calloc((size_t)batch * per, sizeof *f->buf);
  f->fbuf = malloc((size_t)batch * (size_t)f->d * sizeof *f->fbuf);
  f->g = gs_graph_new();
  if (!f->buf || !f->fbuf || !f->g) {
    eval_fwd_free(f);
    return gs_fail(GS_ERR_NOMEM, "eval: out of memory");
  }
  f->in = gs_input(f->g, "images", GS_F32, GS_SHAPE(batch, f->mc, size, size));
  f->feat = gs_model_forward(m, f->g, f->in, 0);
  if (gs_graph_status(f->g) != GS_OK) {
    gs_status st = gs_fail(gs_graph_status(f->g), "eval: forward: %s", gs_graph_error(f->g));
    eval_fwd_free(f);
    return st;
  }
  f->prog = gs_compile(dev, f->g, &f->feat, 1);
  if (!f->prog) {
    gs_status st = eval_wrap(GS_ERR_BACKEND, "eval: compiling the forward program");
    eval_fwd_free(f);
    return st;
  }
  return GS_OK;
}

gs_status eval_fwd_run(eval_fwd *f, const float *x, int64_t n, int c, int h, int w, float *out) {
  size_t per = (size_t)f->mc * (size_t)f->size * (size_t)f->size;
  gs_status st = GS_OK;
  for (int64_t at = 0; at < n && st == GS_OK; at += f->batch) {
    int64_t k = n - at < f->batch ? n - at : f->batch;
    /* A short last batch is zero-padded: eval-mode BN treats rows independently. */
    if (k < f->batch) memset(f->buf, 0, (size_t)f->batch * per * sizeof *f->buf);
    st = eval_adapt_images(x + (size_t)at * (size_t)c * (size_t)h * (size_t)w, k, c, h, w, f->mc,
                           f->size, f->buf);
    if (st == GS_OK) st = gs_program_feed(f->prog, f->in, f->buf);
    if (st == GS_OK) st = gs_program_run(f->prog);
    if (st == GS_OK) st = gs_program_fetch(f->prog, f->feat, f->fbuf);
    if (st == GS_OK)
      memcpy(out + (size_t)at * (size_t)f->d, f->fbuf, (size_t)k * (size_t)f->d * sizeof *out);
  }
  return st;
}

static gs_status check_square(int h, int w, int image_size) {
  if (image_size <= 0 && h != w)
    return gs_fail(GS_ERR_SHAPE, "eval: images are %dx%d; give an image size to make them square",
                   h, w);
  return GS_OK;
}

gs_status gs_eval_forward(gs_device *dev, gs_model *m, const float *x, int64_t n, int c, int h,
                          int w, int image_size, int batch, float *out) {
  if (!dev || !m || (!x && n > 0) || (!out && n > 0) || n < 0 || c < 1 || h < 1 || w < 1)
    return gs_fail(GS_ERR_INVALID, "gs_eval_forward: missing argument or bad size");
  if (n == 0) return GS_OK;
  gs_status st = check_square(h, w, image_size);
  if (st != GS_OK) return st;
  if (batch <= 0) batch = 256;
  if (batch > n) batch = (int)n;
  eval_fwd f;
  st = eval_fwd_init(&f, dev, m, batch, image_size > 0 ? image_size : h);
  if (st != GS_OK) return st;
  st = eval_fwd_run(&f, x, n, c, h, w, out);
  eval_fwd_free(&f);
  return st;
}

gs_status gs_extract_features(gs_device *dev, gs_model *m, const gs_dataset *ds,
                              const gs_feat_options *opt, gs_features *out) {
  if (!dev || !m || !ds || !out) return gs_fail(GS_ERR_INVALID, "gs_extract_features: argument");
  memset(out, 0, sizeof *out);
  gs_feat_options o = {0};
  if (opt) o = *opt;
  int64_t total = gs_dataset_size(ds);
  if (o.start < 0 || o.start > total)
    return gs_fail(GS_ERR_INVALID, "eval: start %lld outside %s (%lld images)", (long long)o.start,
                   gs_dataset_name(ds), (long long)total);
  int64_t n = total - o.start;
  if (o.limit > 0 && o.limit < n) n = o.limit;
  int c = gs_dataset_channels(ds), h = gs_dataset_height(ds), w = gs_dataset_width(ds);
  int64_t d = gs_model_feat_dim(m);
  int batch = o.batch > 0 ? o.batch : 256;
  if (batch > n) batch = n > 0 ? (int)n : 1;
  size_t per = (size_t)c * (size_t)h * (size_t)w;
  /* Images are decoded a chunk at a time so a large data set never sits in memory as floats. */
  int64_t chunk = (int64_t)batch * 16;
  float *imgs = malloc((size_t)(chunk < n ? chunk : n > 0 ? n : 1) * per * sizeof *imgs);
  out->x = malloc((size_t)(n > 0 ? n : 1) * (size_t)d * sizeof *out->x);
  out->labels = malloc((size_t)(n > 0 ? n : 1) * sizeof *out->labels);
  if (!imgs || !out->x || !out->labels) {
    free(imgs);
    gs_features_free(out);
    return gs_fail(GS_ERR_NOMEM, "eval: out of memory for %lld features", (long long)n);
  }
  out->n = n;
  out->d = d;
  eval_fwd f;
  gs_status st = check_square(h, w, o.image_size);
  if (st == GS_OK && n > 0)
    st = eval_fwd_init(&f, dev, m, batch, o.image_size > 0 ? o.image_size : h);
  for (int64_t at = 0; at < n && st == GS_OK; at += chunk) {
    int64_t k = n - at < chunk ? n - at : chunk;
    st = gs_dataset_batch_plain(ds, o.start + at, k, imgs, out->labels + at);
    if (st == GS_OK) st = eval_fwd_run(&f, imgs, k, c, h, w, out->x + (size_t)at * (size_t)d);
    if (st != GS_OK || at + chunk >= n) eval_fwd_free(&f);
  }
  free(imgs);
  if (st != GS_OK) {
    gs_features_free(out);
    return st;
  }
  int classes = gs_dataset_classes(ds);
  for (int64_t i = 0; i < n; i++)
    if (out->labels[i] >= classes) classes = out->labels[i] + 1;
  out->classes = classes;
  return GS_OK;
}
