/* The check the model tests make of torchvision's parameter names and shapes. */
#ifndef GESSL_TEST_PSET_HAS_H
#define GESSL_TEST_PSET_HAS_H

#include <string.h>

#include "gessl/runtime.h"

/* Whether s holds a param named name of exactly this shape. */
static inline int pset_has(const gs_pset *s, const char *name, gs_shape shape) {
  for (int k = 0; k < gs_pset_count(s); k++) {
    gs_param *p = gs_pset_get(s, k);
    if (strcmp(gs_param_name(p), name) != 0) continue;
    gs_shape got = gs_param_shape(p);
    if (got.rank != shape.rank) return 0;
    for (int d = 0; d < got.rank; d++)
      if (got.dim[d] != shape.dim[d]) return 0;
    return 1;
  }
  return 0;
}

#endif
