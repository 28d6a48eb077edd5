/* scikit-learn's digits from Debian's python3-sklearn: every image and label as the CSV holds
 * them (read here independently with zlib), pixel counts 0..16 scaled to 0..255, 10 classes, the
 * held-out split stratified and disjoint; broken files refused with the file and the cause. */
#include <stdint.h>
#include <zlib.h>

#include "check.h"
#include "fixtures.h"
#include "gessl/data.h"

#define DIGITS_CSV "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"

enum { MAXN = 4096, PIX = 64 };

/* The file parsed with zlib and sscanf, independently of the library: rows of 65 numbers. */
static int read_reference(int *pix, int *lab) {
  gzFile g = gzopen(DIGITS_CSV, "rb");
  CHECKF(g != NULL, "cannot open %s (install python3-sklearn)", DIGITS_CSV);
  if (!g) return 0;
  char line[1024];
  int n = 0;
  while (n < MAXN && gzgets(g, line, sizeof line)) {
    char *p = line;
    int k = 0, used = 0, v;
    while (k < PIX + 1 && sscanf(p, "%d%n", &v, &used) == 1) {
      if (k < PIX)
        pix[n * PIX + k] = v;
      else
        lab[n] = v;
      k++;
      p += used;
      if (*p == ',') p++;
    }
    if (k == PIX + 1) n++;
  }
  gzclose(g);
  return n;
}

static void real_file(void) {
  static int pix[MAXN * PIX], lab[MAXN];
  int n = read_reference(pix, lab);
  gs_dataset_options o = {0};
  o.holdout = -1; /* the whole file, in its order */
  gs_dataset *ds = gs_dataset_open("digits", GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "%s", gs_errmsg());
  if (!ds) return;
  printf("digits: %lld images %dx%dx%d, %d classes (reference parse: %d rows)\n",
         (long long)gs_dataset_size(ds), gs_dataset_height(ds), gs_dataset_width(ds),
         gs_dataset_channels(ds), gs_dataset_classes(ds), n);
  CHECK(gs_dataset_size(ds) == 1797 && n == 1797);
  CHECK(gs_dataset_height(ds) == 8 && gs_dataset_width(ds) == 8 && gs_dataset_channels(ds) == 1);
  CHECK(gs_dataset_classes(ds) == 10);
  int count[10] = {0}, lo = 255, hi = 0, mismatches = 0;
  uint8_t px[PIX];
  for (int64_t i = 0; i < gs_dataset_size(ds) && i < n; i++) {
    int32_t l = -1;
    CHECK(gs_dataset_get(ds, i, px, &l) == GS_OK);
    CHECK(l >= 0 && l < 10);
    if (l >= 0 && l < 10) count[l]++;
    mismatches += l != lab[i];
    for (int k = 0; k < PIX; k++) {
      /* Scaled by 255/16, rounded: the same pixel range as every other data set. */
      int want = (int)lround(pix[i * PIX + k] * 255.0 / 16.0);
      mismatches += abs(px[k] - want) > 0;
      lo = px[k] < lo ? px[k] : lo;
      hi = px[k] > hi ? px[k] : hi;
    }
  }
  CHECKF(mismatches == 0, "%d pixels or labels differ from the CSV", mismatches);
  CHECKF(lo == 0 && hi == 255, "pixel range %d..%d", lo, hi);
  for (int c = 0; c < 10; c++) CHECKF(count[c] >= 170, "class %d: %d images", c, count[c]);
  /* Normalised with the data set's statistics: about zero mean and unit deviation. */
  int64_t m = gs_dataset_size(ds);
  float *x = malloc((size_t)m * PIX * sizeof *x);
  CHECK(gs_dataset_batch_plain(ds, 0, m, x, NULL) == GS_OK);
  double s = 0, s2 = 0;
  for (int64_t k = 0; k < m * PIX; k++) s += x[k], s2 += (double)x[k] * x[k];
  double mean = s / (double)(m * PIX), sd = sqrt(s2 / (double)(m * PIX) - mean * mean);
  CHECKF(fabs(mean) < 0.01 && fabs(sd - 1) < 0.01, "normalised mean %g std %g", mean, sd);
  free(x);
  gs_dataset_close(ds);
}

/* The default held-out split: every class in both parts, disjoint and complete by count. */
static void split(void) {
  gs_dataset *tr = gs_dataset_open("digits", GS_SPLIT_TRAIN, NULL);
  gs_dataset *te = gs_dataset_open("digits", GS_SPLIT_TEST, NULL);
  CHECKF(tr && te, "%s", gs_errmsg());
  if (tr && te) {
    int64_t ntr = gs_dataset_size(tr), nte = gs_dataset_size(te);
    printf("digits split: %lld train + %lld test, held out %.2f\n", (long long)ntr, (long long)nte,
           (double)gs_dataset_holdout(tr));
    CHECK(ntr + nte == 1797);
    CHECK(fabs((double)nte / 1797.0 - 0.2) < 0.01);
    CHECK(gs_dataset_holdout(tr) > 0.19f && gs_dataset_holdout(te) > 0.19f);
    int ctr[10] = {0}, cte[10] = {0};
    for (int64_t i = 0; i < ntr; i++) {
      int32_t l;
      gs_dataset_get(tr, i, NULL, &l);
      ctr[l]++;
    }
    for (int64_t i = 0; i < nte; i++) {
      int32_t l;
      gs_dataset_get(te, i, NULL, &l);
      cte[l]++;
    }
    for (int c = 0; c < 10; c++) CHECKF(ctr[c] > 0 && cte[c] > 0, "class %d not in both", c);
  }
  gs_dataset_close(tr);
  gs_dataset_close(te);
}

static void refuses(const char *what, const char *rel, const char *needle) {
  char spec[700];
  snprintf(spec, sizeof spec, "digits:%s", fx_path(rel));
  gs_dataset_options o = {0};
  o.holdout = -1;
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds == NULL, "%s: opened", what);
  gs_dataset_close(ds);
  const char *m = gs_errmsg();
  CHECKF(fx_contains(m, fx_path(rel)) && fx_contains(m, needle), "%s: message '%s' lacks '%s'",
         what, m, needle);
  printf("%s: %s\n", what, m);
}

/* A line of 64 pixels and a label, with `cols` columns and `bad` put at column `at`. */
static size_t row(char *out, size_t cap, int cols, int at, const char *bad) {
  size_t len = 0;
  for (int k = 0; k < cols; k++) {
    const char *v = k == at ? bad : k == PIX ? "3" : "7";
    len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? "," : "", v);
  }
  len += (size_t)snprintf(out + len, cap - len, "\n");
  return len;
}

static void broken_files(void) {
  char good[400], buf[1200];
  size_t gl = row(good, sizeof good, PIX + 1, -1, "");
  /* Plain text (not gzipped) with CRLF endings and a blank last line reads too. */
  size_t n = 0;
  for (int k = 0; k < 3; k++) {
    memcpy(buf + n, good, gl - 1);
    n += gl - 1;
    buf[n++] = '\r';
    buf[n++] = '\n';
  }
  buf[n++] = '\n';
  fx_write("plain.csv", buf, n);
  char spec[700];
  snprintf(spec, sizeof spec, "digits:%s", fx_path("plain.csv"));
  gs_dataset_options o = {0};
  o.holdout = -1;
  gs_dataset *ds = gs_dataset_open(spec, GS_SPLIT_TRAIN, &o);
  CHECKF(ds && gs_dataset_size(ds) == 3, "%s", ds ? "wrong size" : gs_errmsg());
  int32_t l = -1;
  uint8_t px[PIX];
  if (ds) CHECK(gs_dataset_get(ds, 2, px, &l) == GS_OK && l == 3 && px[5] == 112);
  gs_dataset_close(ds);

  /* A gzip stream cut short. */
  gzFile g = gzopen(fx_path("full.csv.gz"), "wb");
  for (int k = 0; k < 200; k++) gzwrite(g, good, (unsigned)gl);
  gzclose(g);
  FILE *f = fopen(fx_path("full.csv.gz"), "rb");
  size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  CHECK(got > 40);
  fx_write("cut.csv.gz", buf, got / 2);
  refuses("truncated gzip", "cut.csv.gz", "truncated");

  n = row(buf, sizeof buf, PIX, -1, "");
  fx_write("columns.csv", buf, n);
  refuses("64 columns", "columns.csv", "64 columns");
  n = row(buf, sizeof buf, PIX + 2, -1, "");
  fx_write("columns2.csv", buf, n);
  refuses("66 columns", "columns2.csv", "66 columns");
  n = row(buf, sizeof buf, PIX + 1, PIX, "10");
  fx_write("label.csv", buf, n);
  refuses("label 10", "label.csv", "label 10 outside 0..9");
  n = row(buf, sizeof buf, PIX + 1, 9, "17");
  fx_write("pixel.csv", buf, n);
  refuses("pixel 17", "pixel.csv", "pixel 17 outside 0..16");
  n = row(buf, sizeof buf, PIX + 1, 3, "x");
  fx_write("text.csv", buf, n);
  refuses("not a number", "text.csv", "not a number");
  n = row(buf, sizeof buf, PIX + 1, 3, "-1");
  fx_write("negative.csv", buf, n);
  refuses("negative", "negative.csv", "not a number");
  fx_write("empty.csv", "", 0);
  refuses("empty", "empty.csv", "no images");
  refuses("missing", "missing.csv.gz", "not a file");
}

int main(void) {
  fx_init();
  real_file();
  split();
  broken_files();
  return check_summary();
}
