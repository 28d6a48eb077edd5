/* gs_dataset: opening a data set by spec, and the accessors every consumer uses. Every format
 * decodes into one in-memory image store at open, so a bad file fails here and never mid-run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define DIGITS_FILE "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
#define MAX_FILE ((size_t)1 << 31)
#define MAX_INFLATED ((size_t)1 << 32)

struct gs_dataset {
  char name[256];
  gs_images im;
  float mean[4], std[4];
  char **class_names; /* im.classes names, or NULL */
  float holdout;
};

/* Implemented in folder.c and synthetic.c. */
gs_status gs_folder_load(const char *dir, const gs_dataset_options *opt, gs_images *im,
                         char ***class_names);
gs_status gs_synthetic_make(const char *spec, gs_split split, const gs_dataset_options *opt,
                            gs_images *im);

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef gs_status (*parse_fn)(const uint8_t *buf, size_t len, const char *name, gs_images *im);

/* Reads a file, inflating it when it starts with the gzip magic, and parses it into im. */
static gs_status load_parsed(const char *path, parse_fn parse, gs_images *im) {
  uint8_t *buf;
  size_t len;
  gs_status s = gs_read_file(path, MAX_FILE, &buf, &len);
  if (s) return s;
  if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    uint8_t *raw = buf;
    s = gs_gunzip(raw, len, path, MAX_INFLATED, &buf, &len);
    free(raw);
    if (s) return s;
  }
  s = parse(buf, len, path, im);
  free(buf);
  return s;
}

/* The usual names of an IDX file: MNIST's, the dotted variant some mirrors use, gzipped or not. */
static int find_idx(const char *dir, const char *split, const char *what, int rank, char *path,
                    size_t len) {
  static const char *const forms[] = {"%s/%s-%s-idx%d-ubyte%s", "%s/%s-%s.idx%d-ubyte%s"};
  static const char *const ext[] = {".gz", ""};
  for (int f = 0; f < 2; f++)
    for (int e = 0; e < 2; e++) {
      snprintf(path, len, forms[f], dir, split, what, rank, ext[e]);
      if (file_exists(path)) return 1;
    }
  snprintf(path, len, "%s/%s-%s-idx%d-ubyte[.gz]", dir, split, what, rank);
  return 0;
}

static gs_status open_idx(const char *dir, gs_split split, gs_images *im) {
  const char *sp = split == GS_SPLIT_TRAIN ? "train" : "t10k";
  char ipath[1200], lpath[1200];
  if (!dir_exists(dir)) return gs_fail(GS_ERR_IO, "IDX data set: %s is not a directory", dir);
  if (!find_idx(dir, sp, "images", 3, ipath, sizeof ipath))
    return gs_fail(GS_ERR_IO, "IDX data set in %s: missing %s", dir, ipath);
  if (!find_idx(dir, sp, "labels", 1, lpath, sizeof lpath))
    return gs_fail(GS_ERR_IO, "IDX data set in %s: missing %s", dir, lpath);
  gs_status s = load_parsed(ipath, gs_idx_parse_images, im);
  if (s) return s;
  gs_images lab = {0};
  if ((s = load_parsed(lpath, gs_idx_parse_labels, &lab))) return s;
  if (lab.n != im->n) {
    s = gs_fail(GS_ERR_FORMAT, "%s holds %lld labels but %s holds %lld images", lpath,
                (long long)lab.n, ipath, (long long)im->n);
    gs_images_free(&lab);
    return s;
  }
  im->labels = lab.labels;
  im->classes = lab.classes;
  return GS_OK;
}

static gs_status open_cifar(const char *dir, gs_split split, int c100, gs_images *im) {
  char base[1100], path[1200];
  const char *sub = c100 ? "cifar-100-binary" : "cifar-10-batches-bin";
  const char *probe = c100 ? "train.bin" : "data_batch_1.bin";
  snprintf(path, sizeof path, "%s/%s", dir, probe);
  if (file_exists(path))
    snprintf(base, sizeof base, "%s", dir);
  else
    snprintf(base, sizeof base, "%s/%s", dir, sub);
  if (!dir_exists(base)) return gs_fail(GS_ERR_IO, "CIFAR data set: %s is not a directory", base);
  int nfiles = split == GS_SPLIT_TEST || c100 ? 1 : 5;
  for (int k = 0; k < nfiles; k++) {
    if (c100)
      snprintf(path, sizeof path, "%s/%s", base,
               split == GS_SPLIT_TRAIN ? "train.bin" : "test.bin");
    else if (split == GS_SPLIT_TEST)
      snprintf(path, sizeof path, "%s/test_batch.bin", base);
    else
      snprintf(path, sizeof path, "%s/data_batch_%d.bin", base, k + 1);
    uint8_t *buf;
    size_t len;
    gs_status s = gs_read_file(path, MAX_FILE, &buf, &len);
    if (s) return s;
    gs_images part = {0};
    s = gs_cifar_parse(buf, len, path, c100, &part);
    free(buf);
    if (s) return s;
    if ((s = gs_images_append(im, &part, path))) return s;
  }
  return GS_OK;
}

static gs_status open_digits(const char *path, gs_images *im) {
  if (!file_exists(path)) {
    if (!strcmp(path, DIGITS_FILE))
      return gs_fail(GS_ERR_IO, "data set digits: %s is missing (install Debian's python3-sklearn)",
                     path);
    return gs_fail(GS_ERR_IO, "data set digits: %s is not a file", path);
  }
  return load_parsed(path, gs_digits_parse, im);
}

/* Keeps the split's part of a labelled store that has no test split of its own (holdout above). */
static gs_status hold_out(gs_dataset *ds, gs_split split, const gs_dataset_options *o) {
  if (!ds->im.labels || o->holdout < 0) return GS_OK;
  ds->holdout = o->holdout > 0 ? o->holdout : 0.2f;
  if (!(ds->holdout < 1.0f))
    return gs_fail(GS_ERR_INVALID, "data set %s: held-out fraction %g must be below 1", ds->name,
                   (double)ds->holdout);
  return gs_images_holdout(&ds->im, split == GS_SPLIT_TEST, ds->holdout, o->split_seed, ds->name);
}

/* Image i at the data set's size h x w: a copy, or decoded from its file and resized. */
static gs_status image_at(const gs_images *im, int64_t i, uint8_t *dst) {
  size_t img = (size_t)im->h * im->w * im->c;
  if (!im->path_at) {
    memcpy(dst, im->pixels + (size_t)i * img, img);
    return GS_OK;
  }
  uint8_t *px;
  int h, w;
  gs_status s = gs_images_decode(im, i, im->w, im->h, &px, &h, &w);
  if (s) return s;
  gs_resize_u8(px, h, w, im->c, dst, im->h, im->w);
  free(px);
  return GS_OK;
}

/* Mean and std of a streamed store, measured on up to 256 images spread over it at 32x32: opening
 * must not decode a large folder. Those images are decoded here, so a broken one among them is
 * refused at open. */
static gs_status sample_norm(gs_dataset *ds) {
  const gs_images *im = &ds->im;
  enum { SAMPLES = 256, S = 32 };
  int64_t m = im->n < SAMPLES ? im->n : SAMPLES;
  uint8_t *small = malloc((size_t)S * S * im->c);
  if (!small) return gs_fail(GS_ERR_NOMEM, "data set %s: out of memory", ds->name);
  double sum[4] = {0}, sum2[4] = {0};
  gs_status s = GS_OK;
  for (int64_t k = 0; k < m && !s; k++) {
    int64_t i = k * im->n / m;
    uint8_t *px;
    int h, w;
    if ((s = gs_images_decode(im, i, S, S, &px, &h, &w))) break;
    gs_resize_u8(px, h, w, im->c, small, S, S);
    free(px);
    for (int p = 0; p < S * S; p++)
      for (int c = 0; c < im->c; c++) {
        double v = small[p * im->c + c] / 255.0;
        sum[c] += v;
        sum2[c] += v * v;
      }
  }
  free(small);
  double npix = (double)m * S * S;
  for (int c = 0; !s && c < im->c; c++) {
    double mu = sum[c] / npix, var = sum2[c] / npix - mu * mu;
    ds->mean[c] = (float)mu;
    ds->std[c] = var > 1e-6 ? (float)sqrt(var) : 1.0f;
  }
  return s;
}

/* Standard statistics where the data set is well known; measured on the data otherwise. */
static void set_norm(gs_dataset *ds, const char *known) {
  static const struct {
    const char *name;
    float mean[3], std[3];
  } table[] = {
      {"fashion-mnist", {0.2860f}, {0.3530f}},
      {"digits", {0.3053f}, {0.3759f}}, /* all 1,797 images */
      {"cifar10", {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
      {"cifar100", {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
  };
  for (size_t k = 0; known && k < sizeof table / sizeof table[0]; k++)
    if (!strcmp(known, table[k].name)) {
      memcpy(ds->mean, table[k].mean, sizeof table[k].mean);
      memcpy(ds->std, table[k].std, sizeof table[k].std);
      return;
    }
  const gs_images *im = &ds->im;
  size_t npix = (size_t)im->n * im->h * im->w;
  for (int c = 0; c < im->c; c++) {
    double s = 0, s2 = 0;
    for (size_t p = 0; p < npix; p++) {
      double v = im->pixels[p * im->c + c] / 255.0;
      s += v;
      s2 += v * v;
    }
    double m = s / (double)npix, var = s2 / (double)npix - m * m;
    ds->mean[c] = (float)m;
    ds->std[c] = var > 1e-6 ? (float)sqrt(var) : 1.0f;
  }
}

/* Relabels ds with ref's class numbers, matching class names (numbers where neither names its
 * classes), so a test folder scores against a bank labelled by another folder. */
static gs_status renumber_classes(gs_dataset *ds, const gs_dataset *ref) {
  if (!ds->im.labels) return GS_OK;
  int nc = ds->im.classes, nref = gs_dataset_classes(ref);
  if (!ds->class_names || !ref->class_names) {
    if (nc > nref)
      return gs_fail(GS_ERR_INVALID,
                     "test data %s has %d classes but %s has %d: test classes %d.. have no "
                     "example in the bank",
                     ds->name, nc, ref->name, nref, nref);
    return GS_OK;
  }
  int map[4096];
  if (nc > (int)(sizeof map / sizeof *map))
    return gs_fail(GS_ERR_INVALID, "test data %s: %d classes, at most 4096", ds->name, nc);
  for (int k = 0; k < nc; k++) {
    map[k] = -1;
    for (int j = 0; j < nref && map[k] < 0; j++)
      if (!strcmp(ds->class_names[k], ref->class_names[j])) map[k] = j;
    if (map[k] < 0)
      return gs_fail(GS_ERR_INVALID,
                     "test class '%s' of %s is not a class of %s: the bank has no example of it",
                     ds->class_names[k], ds->name, ref->name);
  }
  for (int64_t i = 0; i < ds->im.n; i++) ds->im.labels[i] = map[ds->im.labels[i]];
  char **names = calloc((size_t)nref, sizeof(char *));
  if (!names) return gs_fail(GS_ERR_NOMEM, "test data %s: out of memory", ds->name);
  for (int j = 0; j < nref; j++)
    if (!(names[j] = strdup(ref->class_names[j]))) {
      for (int q = 0; q < j; q++) free(names[q]);
      free(names);
      return gs_fail(GS_ERR_NOMEM, "test data %s: out of memory", ds->name);
    }
  for (int k = 0; k < nc; k++) free(ds->class_names[k]);
  free(ds->class_names);
  ds->class_names = names;
  ds->im.classes = nref;
  return GS_OK;
}

gs_dataset *gs_dataset_open(const char *spec, gs_split split, const gs_dataset_options *opt) {
  gs_dataset_options o = {0};
  if (opt) o = *opt;
  if (!spec || !*spec) {
    gs_fail(GS_ERR_INVALID, "data set: empty spec");
    return NULL;
  }
  if (split != GS_SPLIT_TRAIN && split != GS_SPLIT_TEST) {
    gs_fail(GS_ERR_INVALID, "data set %s: bad split %d", spec, (int)split);
    return NULL;
  }
  gs_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    gs_fail(GS_ERR_NOMEM, "data set %s: out of memory", spec);
    return NULL;
  }
  snprintf(ds->name, sizeof ds->name, "%s", spec);
  const char *known = NULL;
  gs_status s;
  if (!strcmp(spec, "fashion-mnist")) {
    known = "fashion-mnist";
    s = open_idx(FASHION_MNIST_DIR, split, &ds->im);
    if (s == GS_ERR_IO && !dir_exists(FASHION_MNIST_DIR))
      s = gs_fail(GS_ERR_IO,
                  "data set fashion-mnist: %s is missing (install Debian's dataset-fashion-mnist)",
                  FASHION_MNIST_DIR);
  } else if (!strncmp(spec, "idx:", 4)) {
    s = open_idx(spec + 4, split, &ds->im);
  } else if (!strncmp(spec, "cifar10:", 8)) {
    known = "cifar10";
    s = open_cifar(spec + 8, split, 0, &ds->im);
  } else if (!strncmp(spec, "cifar100:", 9)) {
    known = "cifar100";
    s = open_cifar(spec + 9, split, 1, &ds->im);
  } else if (!strncmp(spec, "folder:", 7)) {
    s = gs_folder_load(spec + 7, &o, &ds->im, &ds->class_names);
    if (!s && !ds->im.labels && split == GS_SPLIT_TEST)
      s = gs_fail(GS_ERR_INVALID, "data set %s: an unlabelled image folder has no test split",
                  spec);
    if (!s) s = hold_out(ds, split, &o);
  } else if (!strcmp(spec, "digits") || !strncmp(spec, "digits:", 7)) {
    known = "digits";
    s = open_digits(spec[6] ? spec + 7 : DIGITS_FILE, &ds->im);
    if (!s) s = hold_out(ds, split, &o);
  } else if (!strcmp(spec, "synthetic") || !strncmp(spec, "synthetic:", 10)) {
    s = gs_synthetic_make(spec, split, &o, &ds->im);
  } else {
    s = gs_fail(GS_ERR_INVALID,
                "unknown data set '%s' (expected fashion-mnist, digits, digits:FILE, idx:DIR, "
                "cifar10:DIR, cifar100:DIR, folder:DIR, synthetic or synthetic:HxWxC)",
                spec);
  }
  if (!s && o.cache && *o.cache && strncmp(spec, "folder:", 7) != 0)
    s = gs_fail(GS_ERR_INVALID,
                "data set %s: an image cache (%s) is for folders; this format is read whole at "
                "open already",
                spec, o.cache);
  if (!s && o.classes_of) s = renumber_classes(ds, o.classes_of);
  if (s) {
    gs_dataset_close(ds);
    return NULL;
  }
  if (o.limit > 0 && o.limit < ds->im.n) ds->im.n = o.limit;
  if (!ds->im.path_at) {
    set_norm(ds, known);
  } else if (sample_norm(ds) != GS_OK) {
    gs_dataset_close(ds);
    return NULL;
  }
  return ds;
}

void gs_dataset_close(gs_dataset *ds) {
  if (!ds) return;
  for (int k = 0; ds->class_names && k < ds->im.classes; k++) free(ds->class_names[k]);
  free(ds->class_names);
  gs_images_free(&ds->im);
  free(ds);
}

int64_t gs_dataset_size(const gs_dataset *ds) { return ds ? ds->im.n : 0; }
int gs_dataset_height(const gs_dataset *ds) { return ds ? ds->im.h : 0; }
int gs_dataset_width(const gs_dataset *ds) { return ds ? ds->im.w : 0; }
int gs_dataset_channels(const gs_dataset *ds) { return ds ? ds->im.c : 0; }
int gs_dataset_classes(const gs_dataset *ds) { return ds && ds->im.labels ? ds->im.classes : 0; }
const char *gs_dataset_name(const gs_dataset *ds) { return ds ? ds->name : ""; }
const gs_images *gs_dataset_images(const gs_dataset *ds) { return &ds->im; }
float gs_dataset_holdout(const gs_dataset *ds) { return ds ? ds->holdout : 0.0f; }

const char *gs_dataset_class_name(const gs_dataset *ds, int k) {
  if (!ds || !ds->class_names || k < 0 || k >= ds->im.classes) return NULL;
  return ds->class_names[k];
}

gs_status gs_dataset_get(const gs_dataset *ds, int64_t i, uint8_t *pixels, int32_t *label) {
  if (!ds || i < 0 || i >= ds->im.n)
    return gs_fail(GS_ERR_INVALID, "data set %s: sample %lld out of range 0..%lld",
                   ds ? ds->name : "(null)", (long long)i, ds ? (long long)ds->im.n - 1 : -1LL);
  if (label) *label = ds->im.labels ? ds->im.labels[i] : -1;
  return pixels ? image_at(&ds->im, i, pixels) : GS_OK;
}

gs_status gs_dataset_batch_plain(const gs_dataset *ds, int64_t start, int64_t n, float *out,
                                 int32_t *labels) {
  if (!ds || !out || start < 0 || n < 0 || start + n > ds->im.n)
    return gs_fail(GS_ERR_INVALID, "data set %s: samples [%lld, %lld) out of range (size %lld)",
                   ds ? ds->name : "(null)", (long long)start, (long long)(start + n),
                   ds ? (long long)ds->im.n : 0LL);
  const int H = ds->im.h, W = ds->im.w, C = ds->im.c;
  const size_t hw = (size_t)H * W;
  uint8_t *tmp = ds->im.path_at ? malloc(hw * C) : NULL;
  if (ds->im.path_at && !tmp) return gs_fail(GS_ERR_NOMEM, "data set %s: out of memory", ds->name);
  for (int64_t k = 0; k < n; k++) {
    const uint8_t *src = tmp;
    if (tmp) {
      gs_status s = image_at(&ds->im, start + k, tmp);
      if (s) {
        free(tmp);
        return s;
      }
    } else {
      src = ds->im.pixels + (size_t)(start + k) * hw * C;
    }
    float *dst = out + (size_t)k * hw * C;
    for (int c = 0; c < C; c++) {
      float scale = 1.0f / (255.0f * ds->std[c]), shift = ds->mean[c] / ds->std[c];
      for (size_t p = 0; p < hw; p++) dst[c * hw + p] = src[p * C + c] * scale - shift;
    }
    if (labels) labels[k] = ds->im.labels ? ds->im.labels[start + k] : -1;
  }
  free(tmp);
  return GS_OK;
}

void gs_dataset_norm(const gs_dataset *ds, float *mean, float *std) {
  for (int c = 0; ds && c < ds->im.c; c++) {
    if (mean) mean[c] = ds->mean[c];
    if (std) std[c] = ds->std[c];
  }
}
