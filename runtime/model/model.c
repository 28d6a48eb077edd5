/* The backbones: the small ConvNet, torchvision's ResNet-18/34 (CIFAR or ImageNet stem), and the
 * parameter-free identity used to feed embeddings straight into a method's head.
 *
 * All are kept as plain layer records; forward walks them and emits graph nodes, so one model
 * serves any number of graphs and inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/model.h"
#include "layers.h"

enum { CONVNET_CONVS = 4, RESNET_MAX_BLOCKS = 16 };

typedef enum arch_kind { ARCH_CONVNET, ARCH_RESNET, ARCH_IDENTITY } arch_kind;

typedef struct basic_block {
  gs_param *conv1, *conv2, *down_conv; /* down_conv NULL: identity shortcut */
  gs_lbn bn1, bn2, down_bn;
  int stride;
} basic_block;

struct gs_model {
  gs_device *dev;
  gs_model_config cfg; /* arch and prefix point into the strings below */
  char arch[32];
  char prefix[128];
  arch_kind kind;
  int imagenet_stem; /* 7x7/2 conv + 3x3/2 max-pool instead of one 3x3/1 conv */
  int n_blocks;
  int64_t feat_dim;
  gs_lbuild b; /* owns the param sets and every tensor */
  /* convnet: features.{0,4,8,12} convs, features.{1,5,9,13} BNs */
  gs_param *conv[CONVNET_CONVS];
  gs_lbn bn[CONVNET_CONVS];
  /* resnet18/34 */
  gs_param *conv1;
  gs_lbn bn1;
  basic_block blocks[RESNET_MAX_BLOCKS];
};

static int64_t scaled(int64_t c, float width) {
  int64_t v = (int64_t)llround((double)c * width);
  return v < 1 ? 1 : v;
}

static void build_convnet(gs_model *m) {
  static const int64_t widths[CONVNET_CONVS] = {32, 64, 128, 256};
  int64_t in = m->cfg.in_channels;
  for (int k = 0; k < CONVNET_CONVS; k++) {
    /* Sequential indices as nn.Sequential numbers them: conv, bn, relu, pool per block. */
    char name[32];
    int64_t out = scaled(widths[k], m->cfg.width);
    snprintf(name, sizeof name, "features.%d", 4 * k);
    m->conv[k] = gs_lconv(&m->b, name, out, in, 3);
    snprintf(name, sizeof name, "features.%d", 4 * k + 1);
    m->bn[k] = gs_lbn_new(&m->b, name, out, 1);
    in = out;
  }
  m->feat_dim = in;
}

/* torchvision's BasicBlock ResNets; `depth` blocks per stage (18: 2,2,2,2; 34: 3,4,6,3). */
static void build_resnet(gs_model *m, const int depth[4]) {
  int64_t planes = scaled(64, m->cfg.width);
  m->conv1 = gs_lconv(&m->b, "conv1", planes, m->cfg.in_channels, m->imagenet_stem ? 7 : 3);
  m->bn1 = gs_lbn_new(&m->b, "bn1", planes, 1);
  int64_t in = planes;
  m->n_blocks = 0;
  for (int layer = 0; layer < 4; layer++) {
    int64_t out = scaled(64 << layer, m->cfg.width);
    for (int blk = 0; blk < depth[layer]; blk++) {
      basic_block *bb = &m->blocks[m->n_blocks++];
      bb->stride = (layer > 0 && blk == 0) ? 2 : 1;
      char name[64];
      snprintf(name, sizeof name, "layer%d.%d.conv1", layer + 1, blk);
      bb->conv1 = gs_lconv(&m->b, name, out, in, 3);
      snprintf(name, sizeof name, "layer%d.%d.bn1", layer + 1, blk);
      bb->bn1 = gs_lbn_new(&m->b, name, out, 1);
      snprintf(name, sizeof name, "layer%d.%d.conv2", layer + 1, blk);
      bb->conv2 = gs_lconv(&m->b, name, out, out, 3);
      snprintf(name, sizeof name, "layer%d.%d.bn2", layer + 1, blk);
      bb->bn2 = gs_lbn_new(&m->b, name, out, 1);
      if (bb->stride != 1 || in != out) {
        snprintf(name, sizeof name, "layer%d.%d.downsample.0", layer + 1, blk);
        bb->down_conv = gs_lconv(&m->b, name, out, in, 1);
        snprintf(name, sizeof name, "layer%d.%d.downsample.1", layer + 1, blk);
        bb->down_bn = gs_lbn_new(&m->b, name, out, 1);
      }
      in = out;
    }
  }
  m->feat_dim = in;
}

static const int resnet18_depth[4] = {2, 2, 2, 2};
static const int resnet34_depth[4] = {3, 4, 6, 3};

gs_model *gs_model_new(gs_device *dev, const gs_model_config *cfg) {
  if (!dev || !cfg || !cfg->arch) {
    gs_fail(GS_ERR_INVALID, "gs_model_new: missing device or configuration");
    return NULL;
  }
  /* "resnet34:imagenet": the part after ':' names the stem. */
  char base[32];
  const char *colon = strchr(cfg->arch, ':');
  size_t base_len = colon ? (size_t)(colon - cfg->arch) : strlen(cfg->arch);
  if (base_len >= sizeof base) base_len = sizeof base - 1;
  memcpy(base, cfg->arch, base_len);
  base[base_len] = '\0';
  arch_kind kind;
  const int *depth = NULL;
  if (strcmp(base, "convnet") == 0) {
    kind = ARCH_CONVNET;
  } else if (strcmp(base, "resnet18") == 0) {
    kind = ARCH_RESNET;
    depth = resnet18_depth;
  } else if (strcmp(base, "resnet34") == 0) {
    kind = ARCH_RESNET;
    depth = resnet34_depth;
  } else if (strcmp(base, "identity") == 0) {
    kind = ARCH_IDENTITY;
  } else {
    gs_fail(GS_ERR_INVALID,
            "model '%s': unknown architecture (convnet, resnet18, resnet34, identity; ResNets "
            "take :cifar or :imagenet for the stem)",
            cfg->arch);
    return NULL;
  }
  if (strlen(cfg->arch) >= sizeof(((gs_model *)0)->arch)) {
    gs_fail(GS_ERR_INVALID, "model '%s': name too long", cfg->arch);
    return NULL;
  }
  int imagenet_stem = cfg->image_size > GS_STEM_CIFAR_MAX_SIZE;
  if (colon) {
    if (kind == ARCH_RESNET && strcmp(colon + 1, "imagenet") == 0) {
      imagenet_stem = 1;
    } else if (kind == ARCH_RESNET && strcmp(colon + 1, "cifar") == 0) {
      imagenet_stem = 0;
    } else {
      gs_fail(GS_ERR_INVALID, "model '%s': unknown stem '%s' (resnet18/34 take cifar, imagenet)",
              cfg->arch, colon + 1);
      return NULL;
    }
  }
  if (cfg->in_channels < 1 || cfg->image_size < 1 || !(cfg->width > 0.0f)) {
    gs_fail(GS_ERR_INVALID,
            "model '%s': in_channels %d, image_size %d and width %g must be positive", cfg->arch,
            cfg->in_channels, cfg->image_size, (double)cfg->width);
    return NULL;
  }
  if (kind == ARCH_CONVNET && cfg->image_size < 8) {
    gs_fail(GS_ERR_INVALID, "model convnet: image size %d is below 8 (three 2x2 poolings)",
            cfg->image_size);
    return NULL;
  }
  const char *prefix = cfg->prefix ? cfg->prefix : "";
  if (strlen(prefix) >= sizeof(((gs_model *)0)->prefix)) {
    gs_fail(GS_ERR_INVALID, "model: prefix '%s' too long", prefix);
    return NULL;
  }
  gs_model *m = calloc(1, sizeof *m);
  if (!m) {
    gs_fail(GS_ERR_NOMEM, "model: out of memory");
    return NULL;
  }
  m->dev = dev;
  m->cfg = *cfg;
  snprintf(m->arch, sizeof m->arch, "%s", cfg->arch);
  snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
  m->cfg.arch = m->arch;
  m->cfg.prefix = m->prefix;
  m->kind = kind;
  m->imagenet_stem = kind == ARCH_RESNET && imagenet_stem;
  if (gs_lbuild_init(&m->b, dev, m->prefix, cfg->seed) != GS_OK) {
    free(m);
    return NULL;
  }
  if (kind == ARCH_RESNET)
    build_resnet(m, depth);
  else if (kind == ARCH_CONVNET)
    build_convnet(m);
  else
    m->feat_dim = (int64_t)cfg->in_channels * cfg->image_size * cfg->image_size;
  if (m->b.status != GS_OK) {
    gs_model_free(m);
    return NULL;
  }
  return m;
}

void gs_model_free(gs_model *m) {
  if (!m) return;
  gs_lbuild_free_all(&m->b);
  free(m);
}

gs_model *gs_model_clone(const gs_model *m, const char *prefix) {
  if (!m) {
    gs_fail(GS_ERR_INVALID, "gs_model_clone: no model");
    return NULL;
  }
  char full[256];
  snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", m->prefix);
  gs_model_config cfg = m->cfg;
  cfg.prefix = full;
  gs_model *c = gs_model_new(m->dev, &cfg);
  if (!c) return NULL;
  if (gs_pset_copy(c->b.params, m->b.params) != GS_OK ||
      gs_pset_copy(c->b.state, m->b.state) != GS_OK) {
    gs_model_free(c);
    return NULL;
  }
  return c;
}

static gs_tensor *conv_bn(gs_graph *g, gs_tensor *x, gs_param *w, const gs_lbn *bn, int stride,
                          int pad, int train) {
  gs_tensor *y = gs_conv2d(g, x, gs_param_ref(g, w), stride, pad);
  return gs_lbn_forward(g, bn, y, train);
}

static gs_tensor *forward_convnet(gs_model *m, gs_graph *g, gs_tensor *x, int train) {
  for (int k = 0; k < CONVNET_CONVS; k++) {
    x = gs_relu(g, conv_bn(g, x, m->conv[k], &m->bn[k], 1, 1, train));
    if (k < CONVNET_CONVS - 1) x = gs_max_pool2d(g, x, 2, 2, 0);
  }
  return gs_global_avg_pool(g, x);
}

static gs_tensor *forward_resnet(gs_model *m, gs_graph *g, gs_tensor *x, int train) {
  if (m->imagenet_stem) {
    x = gs_relu(g, conv_bn(g, x, m->conv1, &m->bn1, 2, 3, train));
    x = gs_max_pool2d(g, x, 3, 2, 1);
  } else {
    x = gs_relu(g, conv_bn(g, x, m->conv1, &m->bn1, 1, 1, train));
  }
  for (int k = 0; k < m->n_blocks; k++) {
    basic_block *bb = &m->blocks[k];
    gs_tensor *y = gs_relu(g, conv_bn(g, x, bb->conv1, &bb->bn1, bb->stride, 1, train));
    y = conv_bn(g, y, bb->conv2, &bb->bn2, 1, 1, train);
    gs_tensor *id =
        bb->down_conv ? conv_bn(g, x, bb->down_conv, &bb->down_bn, bb->stride, 0, train) : x;
    x = gs_relu(g, gs_add(g, y, id));
  }
  return gs_global_avg_pool(g, x);
}

gs_tensor *gs_model_forward(gs_model *m, gs_graph *g, gs_tensor *x, int train) {
  if (!m || !g || !x) return NULL;
  gs_shape s = gs_tensor_shape(x);
  if (s.rank != 4 || s.dim[1] != m->cfg.in_channels) {
    char b[96];
    return gs_graph_fail(g, GS_ERR_SHAPE, "model %s: input %s is not [N, %d, H, W]", m->arch,
                         gs_shape_str(&s, b, sizeof b), m->cfg.in_channels);
  }
  switch (m->kind) {
  case ARCH_RESNET: return forward_resnet(m, g, x, train);
  case ARCH_CONVNET: return forward_convnet(m, g, x, train);
  case ARCH_IDENTITY:
    if (s.dim[1] * s.dim[2] * s.dim[3] != m->feat_dim) {
      char b[96];
      return gs_graph_fail(g, GS_ERR_SHAPE, "model identity: input %s does not have %lld features",
                           gs_shape_str(&s, b, sizeof b), (long long)m->feat_dim);
    }
    return gs_reshape(g, x, GS_SHAPE(s.dim[0], m->feat_dim));
  }
  return NULL;
}

int64_t gs_model_feat_dim(const gs_model *m) { return m ? m->feat_dim : 0; }
const gs_pset *gs_model_params(const gs_model *m) { return m ? m->b.params : NULL; }
const gs_pset *gs_model_state(const gs_model *m) { return m ? m->b.state : NULL; }
const char *gs_model_arch(const gs_model *m) { return m ? m->arch : ""; }
