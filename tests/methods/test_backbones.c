/* Backbones beyond the basics: ResNet-34, the ImageNet stem (explicit and automatic above 64 px),
 * width multipliers, any input channel count, and the parameter-free identity. Each runs a
 * forward pass on the CPU so the shapes are checked end to end. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/gessl.h"
#include "pset_has.h"

/* Runs the model on a [2, C, size, size] input; returns the feature width seen (0 on failure). */
static int64_t forward_width(gs_device *dev, gs_model *m, int c, int size) {
  gs_graph *g = gs_graph_new();
  gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, c, size, size));
  gs_tensor *f = gs_model_forward(m, g, x, 1);
  CHECKF(gs_graph_status(g) == GS_OK, "%s", gs_graph_error(g));
  gs_program *prog = f ? gs_compile(dev, g, &f, 1) : NULL;
  CHECKF(prog != NULL, "%s", gs_errmsg());
  int64_t width = 0;
  if (prog) {
    size_t n = (size_t)(2 * c * size * size);
    float *in = malloc(n * sizeof *in);
    int64_t fd = gs_tensor_dim(f, 1);
    float *out = malloc((size_t)(2 * fd) * sizeof *out);
    for (size_t k = 0; in && k < n; k++) in[k] = (float)((k * 37) % 17) / 17.0f - 0.5f;
    if (in && out && gs_program_feed(prog, x, in) == GS_OK && gs_program_run(prog) == GS_OK &&
        gs_program_fetch(prog, f, out) == GS_OK) {
      int finite = 1;
      for (int64_t k = 0; k < 2 * fd; k++) finite &= isfinite(out[k]) != 0;
      CHECK(finite);
      width = fd;
    }
    free(in);
    free(out);
    gs_program_free(prog);
  }
  gs_graph_free(g);
  return width;
}

int main(void) {
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, "cpu") : NULL;
  CHECKF(dev, "%s", gs_errmsg());
  if (!dev) return check_summary();

  /* torchvision's resnet34 minus fc has 21,284,672 parameters with its 7x7 stem. */
  gs_model_config c34 = {"resnet34:imagenet", 3, 32, 1.0f, 1, ""};
  gs_model *r34 = gs_model_new(dev, &c34);
  CHECKF(r34, "%s", gs_errmsg());
  if (r34) {
    CHECK(gs_model_feat_dim(r34) == 512);
    CHECK(gs_pset_numel(gs_model_params(r34)) == 21284672);
    CHECK(pset_has(gs_model_params(r34), "conv1.weight", GS_SHAPE(64, 3, 7, 7)));
    CHECK(pset_has(gs_model_params(r34), "layer3.5.conv2.weight", GS_SHAPE(256, 256, 3, 3)));
    CHECK(pset_has(gs_model_params(r34), "layer4.2.bn2.weight", GS_SHAPE(512)));
    CHECK(pset_has(gs_model_state(r34), "layer4.0.downsample.1.running_var", GS_SHAPE(512)));
    CHECK(!pset_has(gs_model_params(r34), "layer4.3.conv1.weight", GS_SHAPE(512, 512, 3, 3)));
    gs_model_free(r34);
  }
  /* CIFAR stem by default at 32 px: 3x3 conv1, 21,276,992 parameters. */
  gs_model_config c34c = {"resnet34", 3, 32, 1.0f, 1, ""};
  gs_model *r34c = gs_model_new(dev, &c34c);
  CHECK(r34c && gs_pset_numel(gs_model_params(r34c)) == 21276992);
  gs_model_free(r34c);

  /* Automatic ImageNet stem above 64 px, at a quarter width and 1 input channel: 96 -> 48 (conv)
   * -> 24 (pool) -> 3 after three stride-2 stages; features 512/4. */
  gs_model_config small = {"resnet18", 1, 96, 0.25f, 1, ""};
  gs_model *r18 = gs_model_new(dev, &small);
  CHECKF(r18, "%s", gs_errmsg());
  if (r18) {
    CHECK(pset_has(gs_model_params(r18), "conv1.weight", GS_SHAPE(16, 1, 7, 7)));
    CHECK(gs_model_feat_dim(r18) == 128);
    CHECK(forward_width(dev, r18, 1, 96) == 128);
    gs_model_free(r18);
  }
  /* An explicit CIFAR stem at 96 px, five input channels. */
  gs_model_config c5 = {"resnet18:cifar", 5, 96, 0.125f, 1, ""};
  gs_model *r5 = gs_model_new(dev, &c5);
  CHECKF(r5, "%s", gs_errmsg());
  if (r5) {
    CHECK(pset_has(gs_model_params(r5), "conv1.weight", GS_SHAPE(8, 5, 3, 3)));
    gs_model_free(r5);
  }
  /* ResNet-34 forward at 1/8 width on 16 px, and a ConvNet on 7 channels at 1.5 width. */
  gs_model_config t34 = {"resnet34", 3, 16, 0.125f, 1, ""};
  gs_model *m34 = gs_model_new(dev, &t34);
  CHECK(m34 && forward_width(dev, m34, 3, 16) == 64);
  gs_model_free(m34);
  gs_model_config cn = {"convnet", 7, 16, 1.5f, 1, ""};
  gs_model *mcn = gs_model_new(dev, &cn);
  CHECK(mcn && pset_has(gs_model_params(mcn), "features.0.weight", GS_SHAPE(48, 7, 3, 3)));
  CHECK(mcn && forward_width(dev, mcn, 7, 16) == 384);
  gs_model_free(mcn);

  /* identity: no params, features = input flattened, values unchanged. */
  gs_model_config ci = {"identity", 6, 2, 1.0f, 0, ""};
  gs_model *id = gs_model_new(dev, &ci);
  CHECKF(id, "%s", gs_errmsg());
  if (id) {
    CHECK(gs_model_feat_dim(id) == 24);
    CHECK(gs_pset_count(gs_model_params(id)) == 0 && gs_pset_count(gs_model_state(id)) == 0);
    gs_model *twin = gs_model_clone(id, "teacher.");
    CHECKF(twin, "%s", gs_errmsg());
    gs_model_free(twin);
    gs_graph *g = gs_graph_new();
    gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(3, 6, 2, 2));
    gs_tensor *f = gs_model_forward(id, g, x, 1);
    gs_program *prog = f ? gs_compile(dev, g, &f, 1) : NULL;
    CHECKF(prog, "%s", gs_errmsg());
    if (prog) {
      float in[72], out[72];
      for (int k = 0; k < 72; k++) in[k] = (float)k;
      CHECK(gs_program_feed(prog, x, in) == GS_OK && gs_program_run(prog) == GS_OK);
      CHECK(gs_program_fetch(prog, f, out) == GS_OK && memcmp(in, out, sizeof in) == 0);
      gs_program_free(prog);
    }
    gs_graph_free(g);
    /* A wrong feature count is a shape error naming the model. */
    g = gs_graph_new();
    gs_model_forward(id, g, gs_input(g, "x", GS_F32, GS_SHAPE(3, 6, 3, 3)), 1);
    CHECK(gs_graph_status(g) == GS_ERR_SHAPE && strstr(gs_graph_error(g), "identity"));
    gs_graph_free(g);
    gs_model_free(id);
  }

  /* Unknown names and stems are refused with the choices. */
  gs_model_config bad = {"resnet50", 3, 32, 1.0f, 0, ""};
  CHECK(gs_model_new(dev, &bad) == NULL && strstr(gs_errmsg(), "resnet34"));
  bad.arch = "resnet18:tiny";
  CHECK(gs_model_new(dev, &bad) == NULL && strstr(gs_errmsg(), "imagenet"));
  bad.arch = "convnet:imagenet";
  CHECK(gs_model_new(dev, &bad) == NULL);

  /* Collapse check: spread embeddings against one point repeated. */
  float spread[8 * 4], same[8 * 4];
  for (int r = 0; r < 8; r++)
    for (int d = 0; d < 4; d++) {
      spread[r * 4 + d] = (float)(((r * 7 + d * 3) % 5) - 2);
      same[r * 4 + d] = (float)(d + 1) * (r % 2 ? 2.0f : 1.0f); /* same direction */
    }
  double s1 = -1, s2 = -1;
  CHECK(gs_embed_collapse(spread, 8, 4, &s1) == GS_OK && s1 * 2.0 > GS_COLLAPSE_RATIO);
  CHECK(gs_embed_collapse(same, 8, 4, &s2) == GS_OK && s2 * 2.0 < 1e-6);
  printf("collapse std: spread %.4f, collapsed %.2g\n", s1, s2);
  CHECK(gs_embed_collapse(same, 1, 4, &s2) == GS_ERR_INVALID);
  spread[5] = NAN;
  CHECK(gs_embed_collapse(spread, 8, 4, &s1) == GS_ERR_NUMERIC);

  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
