/* Images read from their files when used (streamed folders): the header probe the index is built
 * from at open, and the decode the loader workers run per image. PNG and JPEG are told apart by
 * their signatures, never by the file name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "data_internal.h"

#define MAX_IMAGE_FILE ((size_t)1 << 30)
#define DEFAULT_MAX_PIXELS ((int64_t)8192 * 8192)

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static gs_status size_ok(const char *name, int64_t w, int64_t h, int64_t max_pixels) {
  if (w < 1 || h < 1)
    return gs_fail(GS_ERR_FORMAT, "%s: image of %lldx%lld pixels", name, (long long)w,
                   (long long)h);
  if (w * h > max_pixels)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: image is %lldx%lld = %lld pixels, over the limit of %lld "
                   "(decompression-bomb guard)",
                   name, (long long)w, (long long)h, (long long)(w * h), (long long)max_pixels);
  return GS_OK;
}

gs_status gs_image_probe(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                         gs_png_info *info) {
  if (max_pixels <= 0) max_pixels = DEFAULT_MAX_PIXELS;
  if (len >= 8 && !memcmp(buf, png_sig, 8)) {
    /* The first chunk must be IHDR: length 13, width, height, depth, colour type. */
    if (len < 33 || be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4))
      return gs_fail(GS_ERR_FORMAT, "%s: PNG without a valid IHDR header", name);
    uint32_t w = be32(buf + 16), h = be32(buf + 20);
    int type = buf[25];
    if (type != 0 && type != 2 && type != 3 && type != 4 && type != 6)
      return gs_fail(GS_ERR_FORMAT, "%s: PNG colour type %d is not valid", name, type);
    gs_status s = size_ok(name, w, h, max_pixels);
    if (s) return s;
    info->width = (int)w;
    info->height = (int)h;
    info->is_color = (type & 2) != 0;
    info->is_jpeg = 0;
    return GS_OK;
  }
  if (gs_is_jpeg(buf, len)) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return gs_fail(GS_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
    int w = 0, h = 0, sub = 0, cs = 0;
    gs_status s = GS_OK;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &sub, &cs) != 0)
      s = gs_fail(GS_ERR_FORMAT, "%s: not a readable JPEG: %s", name, tjGetErrorStr2(tj));
    else if (w < 1 || h < 1)
      s = gs_fail(GS_ERR_FORMAT, "%s: not a readable JPEG (no image size in its header)", name);
    else if (cs == TJCS_CMYK || cs == TJCS_YCCK)
      s = gs_fail(GS_ERR_FORMAT, "%s: CMYK JPEGs are not supported (convert it to RGB)", name);
    else
      s = size_ok(name, w, h, max_pixels);
    tjDestroy(tj);
    if (s) return s;
    info->width = w;
    info->height = h;
    info->is_color = cs != TJCS_GRAY;
    info->is_jpeg = 1;
    return GS_OK;
  }
  return gs_fail(GS_ERR_FORMAT, "%s: not a PNG or JPEG file (bad signature)", name);
}

gs_status gs_image_probe_file(const char *path, int64_t max_pixels, gs_png_info *info) {
  enum { PREFIX = 1 << 16 }; /* JPEG headers after large EXIF blocks need the whole file */
  FILE *f = fopen(path, "rb");
  if (!f) return gs_fail(GS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  uint8_t *buf = malloc(PREFIX);
  if (!buf) {
    fclose(f);
    return gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
  }
  size_t n = fread(buf, 1, PREFIX, f);
  int more = n == PREFIX && fgetc(f) != EOF;
  fclose(f);
  gs_status s = gs_image_probe(buf, n, path, max_pixels, info);
  int jpeg = gs_is_jpeg(buf, n);
  free(buf);
  if (s && more && jpeg) {
    uint8_t *all;
    size_t len;
    if ((s = gs_read_file(path, MAX_IMAGE_FILE, &all, &len))) return s;
    s = gs_image_probe(all, len, path, max_pixels, info);
    free(all);
  }
  return s;
}

gs_status gs_image_decode_file(const char *path, int64_t max_pixels, int min_w, int min_h,
                               gs_png_info *info, uint8_t **rgb) {
  uint8_t *buf;
  size_t len;
  *rgb = NULL;
  gs_status s = gs_read_file(path, MAX_IMAGE_FILE, &buf, &len);
  if (s) return s;
  if (gs_is_jpeg(buf, len))
    s = gs_jpeg_decode(buf, len, path, max_pixels, min_w, min_h, info, rgb);
  else if (len >= 8 && !memcmp(buf, png_sig, 8))
    s = gs_png_decode(buf, len, path, max_pixels, info, rgb);
  else
    s = gs_fail(GS_ERR_FORMAT, "%s: not a PNG or JPEG file (bad signature)", path);
  free(buf);
  return s;
}

gs_status gs_images_decode(const gs_images *im, int64_t i, int min_w, int min_h, uint8_t **px,
                           int *h, int *w) {
  if (im->cache_px) { /* a copy of the cached image: no file is read */
    const uint8_t *src;
    gs_status s = gs_image_cache_get(im, i, &src);
    if (s) return s;
    size_t img = (size_t)im->cache_size * im->cache_size * im->c;
    if (!(*px = malloc(img)))
      return gs_fail(GS_ERR_NOMEM, "%s: out of memory", im->paths + im->path_at[i]);
    memcpy(*px, src, img);
    *h = *w = im->cache_size;
    return GS_OK;
  }
  gs_png_info info;
  uint8_t *rgb;
  const char *path = im->paths + im->path_at[i];
  gs_status s = gs_image_decode_file(path, im->max_pixels, min_w, min_h, &info, &rgb);
  if (s) return s;
  size_t npix = (size_t)info.width * info.height;
  if (im->c == 1) /* a gray folder: the decoder expanded gray to three equal channels */
    for (size_t p = 0; p < npix; p++) rgb[p] = rgb[3 * p];
  *px = rgb;
  *h = info.height;
  *w = info.width;
  return GS_OK;
}
