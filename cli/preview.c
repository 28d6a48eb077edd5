/* gessl preview: writes a PNG grid of data-set images (first column) beside the augmented views
 * the chosen method's recipe makes of them, so the augmentations can be checked by eye before a
 * long run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gessl/method.h"
#include "gessl/runtime.h"

static const char usage[] =
    "usage: gessl preview --data SPEC --out FILE.png [options]\n"
    "\n"
    "Writes a PNG grid: one row per image, the original first, then each augmented view\n"
    "(denormalised) as the training loader makes it.\n"
    "\n"
    "  --data SPEC     data set: fashion-mnist, digits[:FILE], idx:DIR, cifar10:DIR,\n"
    "                  cifar100:DIR, folder:DIR, synthetic or synthetic:HxWxC (required)\n"
    "  --out FILE      PNG file to write (required)\n"
    "  --method NAME   augmentation recipe of this method plugin, as it trains ('gessl\n"
    "                  methods' lists them; default simclr)\n"
    "  --count N       images (rows), 1..64 (default 8)\n"
    "  --views N       views per image, 1..8; beyond 2 are multi-crop's small crops (default 2)\n"
    "  --seed N        augmentation seed, an unsigned integer (default 0)\n"
    "  --epoch N       epoch whose views to show, >= 0 (default 0)\n"
    "  --size N        view size in pixels, 4..1024 (default: the data set's image size)\n"
    "  --image-size N  size folder images are resized to, 4..4096 (default 32)\n"
    "  --image-cache FILE  decode-once cache of the folder at --image-size (as gessl train\n"
    "                  --image-cache: built when missing or stale, then read without decoding)\n"
    "  --split NAME    train or test (default train)\n"
    "  --scale N       enlarge every pixel N times, 1..16 (default: cells of about 96 pixels)\n"
    "  --help          show this help\n";

static int bad_usage(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "gessl preview: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, " (see gessl preview --help)\n");
  return 2;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s == '-' || *s == '\0') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

typedef struct preview_opts {
  const char *data, *out, *method, *image_cache;
  long long count, views, epoch, size, image_size, scale;
  uint64_t seed;
  gs_split split;
} preview_opts;

static int parse_args(int argc, char **argv, preview_opts *o) {
  static const struct {
    const char *name;
    long long lo, hi;
  } ints[] = {{"--count", 1, 64},  {"--views", 1, GS_MAX_VIEWS}, {"--epoch", 0, 1000000000},
              {"--size", 4, 1024}, {"--image-size", 4, 4096},    {"--scale", 1, 16}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = NULL;
    char name[32];
    const char *eq = strchr(a, '=');
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0) return bad_usage("unexpected argument '%s'%s", a, "");
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    if (n >= sizeof name) return bad_usage("unknown option '%s'%s", a, "");
    memcpy(name, a, n);
    name[n] = '\0';
    if (eq)
      val = eq + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    int known = 0;
    long long *targets[] = {&o->count, &o->views, &o->epoch, &o->size, &o->image_size, &o->scale};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
      if (!strcmp(name, ints[k].name)) {
        known = 1;
        if (!val) return bad_usage("%s needs a value%s", name, "");
        if (parse_int(val, ints[k].lo, ints[k].hi, targets[k])) {
          fprintf(stderr,
                  "gessl preview: %s: expected an integer in %lld..%lld, got '%s' (see gessl "
                  "preview --help)\n",
                  name, ints[k].lo, ints[k].hi, val);
          return 2;
        }
      }
    if (known) continue;
    if (!strcmp(name, "--data") || !strcmp(name, "--out") || !strcmp(name, "--method") ||
        !strcmp(name, "--seed") || !strcmp(name, "--split") || !strcmp(name, "--image-cache")) {
      if (!val || !*val) return bad_usage("%s needs a value%s", name, "");
      if (!strcmp(name, "--data")) o->data = val;
      if (!strcmp(name, "--out")) o->out = val;
      if (!strcmp(name, "--method")) o->method = val;
      if (!strcmp(name, "--image-cache")) o->image_cache = val;
      if (!strcmp(name, "--seed") && parse_u64(val, &o->seed))
        return bad_usage("--seed: expected an unsigned integer, got '%s'%s", val, "");
      if (!strcmp(name, "--split")) {
        if (!strcmp(val, "train"))
          o->split = GS_SPLIT_TRAIN;
        else if (!strcmp(val, "test"))
          o->split = GS_SPLIT_TEST;
        else
          return bad_usage("--split: expected train or test, got '%s'%s", val, "");
      }
      continue;
    }
    return bad_usage("unknown option '%s'%s", name, "");
  }
  if (!o->data) return bad_usage("--data is required%s%s", "", "");
  if (!o->out) return bad_usage("--out is required%s%s", "", "");
  return 0;
}

static uint8_t to_byte(float v) {
  float b = v * 255.0f + 0.5f;
  return (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
}

/* Draws a CHW float image (already in [0, 1]) at (x0, y0) of the RGB canvas, scaled. */
static void blit(uint8_t *canvas, int cw, const float *chw, int c, int h, int w, int x0, int y0,
                 int scale) {
  for (int y = 0; y < h * scale; y++)
    for (int x = 0; x < w * scale; x++)
      for (int ch = 0; ch < 3; ch++) {
        float v = chw[(size_t)(c == 3 ? ch : 0) * h * w + (size_t)(y / scale) * w + x / scale];
        canvas[((size_t)(y0 + y) * cw + x0 + x) * 3 + ch] = to_byte(v);
      }
}

static void on_note(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "gessl preview: %s\n", line);
}

int gs_cli_preview(int argc, char **argv) {
  preview_opts o = {NULL, NULL, "simclr", NULL, 8, 2, 0, 0, 0, 0, 0, GS_SPLIT_TRAIN};
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;
  gs_dataset_options dopt = {0};
  dopt.image_size = (int)o.image_size;
  dopt.cache = o.image_cache;
  dopt.log = on_note;
  gs_dataset *ds = gs_dataset_open(o.data, o.split, &dopt);
  if (!ds) {
    fprintf(stderr, "gessl preview: %s\n", gs_errmsg());
    return 1;
  }
  const int H = gs_dataset_height(ds), W = gs_dataset_width(ds), C = gs_dataset_channels(ds);
  int count = (int)(o.count < gs_dataset_size(ds) ? o.count : gs_dataset_size(ds));
  int size = o.size ? (int)o.size : (H > W ? H : W);
  /* The method's own recipe (its views member, default settings); views beyond its count are
   * generic multi-crop local crops. */
  gs_aug_recipe r, extra = gs_aug_recipe_make(NULL, size, (int)o.views);
  gs_runtime_options ropt = {NULL, 1, NULL};
  gs_runtime *rt = gs_runtime_open(&ropt);
  const gs_method_iface *m = rt ? gs_runtime_method(rt, o.method) : NULL;
  if (!m || gs_method_views(m, NULL, size, &r) != GS_OK) {
    fprintf(stderr, "gessl preview: --method %s: %s\n", o.method, gs_errmsg());
    gs_runtime_close(rt);
    gs_dataset_close(ds);
    return 2;
  }
  gs_runtime_close(rt);
  for (int v = r.n_views; v < (int)o.views; v++) r.views[v] = extra.views[v];
  r.n_views = (int)o.views;
  int cell = H > W ? H : W;
  for (int v = 0; v < r.n_views; v++)
    if (r.views[v].size > cell) cell = r.views[v].size;
  int scale = o.scale ? (int)o.scale : (96 + cell - 1) / cell;
  if (scale > 16) scale = 16;
  const int pad = 4, cols = 1 + r.n_views, cs = cell * scale;
  const int cw = pad + cols * (cs + pad), chh = pad + count * (cs + pad);
  float mean[4], std[4];
  gs_dataset_norm(ds, mean, std);
  uint8_t *canvas = malloc((size_t)cw * chh * 3), *px = malloc((size_t)H * W * C);
  float *buf = malloc(sizeof(float) * (size_t)C * (cell > H ? cell : H) * (cell > W ? cell : W));
  if (!canvas || !px || !buf) {
    fprintf(stderr, "gessl preview: out of memory for a %dx%d grid\n", cw, chh);
    rc = 1;
    goto done;
  }
  memset(canvas, 255, (size_t)cw * chh * 3);
  for (int i = 0; i < count && !rc; i++) {
    int64_t sample = (int64_t)i * gs_dataset_size(ds) / count; /* spread over the data set */
    int y0 = pad + i * (cs + pad);
    gs_dataset_get(ds, sample, px, NULL);
    for (int c = 0; c < C; c++)
      for (int p = 0; p < H * W; p++) buf[(size_t)c * H * W + p] = px[(size_t)p * C + c] / 255.0f;
    blit(canvas, cw, buf, C, H, W, pad, y0, scale);
    for (int v = 0; v < r.n_views && !rc; v++) {
      const gs_view_config *vc = &r.views[v];
      if (gs_augment_sample(ds, sample, vc, o.seed, o.epoch, v, buf)) {
        fprintf(stderr, "gessl preview: %s\n", gs_errmsg());
        rc = 1;
        break;
      }
      size_t plane = (size_t)vc->size * vc->size;
      for (int c = 0; c < C; c++)
        for (size_t p = 0; p < plane; p++)
          buf[c * plane + p] = buf[c * plane + p] * std[c] + mean[c];
      blit(canvas, cw, buf, C, vc->size, vc->size, pad + (v + 1) * (cs + pad), y0, scale);
    }
  }
  if (!rc && gs_png_write(o.out, canvas, cw, chh, 3)) {
    fprintf(stderr, "gessl preview: %s\n", gs_errmsg());
    rc = 1;
  }
  if (!rc)
    printf("wrote %s: %d images of %s, original + %d %s views each (%dx%d)\n", o.out, count,
           gs_dataset_name(ds), r.n_views, o.method, cw, chh);
done:
  free(canvas);
  free(px);
  free(buf);
  gs_dataset_close(ds);
  return rc;
}
