/* Every valid PNG variant loads through folder:DIR with the expected pixels: gray 1/4/8/16-bit,
 * gray+alpha, RGB 8/16-bit, RGBA, palette (with transparency), interlaced, other sizes resized;
 * mixed gray/colour folders become RGB; class folders are labelled in sorted order. */
#include <png.h>
#include <stdint.h>

#include "check.h"
#include "fixtures.h"
#include "gessl/data.h"

#define S 8 /* test images are S x S unless a case says otherwise */

static int gray_of(int x, int y) { return (x * 29 + y * 7) & 255; }
static int rgb_of(int x, int y, int c) {
  return c == 0 ? (x * 37 + y * 11) & 255 : c == 1 ? (x * 5 + y * 53) & 255 : (x * x + y) & 255;
}

static png_color palette[16];
static png_byte trns[16];

/* Value of channel c of pixel (x, y) in the file's own sample depth. */
static unsigned sample(int type, int depth, int x, int y, int c) {
  switch (type) {
  case PNG_COLOR_TYPE_GRAY:
  case PNG_COLOR_TYPE_GRAY_ALPHA:
    if (c == 1) return (unsigned)(x * 30 + y) & (depth == 16 ? 0xffff : 0xff); /* alpha */
    return depth == 16  ? gray_of(x, y) * 257u
           : depth == 8 ? (unsigned)gray_of(x, y)
                        : (unsigned)gray_of(x, y) >> (8 - depth);
  case PNG_COLOR_TYPE_PALETTE: return (unsigned)(x + 3 * y) % 16;
  default:
    if (c == 3) return (unsigned)(x * 17 + y * 3) & 255; /* alpha */
    return depth == 16 ? rgb_of(x, y, c) * 257u : (unsigned)rgb_of(x, y, c);
  }
}

static int write_png(const char *rel, int w, int h, int type, int depth, int interlace) {
  FILE *f = fopen(fx_path(rel), "wb");
  if (!f) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  uint8_t *volatile row = NULL;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
    return -1;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (type == PNG_COLOR_TYPE_PALETTE) {
    png_set_PLTE(png, info, palette, 16);
    png_set_tRNS(png, info, trns, 16, NULL);
  }
  png_write_info(png, info);
  int ch = png_get_channels(png, info);
  row = calloc((size_t)w * ch * 2 + 8, 1);
  int passes = png_set_interlace_handling(png);
  for (int pass = 0; pass < passes; pass++)
    for (int y = 0; y < h; y++) {
      memset(row, 0, (size_t)w * ch * 2 + 8);
      for (int x = 0; x < w; x++)
        for (int c = 0; c < ch; c++) {
          unsigned v = sample(type, depth, x, y, c);
          size_t k = (size_t)x * ch + c;
          if (depth == 16) {
            row[2 * k] = (uint8_t)(v >> 8);
            row[2 * k + 1] = (uint8_t)v;
          } else if (depth == 8) {
            row[k] = (uint8_t)v;
          } else { /* packed, most significant bits first */
            size_t bit = k * (size_t)depth;
            row[bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8));
          }
        }
      png_write_row(png, row);
    }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  free(row);
  fclose(f);
  return 0;
}

/* Expected 8-bit value of channel c (c < 3) after loading, for a colour or gray variant. */
static int expected(int type, int depth, int x, int y, int c) {
  if (type == PNG_COLOR_TYPE_PALETTE) {
    png_color p = palette[sample(type, depth, x, y, 0)];
    return c == 0 ? p.red : c == 1 ? p.green : p.blue;
  }
  if (!(type & PNG_COLOR_MASK_COLOR)) {
    unsigned v = sample(type, depth, x, y, 0);
    return depth == 16  ? (int)(v / 257)
           : depth == 8 ? (int)v
                        : (int)(v * 255 / ((1u << depth) - 1));
  }
  return rgb_of(x, y, c);
}

static void check_variant(const char *label, int type, int depth, int interlace) {
  char dir[64], file[96];
  snprintf(dir, sizeof dir, "v_%s", label);
  snprintf(file, sizeof file, "%s/img.png", dir);
  fx_mkdir(dir);
  CHECKF(write_png(file, S, S, type, depth, interlace) == 0, "%s: writing the fixture", label);
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path(dir));
  gs_dataset_options o = {.image_size = S};
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "%s: %s", label, gs_errmsg());
  if (!ds) return;
  int color = (type & PNG_COLOR_MASK_COLOR) != 0;
  CHECKF(gs_dataset_size(ds) == 1 && gs_dataset_height(ds) == S && gs_dataset_width(ds) == S,
         "%s: size", label);
  CHECKF(gs_dataset_channels(ds) == (color ? 3 : 1), "%s: %d channels", label,
         gs_dataset_channels(ds));
  CHECKF(gs_dataset_classes(ds) == 0, "%s: a flat folder is unlabelled", label);
  uint8_t px[S * S * 3];
  int32_t lab = 7;
  CHECK(gs_dataset_get(ds, 0, px, &lab) == GS_OK && lab == -1);
  int bad = 0, C = gs_dataset_channels(ds);
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++)
      for (int c = 0; c < C; c++)
        if (px[(y * S + x) * C + c] != expected(type, depth, x, y, c)) {
          if (!bad)
            fprintf(stderr, "%s: pixel (%d,%d,%d) = %d, expected %d\n", label, x, y, c,
                    px[(y * S + x) * C + c], expected(type, depth, x, y, c));
          bad++;
        }
  CHECKF(bad == 0, "%s: %d wrong pixel values", label, bad);
  gs_dataset_close(ds);
}

static void check_resize_and_mix(void) {
  /* A 16x12 and a 5x7 RGB image of one colour each, resized to 8x8: still that colour. */
  fx_mkdir("resize");
  for (int k = 0; k < 2; k++) {
    int w = k ? 5 : 16, h = k ? 7 : 12;
    uint8_t buf[16 * 12 * 3];
    for (int p = 0; p < w * h; p++) {
      buf[3 * p] = 10;
      buf[3 * p + 1] = 200;
      buf[3 * p + 2] = (uint8_t)(30 + k);
    }
    CHECK(fx_write_rgb_png(k ? "resize/b.png" : "resize/a.png", w, h, buf) == 0);
  }
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path("resize"));
  gs_dataset_options o = {.image_size = 8};
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "resize: %s", gs_errmsg());
  if (ds) {
    CHECK(gs_dataset_size(ds) == 2 && gs_dataset_channels(ds) == 3 && gs_dataset_height(ds) == 8);
    uint8_t px[8 * 8 * 3];
    int bad = 0;
    for (int k = 0; k < 2; k++) {
      gs_dataset_get(ds, k, px, NULL);
      for (int p = 0; p < 64; p++)
        bad += px[3 * p] != 10 || px[3 * p + 1] != 200 || px[3 * p + 2] != 30 + k;
    }
    CHECKF(bad == 0, "resize: %d pixels changed colour", bad);
    gs_dataset_close(ds);
  }
  /* Gray next to colour: the folder becomes RGB and the gray image is replicated. */
  fx_mkdir("mixed");
  CHECK(write_png("mixed/a.png", S, S, PNG_COLOR_TYPE_GRAY, 8, 0) == 0);
  CHECK(write_png("mixed/b.png", S, S, PNG_COLOR_TYPE_RGB, 8, 0) == 0);
  snprintf(spec, sizeof spec, "folder:%s", fx_path("mixed"));
  o.image_size = S;
  ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "mixed: %s", gs_errmsg());
  if (ds) {
    CHECK(gs_dataset_channels(ds) == 3 && gs_dataset_size(ds) == 2);
    uint8_t px[S * S * 3];
    gs_dataset_get(ds, 0, px, NULL);
    CHECK(px[3 * 9] == gray_of(1, 1) && px[3 * 9 + 1] == gray_of(1, 1) &&
          px[3 * 9 + 2] == gray_of(1, 1));
    gs_dataset_get(ds, 1, px, NULL);
    CHECK(px[3 * 9] == rgb_of(1, 1, 0) && px[3 * 9 + 2] == rgb_of(1, 1, 2));
    gs_dataset_close(ds);
  }
}

static void check_labelled(void) {
  static const char *const files[] = {"lab/cat/x1.png", "lab/cat/x0.png", "lab/ant/z.png",
                                      "lab/dog/a.png"};
  fx_mkdir("lab");
  fx_mkdir("lab/cat");
  fx_mkdir("lab/ant");
  fx_mkdir("lab/dog");
  for (int k = 0; k < 4; k++) CHECK(write_png(files[k], S, S, PNG_COLOR_TYPE_RGB, 8, 0) == 0);
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path("lab"));
  gs_dataset_options whole = {0};
  whole.holdout = -1; /* no held-out split: the folder as it is */
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &whole);
  CHECKF(ds != NULL, "labelled: %s", gs_errmsg());
  if (!ds) return;
  CHECK(gs_dataset_classes(ds) == 3 && gs_dataset_size(ds) == 4);
  CHECK(gs_dataset_height(ds) == 32); /* the default training size */
  int32_t want[4] = {0, 1, 1, 2}, lab;
  for (int k = 0; k < 4; k++) {
    gs_dataset_get(ds, k, NULL, &lab);
    CHECKF(lab == want[k], "sample %d label %d, expected %d", k, lab, want[k]);
  }
  gs_dataset_close(ds);
  /* By default one of cat's two images is held out; ant and dog, with one each, stay in train. */
  ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, NULL);
  CHECK(ds && gs_dataset_size(ds) == 3 && gs_dataset_classes(ds) == 3);
  gs_dataset_close(ds);
  ds = gs_dataset_open(spec, GS_SPLIT_TEST, NULL);
  CHECK(ds && gs_dataset_size(ds) == 1);
  if (ds) {
    gs_dataset_get(ds, 0, NULL, &lab);
    CHECK(lab == 1);
  }
  gs_dataset_close(ds);
  /* An unlabelled folder has nothing to hold out. */
  snprintf(spec, sizeof spec, "folder:%s", fx_path("v_rgb8"));
  CHECK(gs_dataset_open(spec, GS_SPLIT_TEST, NULL) == NULL);
  CHECKF(fx_contains(gs_errmsg(), "no test split"), "%s", gs_errmsg());
}

int main(void) {
  fx_init();
  for (int i = 0; i < 16; i++) {
    palette[i].red = (png_byte)(i * 16);
    palette[i].green = (png_byte)(255 - i * 16);
    palette[i].blue = (png_byte)(i * 7);
    trns[i] = (png_byte)(i * 17);
  }
  check_variant("gray1", PNG_COLOR_TYPE_GRAY, 1, 0);
  check_variant("gray4", PNG_COLOR_TYPE_GRAY, 4, 0);
  check_variant("gray8", PNG_COLOR_TYPE_GRAY, 8, 0);
  check_variant("gray16", PNG_COLOR_TYPE_GRAY, 16, 0);
  check_variant("gray_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0);
  check_variant("gray_alpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0);
  check_variant("rgb8", PNG_COLOR_TYPE_RGB, 8, 0);
  check_variant("rgb16", PNG_COLOR_TYPE_RGB, 16, 0);
  check_variant("rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0);
  check_variant("rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0);
  check_variant("palette8", PNG_COLOR_TYPE_PALETTE, 8, 0);
  check_variant("palette4", PNG_COLOR_TYPE_PALETTE, 4, 0);
  check_variant("interlaced_rgb8", PNG_COLOR_TYPE_RGB, 8, 1);
  check_variant("interlaced_gray16", PNG_COLOR_TYPE_GRAY, 16, 1);
  check_variant("interlaced_palette", PNG_COLOR_TYPE_PALETTE, 8, 1);
  check_resize_and_mix();
  check_labelled();
  return check_summary();
}
