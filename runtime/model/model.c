/* The backbones: the small ConvNet and torchvision's ResNet-18 with the CIFAR stem.
 *
 * Both are kept as plain layer records; forward walks them and emits graph nodes, so one model
 * serves any number of graphs and inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/model.h"
#include "graph_impl.h"
#include "layers.h"

enum { CONVNET_CONVS = 4, RESNET_BLOCKS = 8 };

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
  int is_resnet;
  int64_t feat_dim;
  gs_lbuild b; /* owns the param sets and every tensor */
  /* convnet: features.{0,4,8,12} convs, features.{1,5,9,13} BNs */
  gs_param *conv[CONVNET_CONVS];
  gs_lbn bn[CONVNET_CONVS];
  /* resnet18 */
  gs_param *conv1;
  gs_lbn bn1;
  basic_block blocks[RESNET_BLOCKS];
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

static void build_resnet18(gs_model *m) {
  int64_t planes = scaled(64, m->cfg.width);
  m->conv1 = gs_lconv(&m->b, "conv1", planes, m->cfg.in_channels, 3);
  m->bn1 = gs_lbn_new(&m->b, "bn1", planes, 1);
  int64_t in = planes;
  for (int layer = 0; layer < 4; layer++) {
    int64_t out = scaled(64 << layer, m->cfg.width);
    for (int blk = 0; blk < 2; blk++) {
      basic_block *bb = &m->blocks[2 * layer + blk];
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

gs_model *gs_model_new(gs_device *dev, const gs_model_config *cfg) {
  if (!dev || !cfg || !cfg->arch) {
    gs_fail(GS_ERR_INVALID, "gs_model_new: missing device or configuration");
    return NULL;
  }
  int is_resnet = strcmp(cfg->arch, "resnet18") == 0;
  if (!is_resnet && strcmp(cfg->arch, "convnet") != 0) {
    gs_fail(GS_ERR_INVALID, "model '%s': unknown architecture (convnet, resnet18)", cfg->arch);
    return NULL;
  }
  if (cfg->in_channels < 1 || cfg->image_size < 1 || !(cfg->width > 0.0f)) {
    gs_fail(GS_ERR_INVALID,
            "model '%s': in_channels %d, image_size %d and width %g must be positive", cfg->arch,
            cfg->in_channels, cfg->image_size, (double)cfg->width);
    return NULL;
  }
  if (!is_resnet && cfg->image_size < 8) {
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
  m->is_resnet = is_resnet;
  if (gs_lbuild_init(&m->b, dev, m->prefix, cfg->seed) != GS_OK) {
    free(m);
    return NULL;
  }
  if (is_resnet)
    build_resnet18(m);
  else
    build_convnet(m);
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

static gs_tensor *forward_resnet18(gs_model *m, gs_graph *g, gs_tensor *x, int train) {
  x = gs_relu(g, conv_bn(g, x, m->conv1, &m->bn1, 1, 1, train));
  for (int k = 0; k < RESNET_BLOCKS; k++) {
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
  return m->is_resnet ? forward_resnet18(m, g, x, train) : forward_convnet(m, g, x, train);
}

int64_t gs_model_feat_dim(const gs_model *m) { return m ? m->feat_dim : 0; }
const gs_pset *gs_model_params(const gs_model *m) { return m ? m->b.params : NULL; }
const gs_pset *gs_model_state(const gs_model *m) { return m ? m->b.state : NULL; }
const char *gs_model_arch(const gs_model *m) { return m ? m->arch : ""; }
