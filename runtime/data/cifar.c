/* CIFAR-10 / CIFAR-100 binary batches: fixed-size records, planar CHW pixels converted to HWC. */
#include <stdlib.h>

#include "data_internal.h"

gs_status gs_cifar_parse(const uint8_t *buf, size_t len, const char *name, int cifar100,
                         gs_images *im) {
  const size_t lab_bytes = cifar100 ? 2 : 1, rec = lab_bytes + 3072;
  const int classes = cifar100 ? 100 : 10;
  if (len == 0) return gs_fail(GS_ERR_FORMAT, "%s: empty CIFAR file", name);
  if (len % rec)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: size %zu is not a multiple of the %s record size %zu (truncated or not a "
                   "CIFAR file)",
                   name, len, cifar100 ? "CIFAR-100" : "CIFAR-10", rec);
  size_t n = len / rec;
  uint8_t *px = malloc(n * 3072);
  int32_t *lab = malloc(n * sizeof(int32_t));
  if (!px || !lab) {
    free(px);
    free(lab);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %zu images", name, n);
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *r = buf + i * rec;
    int l = r[lab_bytes - 1]; /* CIFAR-100: the fine label */
    if (l >= classes || (cifar100 && r[0] >= 20)) {
      free(px);
      free(lab);
      return gs_fail(GS_ERR_FORMAT, "%s: record %zu has label %d, outside 0..%d (not a %s file?)",
                     name, i, l, classes - 1, cifar100 ? "CIFAR-100" : "CIFAR-10");
    }
    lab[i] = l;
    const uint8_t *p = r + lab_bytes;
    uint8_t *o = px + i * 3072;
    for (int k = 0; k < 1024; k++) {
      o[3 * k] = p[k];
      o[3 * k + 1] = p[1024 + k];
      o[3 * k + 2] = p[2048 + k];
    }
  }
  im->n = (int64_t)n;
  im->h = im->w = 32;
  im->c = 3;
  im->classes = classes;
  im->pixels = px;
  im->labels = lab;
  return GS_OK;
}
