/* Building blocks of the backbones and heads: layer records that own nothing (the model's param
 * sets do) and the construction context that creates, initialises and registers their tensors. */
#ifndef GESSL_MODEL_LAYERS_H
#define GESSL_MODEL_LAYERS_H

#include "gessl/runtime.h"

typedef struct gs_lbn {
  gs_param *weight, *bias; /* NULL when not affine */
  gs_param *running_mean, *running_var;
} gs_lbn;

typedef struct gs_lbuild {
  gs_device *dev;
  const char *prefix;
  uint64_t seed;
  gs_pset *params;  /* trainable, in torchvision's state_dict order */
  gs_pset *state;   /* running statistics */
  gs_status status; /* first failure; later calls do nothing */
} gs_lbuild;

/* The context's two sets are created here and owned by the caller. */
gs_status gs_lbuild_init(gs_lbuild *b, gs_device *dev, const char *prefix, uint64_t seed);
/* Frees every tensor created through b, and both sets. */
void gs_lbuild_free_all(gs_lbuild *b);

/* "<name>.weight" [out, in, k, k], no bias, Kaiming normal (fan_out). */
gs_param *gs_lconv(gs_lbuild *b, const char *name, int64_t out, int64_t in, int k);
/* "<name>.weight/bias/running_mean/running_var" [c]: weight 1, bias 0, mean 0, var 1. */
gs_lbn gs_lbn_new(gs_lbuild *b, const char *name, int64_t c, int affine);
/* "<name>.weight" [out, in] (and "<name>.bias" [out] when *bias is wanted): PyTorch's default
 * Linear init, U(-1/sqrt(in), 1/sqrt(in)) for both. */
gs_param *gs_llinear(gs_lbuild *b, const char *name, int64_t out, int64_t in, gs_param **bias);

/* Batch norm with the momentum and eps PyTorch uses (0.1, 1e-5). */
gs_tensor *gs_lbn_forward(gs_graph *g, const gs_lbn *bn, gs_tensor *x, int train);

#endif
