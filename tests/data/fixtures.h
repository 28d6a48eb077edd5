/* Helpers shared by the data tests: a scratch folder removed at exit, and file writers. */
#ifndef GESSL_TEST_DATA_FIXTURES_H
#define GESSL_TEST_DATA_FIXTURES_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char fx_root[256];

static inline void fx_cleanup(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_root);
  if (fx_root[0] && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fx_root);
}

/* Creates a fresh scratch folder under TMPDIR (or /tmp). */
static inline const char *fx_init(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(fx_root, sizeof fx_root, "%s/gessl-data-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(fx_root)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(fx_cleanup);
  return fx_root;
}

/* fx_path("a/b") -> "<root>/a/b" in a rotating static buffer. */
static inline const char *fx_path(const char *rel) {
  static char buf[8][512];
  static int at;
  char *p = buf[at++ & 7];
  snprintf(p, 512, "%s/%s", fx_root, rel);
  return p;
}

static inline void fx_mkdir(const char *rel) { mkdir(fx_path(rel), 0755); }

static inline void fx_write(const char *rel, const void *data, size_t len) {
  FILE *f = fopen(fx_path(rel), "wb");
  if (!f || fwrite(data, 1, len, f) != len) {
    perror(rel);
    exit(1);
  }
  fclose(f);
}

/* An RGB PNG of w x h pixels px (rows of RGB bytes) at rel; 0, or -1 when it cannot be written. */
static inline int fx_write_rgb_png(const char *rel, int w, int h, const uint8_t *px) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)w;
  im.height = (png_uint_32)h;
  im.format = PNG_FORMAT_RGB;
  return png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL) ? 0 : -1;
}

static inline int fx_contains(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

#endif
