/* Seeded weight initialisation shared by the backbones and heads.
 *
 * Every tensor draws from its own stream, derived from the model seed and the tensor's name
 * without any prefix, so a clone or a renamed copy starts from the same values and adding a layer
 * does not shift the values of the others. */
#ifndef GESSL_MODEL_INIT_H
#define GESSL_MODEL_INIT_H

#include "gessl/runtime.h"

typedef struct gs_init_rng {
  uint64_t s;
} gs_init_rng;

/* A stream for (seed, name). */
gs_init_rng gs_init_stream(uint64_t seed, const char *name);
/* Uniform in [0, 1). */
double gs_init_uniform(gs_init_rng *r);
/* Standard normal. */
double gs_init_normal(gs_init_rng *r);

/* Kaiming normal, mode fan_out, ReLU gain (torchvision's conv init): std = sqrt(2 / fan_out). */
gs_status gs_init_kaiming_out(gs_param *p, int64_t fan_out, uint64_t seed, const char *key);
/* U(-bound, bound) (PyTorch's default Linear weight and bias init with bound 1/sqrt(fan_in)). */
gs_status gs_init_uniform_fill(gs_param *p, double bound, uint64_t seed, const char *key);

/* A persistent tensor named prefix+name; NULL with the message set on failure. */
gs_param *gs_init_param(gs_device *dev, const char *prefix, const char *name, gs_shape shape,
                        int trainable);

#endif
