/* A method plugin on the "identity" backbone (features = the input, each view an [N, D, 1, 1]
 * image), so that known embeddings reach the method's heads unchanged: the instance, its params
 * and its state, as the method-level tests drive them. */
#ifndef GESSL_TEST_METHOD_FIXTURE_H
#define GESSL_TEST_METHOD_FIXTURE_H

#include <string.h>

#include "check.h"
#include "gessl/gessl.h"

typedef struct method_fixture {
  const gs_method_iface *m;
  gs_model *backbone;
  void *self;
  gs_pset *params, *state;
} method_fixture;

/* m's instance for batches of n views of dimension d, with hyperparameters hp (the caller's, NULL
 * when they could not be made), its params and state listed; 1, or 0 after a failed check. */
static inline int method_fixture_open(method_fixture *f, gs_device *dev, const gs_method_iface *m,
                                      const double *hp, int64_t n, int64_t d, int64_t total_steps,
                                      uint64_t seed) {
  memset(f, 0, sizeof *f);
  f->m = m;
  gs_model_config mc = {.arch = "identity", .in_channels = (int)d, .image_size = 1, .width = 1.0f};
  f->backbone = gs_model_new(dev, &mc);
  CHECKF(f->backbone != NULL, "%s", gs_errmsg());
  gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION),
                       .dev = dev,
                       .backbone = f->backbone,
                       .batch = n,
                       .total_steps = total_steps,
                       .hp = hp,
                       .seed = seed};
  gs_status st = f->backbone && hp ? m->create(&ctx, &f->self) : GS_ERR_INVALID;
  CHECKF(st == GS_OK, "%s create: %s", m->name, gs_errmsg());
  f->params = gs_pset_new();
  f->state = gs_pset_new();
  if (st != GS_OK || !f->params || !f->state) return 0;
  CHECKF(m->params(f->self, f->params) == GS_OK && m->state(f->self, f->state) == GS_OK,
         "%s: params and state: %s", m->name, gs_errmsg());
  return 1;
}

static inline void method_fixture_close(method_fixture *f) {
  gs_pset_free(f->params);
  gs_pset_free(f->state);
  if (f->self) f->m->destroy(f->self);
  gs_model_free(f->backbone);
}

#endif
