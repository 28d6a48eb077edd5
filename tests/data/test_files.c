/* IDX and CIFAR files load with the right pixels and labels (raw and gzip); bad files of every
 * kind are refused with a message that names the file and what is wrong. */
#include <stdint.h>
#include <zlib.h>

#include "check.h"
#include "fixtures.h"
#include "gessl/data.h"

static size_t idx_images(uint8_t *buf, uint32_t n, uint32_t h, uint32_t w) {
  uint8_t hdr[16] = {0, 0, 8, 3};
  uint32_t d[3] = {n, h, w};
  for (int k = 0; k < 3; k++)
    for (int b = 0; b < 4; b++) hdr[4 + 4 * k + b] = (uint8_t)(d[k] >> (24 - 8 * b));
  memcpy(buf, hdr, 16);
  for (uint32_t i = 0; i < n * h * w; i++) buf[16 + i] = (uint8_t)(i * 7 + 1);
  return 16 + (size_t)n * h * w;
}

static size_t idx_labels(uint8_t *buf, uint32_t n) {
  uint8_t hdr[8] = {0,         0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  memcpy(buf, hdr, 8);
  for (uint32_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % 3);
  return 8 + n;
}

static void write_gz(const char *rel, const uint8_t *data, size_t len) {
  gzFile g = gzopen(fx_path(rel), "wb");
  CHECK(g && gzwrite(g, data, (unsigned)len) == (int)len);
  gzclose(g);
}

static char spec_buf[700];
static const char *spec(const char *kind, const char *rel) {
  snprintf(spec_buf, sizeof spec_buf, "%s:%s", kind, fx_path(rel));
  return spec_buf;
}

/* Opening must fail and the message must contain both needles (e.g. the file name and why). */
static void refuses(const char *what, const char *sp, gs_split split, const gs_dataset_options *o,
                    const char *needle1, const char *needle2) {
  gs_dataset *ds = gs_dataset_open(sp, split, o);
  CHECKF(ds == NULL, "%s: opened", what);
  gs_dataset_close(ds);
  const char *m = gs_errmsg();
  CHECKF(fx_contains(m, needle1) && fx_contains(m, needle2), "%s: message '%s' lacks '%s'/'%s'",
         what, m, needle1, needle2);
}

static void test_idx(void) {
  static uint8_t img[16 + 5 * 4 * 3], lab[8 + 5];
  size_t ni = idx_images(img, 5, 4, 3), nl = idx_labels(lab, 5);
  fx_mkdir("idx");
  fx_write("idx/train-images-idx3-ubyte", img, ni);
  write_gz("idx/train-labels-idx1-ubyte.gz", lab, nl);
  write_gz("idx/t10k-images-idx3-ubyte.gz", img, ni);
  fx_write("idx/t10k-labels-idx1-ubyte", lab, nl);
  for (int split = 0; split < 2; split++) {
    gs_dataset *ds = gs_dataset_open(spec("idx", "idx"), (gs_split)split, NULL);
    CHECKF(ds != NULL, "idx split %d: %s", split, gs_errmsg());
    if (!ds) continue;
    CHECK(gs_dataset_size(ds) == 5 && gs_dataset_height(ds) == 4 && gs_dataset_width(ds) == 3 &&
          gs_dataset_channels(ds) == 1 && gs_dataset_classes(ds) == 3);
    uint8_t px[12];
    int32_t l;
    CHECK(gs_dataset_get(ds, 2, px, &l) == GS_OK && l == 2 && px[0] == img[16 + 24] &&
          px[11] == img[16 + 35]);
    CHECK(gs_dataset_get(ds, 5, px, &l) != GS_OK);
    gs_dataset_close(ds);
  }

  /* Truncated: the header promises 5 images, the file ends early. */
  fx_mkdir("idx_trunc");
  fx_write("idx_trunc/train-images-idx3-ubyte", img, ni - 7);
  fx_write("idx_trunc/train-labels-idx1-ubyte", lab, nl);
  refuses("truncated IDX", spec("idx", "idx_trunc"), GS_SPLIT_TRAIN, NULL,
          "idx_trunc/train-images-idx3-ubyte", "truncated");
  /* Extra bytes: dimensions disagree with the file size. */
  fx_mkdir("idx_big");
  static uint8_t bigger[sizeof img + 20];
  memcpy(bigger, img, ni);
  fx_write("idx_big/train-images-idx3-ubyte", bigger, ni + 20);
  fx_write("idx_big/train-labels-idx1-ubyte", lab, nl);
  refuses("IDX size mismatch", spec("idx", "idx_big"), GS_SPLIT_TRAIN, NULL,
          "idx_big/train-images-idx3-ubyte", "promises");
  /* Wrong magic. */
  fx_mkdir("idx_magic");
  uint8_t bad[sizeof img];
  memcpy(bad, img, ni);
  bad[0] = 0x42;
  fx_write("idx_magic/train-images-idx3-ubyte", bad, ni);
  fx_write("idx_magic/train-labels-idx1-ubyte", lab, nl);
  refuses("IDX magic", spec("idx", "idx_magic"), GS_SPLIT_TRAIN, NULL,
          "idx_magic/train-images-idx3-ubyte", "magic");
  /* Labels file where an images file belongs. */
  fx_mkdir("idx_rank");
  fx_write("idx_rank/train-images-idx3-ubyte", lab, nl);
  fx_write("idx_rank/train-labels-idx1-ubyte", lab, nl);
  refuses("IDX rank", spec("idx", "idx_rank"), GS_SPLIT_TRAIN, NULL, "train-images", "rank");
  /* Label count disagrees with the image count. */
  fx_mkdir("idx_count");
  fx_write("idx_count/train-images-idx3-ubyte", img, ni);
  nl = idx_labels(lab, 4);
  fx_write("idx_count/train-labels-idx1-ubyte", lab, nl);
  refuses("IDX label count", spec("idx", "idx_count"), GS_SPLIT_TRAIN, NULL,
          "idx_count/train-labels-idx1-ubyte", "4 labels");
  /* A gzip stream cut short. */
  fx_mkdir("idx_gz");
  write_gz("idx_gz/train-images-idx3-ubyte.gz", img, ni);
  FILE *f = fopen(fx_path("idx_gz/train-images-idx3-ubyte.gz"), "rb");
  uint8_t gz[512];
  size_t gzn = fread(gz, 1, sizeof gz, f);
  fclose(f);
  fx_write("idx_gz/train-images-idx3-ubyte.gz", gz, gzn - 12);
  fx_write("idx_gz/train-labels-idx1-ubyte", lab, nl);
  refuses("truncated gzip", spec("idx", "idx_gz"), GS_SPLIT_TRAIN, NULL,
          "idx_gz/train-images-idx3-ubyte.gz", "gzip");
  refuses("missing files", spec("idx", "nothing"), GS_SPLIT_TRAIN, NULL, "nothing", "directory");
  refuses("missing test split", spec("idx", "idx_count"), GS_SPLIT_TEST, NULL, "t10k-images",
          "missing");
}

static void test_cifar(void) {
  enum { REC10 = 3073, REC100 = 3074 };
  static uint8_t buf[3 * REC100];
  fx_mkdir("c10");
  for (int b = 0; b <= 5; b++) {
    for (int r = 0; r < 2; r++) {
      uint8_t *p = buf + r * REC10;
      p[0] = (uint8_t)((b + r) % 10);
      for (int k = 0; k < 3072; k++) p[1 + k] = (uint8_t)(k / 1024 * 100 + b + r);
    }
    char name[64];
    if (b < 5)
      snprintf(name, sizeof name, "c10/data_batch_%d.bin", b + 1);
    else
      snprintf(name, sizeof name, "c10/test_batch.bin");
    fx_write(name, buf, 2 * REC10);
  }
  gs_dataset *ds = gs_dataset_open(spec("cifar10", "c10"), GS_SPLIT_TRAIN, NULL);
  CHECKF(ds != NULL, "cifar10: %s", gs_errmsg());
  if (ds) {
    CHECK(gs_dataset_size(ds) == 10 && gs_dataset_channels(ds) == 3 &&
          gs_dataset_height(ds) == 32 && gs_dataset_classes(ds) == 10);
    uint8_t px[3072];
    int32_t l;
    gs_dataset_get(ds, 3, px, &l); /* batch 2, record 1 */
    CHECK(l == 2 && px[0] == 2 && px[1] == 102 && px[2] == 202 && px[3071] == 202);
    gs_dataset_close(ds);
  }
  ds = gs_dataset_open(spec("cifar10", "c10"), GS_SPLIT_TEST, NULL);
  CHECKF(ds && gs_dataset_size(ds) == 2, "cifar10 test: %s", gs_errmsg());
  gs_dataset_close(ds);

  fx_mkdir("c100");
  fx_mkdir("c100/cifar-100-binary");
  for (int r = 0; r < 3; r++) {
    buf[r * REC100] = 3;
    buf[r * REC100 + 1] = (uint8_t)(97 + r);
  }
  fx_write("c100/cifar-100-binary/train.bin", buf, 3 * REC100);
  fx_write("c100/cifar-100-binary/test.bin", buf, REC100);
  ds = gs_dataset_open(spec("cifar100", "c100"), GS_SPLIT_TRAIN, NULL);
  CHECKF(ds && gs_dataset_size(ds) == 3 && gs_dataset_classes(ds) == 100, "cifar100: %s",
         gs_errmsg());
  int32_t l = -5;
  if (ds) gs_dataset_get(ds, 2, NULL, &l);
  CHECK(l == 99);
  gs_dataset_close(ds);

  fx_write("c100/cifar-100-binary/test.bin", buf, REC100 - 1);
  refuses("cifar100 truncated", spec("cifar100", "c100"), GS_SPLIT_TEST, NULL, "test.bin",
          "multiple of");
  buf[1] = 140;
  fx_write("c100/cifar-100-binary/test.bin", buf, REC100);
  refuses("cifar100 label", spec("cifar100", "c100"), GS_SPLIT_TEST, NULL, "test.bin", "label");
  fx_write("c10/data_batch_3.bin", buf, 0);
  refuses("cifar10 empty", spec("cifar10", "c10"), GS_SPLIT_TRAIN, NULL, "data_batch_3.bin",
          "empty");
  remove(fx_path("c10/data_batch_3.bin"));
  refuses("cifar10 missing batch", spec("cifar10", "c10"), GS_SPLIT_TRAIN, NULL, "data_batch_3.bin",
          "cannot open");
}

static int write_rgb_png(const char *rel, int w, int h) {
  uint8_t *px = calloc((size_t)w * h * 3, 1);
  for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(i * 31 + i / 7);
  int rc = fx_write_rgb_png(rel, w, h, px);
  free(px);
  return rc;
}

static uint32_t crc_of(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void test_png_bad(void) {
  fx_mkdir("ok");
  CHECK(write_rgb_png("ok/a.png", 40, 30) == 0);
  uint8_t file[8192];
  FILE *f = fopen(fx_path("ok/a.png"), "rb");
  size_t n = fread(file, 1, sizeof file, f);
  fclose(f);

  /* Truncated in the middle of the image data. */
  fx_mkdir("trunc");
  fx_write("trunc/a.png", file, n / 2);
  refuses("truncated PNG", spec("folder", "trunc"), GS_SPLIT_TRAIN, NULL, "trunc/a.png", "");
  /* Corrupt image data (CRC error). */
  fx_mkdir("corrupt");
  uint8_t bad[8192];
  memcpy(bad, file, n);
  bad[n - 20] ^= 0x55;
  fx_write("corrupt/a.png", bad, n);
  refuses("corrupt PNG", spec("folder", "corrupt"), GS_SPLIT_TRAIN, NULL, "corrupt/a.png", "");
  /* A non-PNG file among PNGs. */
  fx_mkdir("mixed");
  fx_write("mixed/a.png", file, n);
  fx_write("mixed/notes.txt", "hello\n", 6);
  refuses("non-PNG file", spec("folder", "mixed"), GS_SPLIT_TRAIN, NULL, "mixed/notes.txt",
          "not a PNG");
  fx_mkdir("classes");
  fx_mkdir("classes/one");
  fx_write("classes/one/a.png", file, n);
  fx_write("classes/one/b.jpg", "\xff\xd8\xff\xe0", 4);
  refuses("non-PNG in a class", spec("folder", "classes"), GS_SPLIT_TRAIN, NULL,
          "classes/one/b.jpg", "JPEG");
  /* Empty folder and empty class folder. */
  fx_mkdir("empty");
  refuses("empty folder", spec("folder", "empty"), GS_SPLIT_TRAIN, NULL, "empty", "no images");
  fx_mkdir("classes2");
  fx_mkdir("classes2/a");
  fx_mkdir("classes2/b");
  fx_write("classes2/a/x.png", file, n);
  refuses("empty class", spec("folder", "classes2"), GS_SPLIT_TRAIN, NULL, "classes2/b",
          "no images");
  refuses("missing folder", spec("folder", "absent"), GS_SPLIT_TRAIN, NULL, "absent",
          "cannot open");
  /* Oversize dimensions: an IHDR claiming 100000 x 100000 is refused before any allocation. */
  memcpy(bad, file, n);
  put32(bad + 16, 100000);
  put32(bad + 20, 100000);
  put32(bad + 29, crc_of(bad + 12, 17));
  fx_mkdir("huge");
  fx_write("huge/a.png", bad, n);
  refuses("oversize PNG", spec("folder", "huge"), GS_SPLIT_TRAIN, NULL, "huge/a.png", "limit");
  /* ... and a real 40x30 image against a configured limit of 1000 pixels. */
  gs_dataset_options o = {.max_pixels = 1000};
  refuses("max_pixels", spec("folder", "ok"), GS_SPLIT_TRAIN, &o, "ok/a.png", "1200 pixels");
  o.max_pixels = 1200;
  gs_dataset *ds = gs_dataset_open(spec("folder", "ok"), GS_SPLIT_TRAIN, &o);
  CHECKF(ds != NULL, "max_pixels at the limit: %s", gs_errmsg());
  gs_dataset_close(ds);
}

int main(void) {
  fx_init();
  test_idx();
  test_cifar();
  test_png_bad();
  refuses("unknown spec", "mnist-ish", GS_SPLIT_TRAIN, NULL, "mnist-ish", "unknown data set");
  refuses("bad synthetic", "synthetic:3x3", GS_SPLIT_TRAIN, NULL, "synthetic:3x3", "HxWxC");
  return check_summary();
}
