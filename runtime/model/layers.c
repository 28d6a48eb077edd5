/* Layer construction: names, shapes, init and registration in one place, so the backbones read
 * like their PyTorch definitions. */
#include "layers.h"

#include <math.h>
#include <stdio.h>

#include "init.h"

gs_status gs_lbuild_init(gs_lbuild *b, gs_device *dev, const char *prefix, uint64_t seed) {
  b->dev = dev;
  b->prefix = prefix ? prefix : "";
  b->seed = seed;
  b->params = gs_pset_new();
  b->state = gs_pset_new();
  b->status = GS_OK;
  if (!b->params || !b->state) {
    gs_pset_free(b->params);
    gs_pset_free(b->state);
    b->params = b->state = NULL;
    return b->status = gs_fail(GS_ERR_NOMEM, "model: out of memory");
  }
  return GS_OK;
}

void gs_lbuild_free_all(gs_lbuild *b) {
  if (b->params) gs_pset_free_params(b->params);
  if (b->state) gs_pset_free_params(b->state);
  b->params = b->state = NULL;
}

/* Creates prefix+name+suffix, registers it, and returns it; records the first failure. */
static gs_param *make(gs_lbuild *b, const char *name, const char *suffix, gs_shape shape,
                      int trainable, char *key, size_t key_len) {
  if (b->status != GS_OK) return NULL;
  snprintf(key, key_len, "%s%s", name, suffix);
  char full[256];
  snprintf(full, sizeof full, "%s%s", b->prefix, key);
  gs_param *p = gs_param_new(b->dev, full, shape, trainable);
  if (!p) {
    b->status = GS_ERR_NOMEM;
    return NULL;
  }
  gs_status st = gs_pset_add(trainable ? b->params : b->state, p);
  if (st != GS_OK) {
    gs_param_free(p);
    b->status = st;
    return NULL;
  }
  return p;
}

static void check(gs_lbuild *b, gs_status st) {
  if (b->status == GS_OK && st != GS_OK) b->status = st;
}

gs_param *gs_lconv(gs_lbuild *b, const char *name, int64_t out, int64_t in, int k) {
  char key[200];
  gs_param *w = make(b, name, ".weight", GS_SHAPE(out, in, k, k), 1, key, sizeof key);
  if (w) check(b, gs_init_kaiming_out(w, out * k * k, b->seed, key));
  return b->status == GS_OK ? w : NULL;
}

gs_lbn gs_lbn_new(gs_lbuild *b, const char *name, int64_t c, int affine) {
  gs_lbn bn = {0};
  char key[200];
  if (affine) {
    bn.weight = make(b, name, ".weight", GS_SHAPE(c), 1, key, sizeof key);
    if (bn.weight) check(b, gs_param_fill(bn.weight, 1.0f));
    bn.bias = make(b, name, ".bias", GS_SHAPE(c), 1, key, sizeof key); /* zero-filled */
  }
  bn.running_mean = make(b, name, ".running_mean", GS_SHAPE(c), 0, key, sizeof key);
  bn.running_var = make(b, name, ".running_var", GS_SHAPE(c), 0, key, sizeof key);
  if (bn.running_var) check(b, gs_param_fill(bn.running_var, 1.0f));
  return bn;
}

gs_param *gs_llinear(gs_lbuild *b, const char *name, int64_t out, int64_t in, gs_param **bias) {
  char key[200];
  double bound = 1.0 / sqrt((double)in);
  gs_param *w = make(b, name, ".weight", GS_SHAPE(out, in), 1, key, sizeof key);
  if (w) check(b, gs_init_uniform_fill(w, bound, b->seed, key));
  if (bias) {
    *bias = make(b, name, ".bias", GS_SHAPE(out), 1, key, sizeof key);
    if (*bias) check(b, gs_init_uniform_fill(*bias, bound, b->seed, key));
  }
  return b->status == GS_OK ? w : NULL;
}

gs_tensor *gs_lbn_forward(gs_graph *g, const gs_lbn *bn, gs_tensor *x, int train) {
  gs_tensor *w = bn->weight ? gs_param_ref(g, bn->weight) : NULL;
  gs_tensor *b = bn->bias ? gs_param_ref(g, bn->bias) : NULL;
  if (bn->weight && (!w || !b)) return NULL;
  return gs_batch_norm(g, x, w, b, bn->running_mean, bn->running_var, train, 0.1f, 1e-5f);
}
