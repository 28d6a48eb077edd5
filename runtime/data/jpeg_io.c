/* JPEG decoding with libjpeg-turbo's TurboJPEG API. The header is read first, so the pixel limit
 * refuses a decompression bomb before anything is allocated; a warning (a truncated or corrupt
 * stream that libjpeg would paper over with gray) is an error, as a truncated PNG is. Large images
 * are scaled down inside the decoder (DCT-domain scaling: 1/2, 1/4, 1/8, ...) when the caller needs
 * far fewer pixels, which skips most of the inverse DCT work. */
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

#include "data_internal.h"

/* The smallest of TurboJPEG's scaling factors that keeps the sides at least min_w x min_h. */
static tjscalingfactor pick_scale(int w, int h, int min_w, int min_h) {
  tjscalingfactor best = {1, 1};
  if (min_w <= 0 && min_h <= 0) return best;
  int n = 0;
  tjscalingfactor *f = tjGetScalingFactors(&n);
  for (int k = 0; f && k < n; k++) {
    if (f[k].num > f[k].denom) continue; /* only ever shrink */
    int sw = TJSCALED(w, f[k]), sh = TJSCALED(h, f[k]);
    if (sw >= min_w && sh >= min_h && sw <= TJSCALED(w, best) && sh <= TJSCALED(h, best))
      best = f[k];
  }
  return best;
}

void gs_jpeg_scaled_size(int w, int h, int min_w, int min_h, int *sw, int *sh) {
  tjscalingfactor f = pick_scale(w, h, min_w, min_h);
  *sw = TJSCALED(w, f);
  *sh = TJSCALED(h, f);
}

int gs_is_jpeg(const uint8_t *buf, size_t len) {
  return len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff;
}

gs_status gs_jpeg_decode(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                         int min_w, int min_h, gs_png_info *info, uint8_t **rgb) {
  *rgb = NULL;
  if (max_pixels <= 0) max_pixels = (int64_t)8192 * 8192;
  if (len > (size_t)0xffffffffu) return gs_fail(GS_ERR_FORMAT, "%s: JPEG over 4 GB", name);
  tjhandle tj = tjInitDecompress();
  if (!tj) return gs_fail(GS_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
  int w = 0, h = 0, subsamp = 0, cs = 0;
  gs_status st = GS_OK;
  if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
    st = gs_fail(GS_ERR_FORMAT, "%s: not a readable JPEG: %s", name, tjGetErrorStr2(tj));
  } else if (w < 1 || h < 1) {
    st = gs_fail(GS_ERR_FORMAT, "%s: JPEG of %dx%d pixels", name, w, h);
  } else if ((int64_t)w * h > max_pixels) {
    st = gs_fail(GS_ERR_FORMAT,
                 "%s: image is %dx%d = %lld pixels, over the limit of %lld (decompression-bomb "
                 "guard)",
                 name, w, h, (long long)w * h, (long long)max_pixels);
  } else if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
    st = gs_fail(GS_ERR_FORMAT, "%s: CMYK JPEGs are not supported (convert it to RGB)", name);
  } else {
    tjscalingfactor f = pick_scale(w, h, min_w, min_h);
    int sw = TJSCALED(w, f), sh = TJSCALED(h, f);
    uint8_t *out = malloc((size_t)sw * sh * 3);
    if (!out) {
      st = gs_fail(GS_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, sw, sh);
    } else if (tjDecompress2(tj, buf, (unsigned long)len, out, sw, 0, sh, TJPF_RGB,
                             TJFLAG_STOPONWARNING) != 0) {
      st = gs_fail(GS_ERR_FORMAT, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
      free(out);
    } else {
      info->width = sw;
      info->height = sh;
      info->is_color = cs != TJCS_GRAY;
      *rgb = out;
    }
  }
  tjDestroy(tj);
  return st;
}
