/* PNG decoding and encoding with libpng's classic API. Every function that calls into libpng owns
 * a setjmp error path that frees everything it allocated, as libpng's manual asks; colour types and
 * bit depths are normalised by libpng's own transforms, never by hand. */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct png_ctx {
  const uint8_t *buf;
  size_t len, at;
  const char *name;
  int64_t limit;
  int width, height, is_color;
  uint8_t *out;
  char msg[256];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* warnings (bad ancillary chunks, sRGB profiles) do not stop training */
}

static void read_mem(png_structp png, png_bytep out, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->len - c->at) png_error(png, "truncated file");
  memcpy(out, c->buf + c->at, n);
  c->at += n;
}

/* Runs with a single pointer argument so that nothing lives in a register across setjmp. */
static gs_status decode(png_ctx *ctx) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
  if (!png) return gs_fail(GS_ERR_NOMEM, "%s: cannot create a PNG reader", ctx->name);
  png_infop info = png_create_info_struct(png);
  uint8_t *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  volatile gs_status fail_code = GS_ERR_FORMAT;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot create a PNG reader", ctx->name);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(rows);
    return gs_fail(fail_code, "%s: %s", ctx->name, ctx->msg);
  }
  png_set_read_fn(png, ctx, read_mem);
  /* Either side over the pixel budget already breaks it; libpng refuses those in IHDR. */
  png_uint_32 lim = ctx->limit > 0x7fffffff ? 0x7fffffff : (png_uint_32)ctx->limit;
  png_set_user_limits(png, lim, lim);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  if ((int64_t)w * h > ctx->limit) {
    snprintf(ctx->msg, sizeof ctx->msg,
             "image is %ux%u = %lld pixels, over the limit of %lld (decompression-bomb guard)", w,
             h, (long long)w * h, (long long)ctx->limit);
    png_longjmp(png, 1);
  }
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_scale_16(png);
  if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  /* Expanding a palette turns tRNS into an alpha channel; transparency is not a colour. */
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
  if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
      rowbytes != (size_t)w * 3) {
    snprintf(ctx->msg, sizeof ctx->msg, "unexpected layout after conversion to 8-bit RGB");
    png_longjmp(png, 1);
  }
  if (h > SIZE_MAX / rowbytes) {
    snprintf(ctx->msg, sizeof ctx->msg, "%u rows of %zu bytes overflow memory sizes", h, rowbytes);
    png_longjmp(png, 1);
  }
  pixels = malloc(rowbytes * h);
  rows = malloc(sizeof(png_bytep) * h);
  if (!pixels || !rows) {
    fail_code = GS_ERR_NOMEM;
    snprintf(ctx->msg, sizeof ctx->msg, "cannot allocate %zu bytes", rowbytes * h);
    png_longjmp(png, 1);
  }
  for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  ctx->width = (int)w;
  ctx->height = (int)h;
  ctx->is_color = (type & PNG_COLOR_MASK_COLOR) != 0;
  ctx->out = pixels;
  return GS_OK;
}

gs_status gs_png_decode(const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                        gs_png_info *info, uint8_t **rgb) {
  *rgb = NULL;
  if (len < 8 || png_sig_cmp(buf, 0, 8))
    return gs_fail(GS_ERR_FORMAT, "%s: not a PNG file (bad signature)", name);
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.buf = buf;
  ctx.len = len;
  ctx.name = name;
  ctx.limit = max_pixels > 0 ? max_pixels : (int64_t)8192 * 8192;
  snprintf(ctx.msg, sizeof ctx.msg, "unknown error");
  gs_status s = decode(&ctx);
  if (s) return s;
  info->width = ctx.width;
  info->height = ctx.height;
  info->is_color = ctx.is_color;
  *rgb = ctx.out;
  return GS_OK;
}

gs_status gs_png_write(const char *path, const uint8_t *pixels, int width, int height,
                       int channels) {
  if (!path || !pixels || width <= 0 || height <= 0 ||
      (channels != 1 && channels != 3 && channels != 4))
    return gs_fail(GS_ERR_INVALID, "gs_png_write: bad arguments for %s", path ? path : "(null)");
  /* Written beside the target and renamed, so a failed write leaves nothing half-written. */
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 8);
  if (!tmp) return gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
  snprintf(tmp, plen + 8, "%s.tmp", path);
  FILE *volatile f = fopen(tmp, "wb");
  if (!f) {
    gs_status s = gs_fail(GS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    free(tmp);
    return s;
  }
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  snprintf(ctx.msg, sizeof ctx.msg, "unknown error");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    remove(tmp);
    free(tmp);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot create a PNG writer", path);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    remove(tmp);
    free(tmp);
    return gs_fail(GS_ERR_IO, "cannot write %s: %s", path, ctx.msg);
  }
  png_init_io(png, f);
  int type = channels == 1   ? PNG_COLOR_TYPE_GRAY
             : channels == 3 ? PNG_COLOR_TYPE_RGB
                             : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * width * channels);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  int bad = fflush(f) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    gs_status s = gs_fail(GS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    remove(tmp);
    free(tmp);
    return s;
  }
  free(tmp);
  return GS_OK;
}
