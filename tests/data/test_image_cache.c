/* The decode-once cache of a folder: built at the first open (said through the log callback),
 * mapped at the next without a rebuild; with the cache at the files' own size the batches, plain
 * images, labels and held-out split are exactly those of the streamed folder, at any worker count
 * and after a seek; at a smaller size labels, samples and split still agree and the views stay
 * close. A folder that changed (a file added, one rewritten) or another size rebuilds it; a
 * truncated, corrupt or foreign file is refused naming it and left alone. An image that does not
 * decode is flagged at build and skipped by the loader as without the cache; over 1% fails the
 * build and writes nothing. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fashion_folder.h"
#include "fixtures.h"
#include "gessl/io.h"
#include "stream_fixtures.h"

static int notes;
static char last_note[1300];
static void on_note(void *user, const char *line) {
  (void)user;
  notes++;
  snprintf(last_note, sizeof last_note, "%s", line);
}

/* The folder fx_path(rel) with cache fx_path(cache) (NULL: none). */
static gs_dataset *open_c(const char *rel, const char *cache, int size, int cache_size,
                          gs_split split, float holdout) {
  char spec[600];
  snprintf(spec, sizeof spec, "folder:%s", fx_path(rel));
  gs_dataset_options o = {0};
  o.image_size = size;
  o.holdout = holdout;
  o.split_seed = 5;
  o.cache = cache ? fx_path(cache) : NULL;
  o.cache_size = cache_size;
  o.threads = 3;
  o.log = on_note;
  return gs_dataset_open(spec, split, &o);
}

static long file_size(const char *rel) {
  struct stat st;
  return stat(fx_path(rel), &st) == 0 ? (long)st.st_size : -1;
}

static void check_same_as_streamed(void) {
  notes = 0;
  gs_dataset *c = open_c("sq", "sq.cache", 24, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(c != NULL, "%s", gs_errmsg());
  CHECKF(notes == 2 && fx_contains(last_note, "written"), "%d notes, last: %s", notes, last_note);
  CHECK(file_size("sq.cache") > 300L * 24 * 24 * 3);
  notes = 0;
  gs_dataset *c2 = open_c("sq", "sq.cache", 24, 0, GS_SPLIT_TEST, 0); /* mapped, not rebuilt */
  CHECKF(c2 != NULL && notes == 0, "%d notes: %s (%s)", notes, last_note, gs_errmsg());
  gs_dataset *s = open_c("sq", NULL, 24, 0, GS_SPLIT_TRAIN, 0);
  gs_dataset *s2 = open_c("sq", NULL, 24, 0, GS_SPLIT_TEST, 0);
  if (!c || !c2 || !s || !s2) return;
  CHECK(gs_dataset_size(c) == gs_dataset_size(s) && gs_dataset_size(c2) == gs_dataset_size(s2));
  CHECK(gs_dataset_channels(c) == 3 && gs_dataset_classes(c) == 10);
  float mc[3], ms[3], sc[3], ss[3];
  gs_dataset_norm(c, mc, sc);
  gs_dataset_norm(s, ms, ss);
  CHECK(!memcmp(mc, ms, sizeof mc) && !memcmp(sc, ss, sizeof sc));
  const gs_dataset *pairs[2][2] = {{c, s}, {c2, s2}};
  for (int p = 0; p < 2; p++) { /* the held-out split and the plain images */
    const gs_dataset *a = pairs[p][0], *b = pairs[p][1];
    int64_t n = gs_dataset_size(a);
    float *fa = malloc(sizeof(float) * n * 3 * 24 * 24),
          *fb = malloc(sizeof(float) * n * 3 * 24 * 24);
    int32_t *la = malloc(sizeof(int32_t) * n), *lb = malloc(sizeof(int32_t) * n);
    CHECK(gs_dataset_batch_plain(a, 0, n, fa, la) == GS_OK);
    CHECK(gs_dataset_batch_plain(b, 0, n, fb, lb) == GS_OK);
    CHECKF(!memcmp(la, lb, sizeof(int32_t) * n), "split %d: labels differ", p);
    CHECKF(!memcmp(fa, fb, sizeof(float) * n * 3 * 24 * 24), "split %d: images differ", p);
    free(fa), free(fb), free(la), free(lb);
  }
  /* Batches: cached with 1 and 3 workers, streamed with 2; a seek; gs_augment_sample. */
  int64_t bpe = gs_dataset_size(c) / B;
  taken a, b, t, k;
  CHECK(take(c, 1, 1, -1, 0, 2 * (int)bpe, 0, &a) == GS_OK);
  CHECK(take(c, 3, 4, -1, 0, 2 * (int)bpe, 0, &b) == GS_OK);
  CHECK(take(s, 2, 2, -1, 0, 2 * (int)bpe, 0, &t) == GS_OK);
  CHECK(take(c, 2, 2, 1, 2, 2, 0, &k) == GS_OK);
  size_t all = sizeof(float) * 2 * bpe * a.per_batch;
  CHECK(!memcmp(a.samples, b.samples, sizeof a.samples) && !memcmp(a.views, b.views, all));
  CHECKF(!memcmp(a.samples, t.samples, sizeof a.samples), "cached and streamed samples differ");
  CHECKF(!memcmp(a.views, t.views, all), "cached and streamed views differ");
  CHECKF(!memcmp(k.views, a.views + (bpe + 2) * a.per_batch, sizeof(float) * 2 * a.per_batch),
         "a seek on the cached folder does not give the same batches");
  gs_aug_style byol = {.asymmetric = 1};
  gs_aug_recipe r = gs_aug_recipe_make(&byol, 16, 2);
  float one[3 * 16 * 16];
  CHECK(gs_augment_sample(c, a.samples[3][7], &r.views[1], 11, 0, 1, one) == GS_OK);
  CHECK(!memcmp(one, a.views + 3 * a.per_batch + a.per_batch / 2 + 7 * 3 * 256, sizeof one));
  free(a.views), free(b.views), free(t.views), free(k.views);
  gs_dataset_close(c), gs_dataset_close(c2), gs_dataset_close(s), gs_dataset_close(s2);
}

/* JPEGs of 40x30 cached at 16x16: the same samples, labels and split, views close to the files'. */
static void check_smaller_size(void) {
  gs_dataset *c = open_c("jpg", "jpg.cache", 24, 16, GS_SPLIT_TRAIN, 0);
  gs_dataset *s = open_c("jpg", NULL, 24, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(c && s, "%s", gs_errmsg());
  if (!c || !s) return;
  CHECK(file_size("jpg.cache") == 8192 + 300L * 16 * 16 * 3); /* records padded to 4 KiB */
  CHECK(gs_dataset_height(c) == 24 && gs_dataset_size(c) == gs_dataset_size(s));
  taken a, b, t;
  CHECK(take(c, 1, 1, -1, 0, 6, 0, &a) == GS_OK);
  CHECK(take(c, 3, 2, -1, 0, 6, 0, &b) == GS_OK);
  CHECK(take(s, 2, 2, -1, 0, 6, 0, &t) == GS_OK);
  CHECK(!memcmp(a.views, b.views, sizeof(float) * 6 * a.per_batch));
  CHECK(!memcmp(a.samples, t.samples, sizeof a.samples));
  double diff = 0;
  for (size_t q = 0; q < 6 * a.per_batch; q++) diff += fabs((double)a.views[q] - t.views[q]);
  diff /= 6.0 * a.per_batch;
  CHECKF(diff < 0.35, "16x16 cache vs 40x30 JPEGs: mean difference %.3f (normalised units)", diff);
  for (int64_t i = 0; i < gs_dataset_size(c); i += 17) {
    int32_t la, lb;
    CHECK(gs_dataset_get(c, i, NULL, &la) == GS_OK && gs_dataset_get(s, i, NULL, &lb) == GS_OK);
    CHECK(la == lb);
  }
  free(a.views), free(b.views), free(t.views);
  gs_dataset_close(c);
  gs_dataset_close(s);
  /* Another size asked of the same file: rebuilt, said so. */
  notes = 0;
  c = open_c("jpg", "jpg.cache", 24, 20, GS_SPLIT_TRAIN, 0);
  CHECKF(c && notes == 2, "%d notes: %s", notes, c ? last_note : gs_errmsg());
  CHECK(file_size("jpg.cache") == 8192 + 300L * 20 * 20 * 3);
  gs_dataset_close(c);
}

static void check_stale(void) {
  ff_write_folder_ex(fx_path("st"), 4, 12, 12, 1, 0);
  gs_dataset *d = open_c("st", "st.cache", 12, 0, GS_SPLIT_TRAIN, -1);
  CHECK(d && gs_dataset_size(d) == 40);
  gs_dataset_close(d);
  /* A file added. */
  uint8_t px[12 * 12];
  memset(px, 200, sizeof px);
  CHECK(gs_png_write(fx_path("st/bag/zz.png"), px, 12, 12, 1) == GS_OK);
  notes = 0;
  d = open_c("st", "st.cache", 12, 0, GS_SPLIT_TRAIN, -1);
  CHECKF(d && gs_dataset_size(d) == 41, "%s", gs_errmsg());
  CHECKF(notes == 2 && fx_contains(last_note, "written"), "%d notes: %s", notes, last_note);
  gs_dataset_close(d);
  /* A file rewritten in place with other pixels (same size on disk, a later mtime). */
  memset(px, 10, sizeof px);
  CHECK(gs_png_write(fx_path("st/bag/zz.png"), px, 12, 12, 1) == GS_OK);
  struct timespec later[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  CHECK(utimensat(AT_FDCWD, fx_path("st/bag/zz.png"), later, 0) == 0);
  notes = 0;
  d = open_c("st", "st.cache", 12, 0, GS_SPLIT_TRAIN, -1);
  CHECKF(d && notes == 2, "%d notes: %s", notes, d ? last_note : gs_errmsg());
  int64_t zz = -1;
  for (int64_t i = 0; d && i < gs_dataset_size(d); i++) {
    uint8_t got[12 * 12];
    int32_t lab;
    CHECK(gs_dataset_get(d, i, got, &lab) == GS_OK);
    if (got[0] == 10 && got[77] == 10 && got[143] == 10) zz = i;
  }
  CHECKF(zz >= 0, "the rewritten image is not in the rebuilt cache");
  gs_dataset_close(d);
}

static void check_refused(void) {
  /* Truncated: refused naming the file, never read, never rebuilt. */
  long n = file_size("sq.cache");
  CHECK(truncate(fx_path("sq.cache"), n - 100) == 0);
  notes = 0;
  gs_dataset *d = open_c("sq", "sq.cache", 24, 0, GS_SPLIT_TRAIN, 0);
  CHECK(d == NULL && notes == 0);
  CHECKF(fx_contains(gs_errmsg(), "sq.cache") && fx_contains(gs_errmsg(), "truncated"), "%s",
         gs_errmsg());
  CHECK(file_size("sq.cache") == n - 100);
  /* A corrupt header byte and a corrupt record. */
  CHECK(truncate(fx_path("sq.cache"), n) == 0);
  const long at[] = {20, 64 + 16 * 5 + 2};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(fx_path("sq.cache"), "r+b");
    int c = f && fseek(f, at[k], SEEK_SET) == 0 ? fgetc(f) : EOF;
    CHECK(c != EOF && fseek(f, at[k], SEEK_SET) == 0 && fputc(c ^ 0x40, f) != EOF);
    if (f) fclose(f);
    d = open_c("sq", "sq.cache", 24, 0, GS_SPLIT_TRAIN, 0);
    CHECKF(d == NULL && fx_contains(gs_errmsg(), "sq.cache") && fx_contains(gs_errmsg(), "corrupt"),
           "byte %ld: %s", at[k], gs_errmsg());
    f = fopen(fx_path("sq.cache"), "r+b");
    CHECK(f && fseek(f, at[k], SEEK_SET) == 0 && fputc(c, f) != EOF);
    if (f) fclose(f);
  }
  d = open_c("sq", "sq.cache", 24, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(d != NULL, "restored: %s", gs_errmsg());
  gs_dataset_close(d);
  /* Another file given as the cache is refused, not overwritten. */
  fx_write("notes.txt", "keep me\n", 8);
  d = open_c("sq", "notes.txt", 24, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(d == NULL && fx_contains(gs_errmsg(), "notes.txt") &&
             fx_contains(gs_errmsg(), "not a gessl image cache"),
         "%s", gs_errmsg());
  CHECK(file_size("notes.txt") == 8);
  /* Every one-byte change of the header and records of a cache is refused or rebuilt (a changed
   * version), and so is every truncation. */
  n = file_size("st.cache");
  uint8_t *buf;
  size_t len;
  CHECK(gs_read_file(fx_path("st.cache"), (size_t)n, &buf, &len) == GS_OK);
  for (size_t i = 0; i < 64 + 16 * 41; i += i < 64 ? 1 : 5) {
    buf[i] ^= 0x11;
    fx_write("st.cache", buf, len);
    notes = 0;
    d = open_c("st", "st.cache", 12, 0, GS_SPLIT_TRAIN, -1);
    CHECKF(d == NULL || (i >= 8 && i < 12 && notes == 2), "byte %zu changed, still accepted", i);
    gs_dataset_close(d);
    buf[i] ^= 0x11;
  }
  for (size_t cut = 0; cut < len; cut += cut < 200 ? 13 : 997) {
    fx_write("st.cache", buf, cut);
    d = open_c("st", "st.cache", 12, 0, GS_SPLIT_TRAIN, -1);
    CHECKF(d == NULL && fx_contains(gs_errmsg(), "st.cache"), "cut at %zu: %s", cut,
           d ? "accepted" : gs_errmsg());
    gs_dataset_close(d);
  }
  free(buf);
}

static void check_bad_images(void) {
  int64_t bad[8];
  make_flat("bad1", 600, 1, bad);
  gs_dataset *c = open_c("bad1", "bad1.cache", 16, 0, GS_SPLIT_TRAIN, 0);
  gs_dataset *s = open_c("bad1", NULL, 16, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(c && s, "%s", gs_errmsg());
  if (!c || !s) return;
  CHECKF(fx_contains(last_note, "did not decode"), "%s", last_note);
  taken a, b;
  bad_calls = 0;
  CHECK(take(c, 3, 2, -1, 0, 30, 0, &a) == GS_OK);
  CHECKF(bad_calls == 1 && fx_contains(bad_msg, "00001.png") && fx_contains(bad_msg, "bad1.cache"),
         "%d reports: %s", bad_calls, bad_msg);
  CHECK(take(s, 1, 1, -1, 0, 30, 0, &b) == GS_OK);
  CHECKF(!memcmp(a.samples, b.samples, sizeof a.samples), "skips differ from the streamed folder");
  free(a.views), free(b.views);
  CHECK(take(c, 2, 2, -1, 0, 30, 1, &a) != GS_OK);
  CHECKF(fx_contains(gs_errmsg(), "00001.png") && fx_contains(gs_errmsg(), "--bad-images"), "%s",
         gs_errmsg());
  free(a.views);
  gs_dataset_close(c);
  gs_dataset_close(s);
  make_flat("bad7", 600, 7, bad);
  c = open_c("bad7", "bad7.cache", 16, 0, GS_SPLIT_TRAIN, 0);
  CHECKF(c == NULL && fx_contains(gs_errmsg(), "over 1%") && fx_contains(gs_errmsg(), "bad7.cache"),
         "%s", gs_errmsg());
  CHECK(file_size("bad7.cache") == -1);
  gs_dataset_close(c);
}

int main(void) {
  fx_init();
  CHECK(ff_write_folder_ex(fx_path("sq"), 30, 24, 24, 3, 0) == 0);
  CHECK(ff_write_folder_ex(fx_path("jpg"), 30, 40, 30, 3, 1) == 0);
  check_same_as_streamed();
  check_smaller_size();
  check_stale();
  check_refused();
  check_bad_images();
  return check_summary();
}
