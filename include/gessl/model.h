/* gessl — backbones and heads built with the op API.
 *
 * A gs_model owns its params (trainable weights) and its state (BN running statistics), named
 * as torchvision names them ("conv1.weight", "layer1.0.bn1.running_mean"), so that exported
 * weights load in PyTorch. Forward adds the network's nodes to a graph; it can be called on many
 * graphs and many inputs (the two views of SimCLR share one model). */
#ifndef GESSL_MODEL_H
#define GESSL_MODEL_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_model gs_model;

typedef struct gs_model_config {
  /* "convnet" (4 conv-BN-ReLU blocks, 32..256 channels), "resnet18", "resnet34", or "identity"
   * (no params: features are the input flattened, [N, C, H, W] -> [N, C*H*W]; for tests that
   * feed embeddings straight into a method's head). A ResNet's stem is CIFAR's (one 3x3 stride-1
   * conv) for inputs of GS_STEM_CIFAR_MAX_SIZE pixels or less and ImageNet's (7x7 stride-2 conv,
   * then 3x3 stride-2 max-pool) above; the suffix ":cifar" or ":imagenet" ("resnet34:imagenet")
   * picks one explicitly. */
  const char *arch;
  int in_channels;    /* any count: 1 for Fashion-MNIST, 3 for CIFAR */
  int image_size;     /* input height = width */
  float width;        /* width multiplier of every layer, 1.0 = the standard network */
  uint64_t seed;      /* initialisation seed (Kaiming normal, as torchvision) */
  const char *prefix; /* prepended to every param name ("" or NULL for none) */
} gs_model_config;
#define GS_STEM_CIFAR_MAX_SIZE 64

GS_API gs_model *gs_model_new(gs_device *dev, const gs_model_config *cfg);
GS_API void gs_model_free(gs_model *m);
/* A second network of the same architecture with its own params (prefix prepended to names),
 * values copied: the teacher of BYOL, MoCo and DINO. */
GS_API gs_model *gs_model_clone(const gs_model *m, const char *prefix);
/* x [N, C, H, W] -> features [N, feat_dim]. train: batch statistics and running-stat updates;
 * otherwise running statistics. A meta-optimizer that evaluates the network at other weights
 * (GeSSL's task-specific copies) swaps values into these params with gs_pset_copy rather than
 * building new graphs, so one compiled program serves every evaluation. */
GS_API gs_tensor *gs_model_forward(gs_model *m, gs_graph *g, gs_tensor *x, int train);
GS_API int64_t gs_model_feat_dim(const gs_model *m);
GS_API const gs_pset *gs_model_params(const gs_model *m); /* trainable */
GS_API const gs_pset *gs_model_state(const gs_model *m);  /* running statistics */
GS_API const char *gs_model_arch(const gs_model *m);

/* Seeded initial values for the params a method makes itself (prototypes, last layers, queues),
 * the same on every platform: a splitmix64 stream whose state starts at `seed`. Uniform:
 * U(-bound, bound), PyTorch's Linear default with bound 1/sqrt(fan_in). Normal: N(0, std^2) by
 * Box-Muller pairs (the cosine, then the sine value). */
GS_API gs_status gs_param_init_uniform(gs_param *p, double bound, uint64_t seed);
GS_API gs_status gs_param_init_normal(gs_param *p, double std, uint64_t seed);

/* A multi-layer perceptron head: Linear(-BN-ReLU) layers. dims[0] is the input width,
 * dims[n-1] the output; hidden layers get BN+ReLU; the last layer gets BN when last_bn (affine
 * unless last_bn_affine is 0) and never ReLU. Params named prefix.0.weight, ... */
typedef struct gs_mlp gs_mlp;
GS_API gs_mlp *gs_mlp_new(gs_device *dev, const char *prefix, const int64_t *dims, int n,
                          int last_bn, int last_bn_affine, uint64_t seed);
GS_API void gs_mlp_free(gs_mlp *h);
GS_API gs_tensor *gs_mlp_forward(gs_mlp *h, gs_graph *g, gs_tensor *x, int train);
GS_API const gs_pset *gs_mlp_params(const gs_mlp *h);
GS_API const gs_pset *gs_mlp_state(const gs_mlp *h);

/* Collapse check (SimSiam's): each of `rows` embeddings of width `dim` (row-major host floats) is
 * L2-normalised, and *std_out receives the mean over dimensions of the per-dimension standard
 * deviation across rows. Healthy embeddings give about 1/sqrt(dim); a collapsed network (every
 * input mapped to one point) gives 0. The training loop warns, naming the step, when
 * *std_out * sqrt(dim) falls below GS_COLLAPSE_RATIO. GS_ERR_INVALID for rows < 2 or dim < 1,
 * GS_ERR_NUMERIC for a non-finite value. */
#define GS_COLLAPSE_RATIO 0.05
GS_API gs_status gs_embed_collapse(const float *embed, int64_t rows, int64_t dim, double *std_out);

#ifdef __cplusplus
}
#endif
#endif
