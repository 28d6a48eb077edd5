/* Fuzz target for the safetensors reader: any bytes must be either refused with a message or
 * accepted with offsets that stay inside the data (every accepted tensor is read in full).
 * Built as a libFuzzer target with GESSL_FUZZ=ON (clang), and always as a replay program that
 * runs files or directories of inputs through the same entry point (the corpus as a test). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gs_safetensors *st = gs_st_parse_bytes(data, size, "fuzz-input");
  if (!st) {
    if (!gs_errmsg()[0]) abort(); /* a refusal always says why */
    return 0;
  }
  volatile unsigned sum = 0;
  for (int i = 0; i < gs_st_count(st); i++) {
    size_t n = 0;
    const unsigned char *p = gs_st_data(st, i, &n);
    for (size_t k = 0; k < n; k++) sum += p[k];
    if (gs_st_find(st, gs_st_name(st, i)) != i) abort();
    gs_shape sh = gs_st_shape(st, i);
    gs_dtype dt;
    if (gs_st_dtype(st, i, &dt) == GS_OK) {
      int64_t numel = gs_shape_numel(&sh);
      if ((uint64_t)numel * 4 != n) abort();
      void *buf = malloc(n + 4);
      if (buf && gs_st_read(st, i, dt, buf, numel) != GS_OK) abort();
      free(buf);
    }
  }
  for (int i = 0; i < gs_st_meta_count(st); i++) {
    gs_st_kv kv = gs_st_meta_at(st, i);
    if (!gs_st_meta(st, kv.key)) abort();
  }
  (void)sum;
  gs_st_close(st);
  return 0;
}

#ifdef GS_FUZZ_REPLAY
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static int replayed;

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return;
  size_t cap = 1 << 16, n = 0;
  unsigned char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      unsigned char *b = realloc(buf, cap *= 2);
      if (!b) break;
      buf = b;
    }
  }
  fclose(f);
  if (buf) LLVMFuzzerTestOneInput(buf, n), replayed++;
  free(buf);
}

int main(int argc, char **argv) {
  for (int a = 1; a < argc; a++) {
    struct stat sb;
    if (stat(argv[a], &sb) != 0) {
      fprintf(stderr, "%s: not found\n", argv[a]);
      return 1;
    }
    if (!S_ISDIR(sb.st_mode)) {
      replay_file(argv[a]);
      continue;
    }
    DIR *d = opendir(argv[a]);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
      replay_file(path);
    }
    if (d) closedir(d);
  }
  printf("%d passed, 0 failed\n", replayed);
  return replayed ? 0 : 1;
}
#endif
