/* Helper for the PyTorch interop test.
 *   st_interop_helper write PATH   writes the fixed tensors st_torch_interop.py expects
 *   st_interop_helper dump PATH    prints every tensor and metadata entry of a file, one a line:
 *     tensor<TAB>name<TAB>dtype<TAB>d0,d1,...<TAB>v0 v1 ...   (values only for F32 and I32)
 *     meta<TAB>key<TAB>value
 * Exit status 0 on success, 1 with the library's message on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/io.h"

static int do_write(const char *path) {
  float w[24], s = 3.25f;
  int32_t c[5];
  for (int i = 0; i < 24; i++) w[i] = i * 0.25f - 3;
  for (int i = 0; i < 5; i++) c[i] = i * i - 7;
  gs_st_tensor t[] = {{"conv.weight", GS_F32, GS_SHAPE(2, 3, 2, 2), w},
                      {"counts", GS_I32, GS_SHAPE(5), c},
                      {"scalar", GS_F32, {0, {0}}, &s}};
  gs_st_kv meta[] = {{"format", "pt"}, {"epoch", "3"}};
  if (gs_st_write(path, t, 3, meta, 2) != GS_OK) {
    fprintf(stderr, "%s\n", gs_errmsg());
    return 1;
  }
  return 0;
}

static int do_dump(const char *path) {
  gs_safetensors *st = gs_st_open(path);
  if (!st) {
    fprintf(stderr, "%s\n", gs_errmsg());
    return 1;
  }
  for (int i = 0; i < gs_st_count(st); i++) {
    gs_shape sh = gs_st_shape(st, i);
    printf("tensor\t%s\t%s\t", gs_st_name(st, i), gs_st_dtype_str(st, i));
    for (int k = 0; k < sh.rank; k++) printf(k ? ",%lld" : "%lld", (long long)sh.dim[k]);
    printf("\t");
    gs_dtype dt;
    if (gs_st_dtype(st, i, &dt) == GS_OK) {
      int64_t n = gs_shape_numel(&sh);
      void *buf = malloc((size_t)n * 4 + 4);
      if (gs_st_read(st, i, dt, buf, n) != GS_OK) {
        fprintf(stderr, "%s\n", gs_errmsg());
        return 1;
      }
      for (int64_t k = 0; k < n; k++) {
        if (dt == GS_F32)
          printf(k ? " %.9g" : "%.9g", ((float *)buf)[k]);
        else
          printf(k ? " %d" : "%d", ((int32_t *)buf)[k]);
      }
      free(buf);
    }
    printf("\n");
  }
  for (int i = 0; i < gs_st_meta_count(st); i++) {
    gs_st_kv kv = gs_st_meta_at(st, i);
    printf("meta\t%s\t%s\n", kv.key, kv.value);
  }
  gs_st_close(st);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "write") == 0) return do_write(argv[2]);
  if (argc == 3 && strcmp(argv[1], "dump") == 0) return do_dump(argv[2]);
  fprintf(stderr, "usage: %s write|dump PATH\n", argv[0]);
  return 2;
}
