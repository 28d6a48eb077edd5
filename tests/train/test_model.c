/* Backbones and heads: torchvision's names, shapes and parameter counts, seeded init, clones.
 * The init stream's functions are compiled into this test from runtime/model/init.c, so a large
 * tensor, which the library fills on several threads, is checked against one serial pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gessl/model.h"
#include "model/init.h"
#include "pset_has.h"

static float first_value(gs_param *p) {
  gs_shape s = gs_param_shape(p);
  float buf[4096];
  if (gs_shape_numel(&s) > 4096) return 0.0f;
  gs_param_read(p, buf);
  return buf[0];
}

int main(void) {
  gs_runtime *rt = gs_runtime_open(NULL);
  CHECK(rt);
  gs_device *dev = rt ? gs_device_open(rt, "cpu") : NULL;
  CHECKF(dev, "%s", gs_errmsg());
  if (!dev) return check_summary();

  gs_model_config rc = {"resnet18", 3, 32, 1.0f, 7, ""};
  gs_model *r18 = gs_model_new(dev, &rc);
  CHECKF(r18, "%s", gs_errmsg());
  if (r18) {
    CHECK(gs_model_feat_dim(r18) == 512);
    CHECK(gs_pset_count(gs_model_params(r18)) == 60);
    CHECK(gs_pset_numel(gs_model_params(r18)) == 11168832); /* torchvision minus fc, 3x3 stem */
    CHECK(pset_has(gs_model_params(r18), "conv1.weight", GS_SHAPE(64, 3, 3, 3)));
    CHECK(pset_has(gs_model_params(r18), "layer1.0.conv1.weight", GS_SHAPE(64, 64, 3, 3)));
    CHECK(pset_has(gs_model_params(r18), "layer2.0.downsample.0.weight", GS_SHAPE(128, 64, 1, 1)));
    CHECK(pset_has(gs_model_params(r18), "layer4.1.bn2.bias", GS_SHAPE(512)));
    CHECK(pset_has(gs_model_state(r18), "layer2.0.downsample.1.running_mean", GS_SHAPE(128)));
    CHECK(pset_has(gs_model_state(r18), "bn1.running_var", GS_SHAPE(64)));
    CHECK(!pset_has(gs_model_params(r18), "layer1.0.downsample.0.weight", GS_SHAPE(64, 64, 1, 1)));
    CHECK(strcmp(gs_param_name(gs_pset_get(gs_model_params(r18), 0)), "conv1.weight") == 0);
    /* The largest weight (2.4M values, filled in shares on several threads) holds exactly the
     * values of one pass over its stream: Kaiming normal, fan_out 512 * 9, seed 7. */
    gs_param *big = NULL;
    for (int k = 0; k < gs_pset_count(gs_model_params(r18)); k++)
      if (strcmp(gs_param_name(gs_pset_get(gs_model_params(r18), k)), "layer4.1.conv2.weight") == 0)
        big = gs_pset_get(gs_model_params(r18), k);
    CHECK(big != NULL);
    int64_t nb = 512 * 512 * 9;
    float *got = malloc((size_t)nb * sizeof *got);
    if (big && got && gs_param_read(big, got) == GS_OK) {
      gs_init_rng r = gs_init_stream(7, "layer4.1.conv2.weight");
      double a = sqrt(2.0 / (512.0 * 9.0));
      int64_t differ = 0;
      for (int64_t i = 0; i < nb; i++) differ += got[i] != (float)(a * gs_init_normal(&r));
      CHECKF(differ == 0, "%lld of %lld values differ from the serial stream", (long long)differ,
             (long long)nb);
    }
    free(got);
    gs_model_free(r18);
  }

  gs_model_config cc = {"convnet", 1, 28, 1.0f, 7, "enc."};
  gs_model *cn = gs_model_new(dev, &cc);
  CHECKF(cn, "%s", gs_errmsg());
  if (cn) {
    CHECK(gs_model_feat_dim(cn) == 256);
    CHECK(gs_pset_numel(gs_model_params(cn)) ==
          288 + 64 + 18432 + 128 + 73728 + 256 + 294912 + 512);
    CHECK(pset_has(gs_model_params(cn), "enc.features.0.weight", GS_SHAPE(32, 1, 3, 3)));
    CHECK(pset_has(gs_model_params(cn), "enc.features.13.bias", GS_SHAPE(256)));
    /* Kaiming normal, fan_out: std sqrt(2/(32*9)) = 0.083 for the first conv. */
    gs_param *w = gs_pset_get(gs_model_params(cn), 0);
    float v[288];
    CHECK(gs_param_read(w, v) == GS_OK);
    double ss = 0.0;
    for (int k = 0; k < 288; k++) ss += (double)v[k] * v[k];
    double std = sqrt(ss / 288);
    CHECKF(std > 0.06 && std < 0.11, "std %g", std);
    CHECK(first_value(gs_pset_get(gs_model_params(cn), 1)) == 1.0f); /* BN weight */
    CHECK(first_value(gs_pset_get(gs_model_state(cn), 1)) == 1.0f);  /* running_var */

    /* Same seed, same values; a clone copies values under new names. */
    gs_model *again = gs_model_new(dev, &cc);
    gs_model *clone = gs_model_clone(cn, "teacher.");
    CHECK(again && clone);
    if (again && clone) {
      gs_param *w2 = gs_pset_get(gs_model_params(again), 0);
      gs_param *w3 = gs_pset_get(gs_model_params(clone), 0);
      CHECK(first_value(w2) == v[0]);
      CHECK(first_value(w3) == v[0]);
      CHECK(strcmp(gs_param_name(w3), "teacher.enc.features.0.weight") == 0);
    }
    gs_model_free(again);
    gs_model_free(clone);

    /* Forward shape on a small input. */
    gs_graph *g = gs_graph_new();
    gs_tensor *x = gs_input(g, "x", GS_F32, GS_SHAPE(2, 1, 28, 28));
    gs_tensor *f = gs_model_forward(cn, g, x, 1);
    CHECKF(f && gs_tensor_dim(f, 0) == 2 && gs_tensor_dim(f, 1) == 256, "%s", gs_graph_error(g));
    /* A wrong channel count is a graph error naming the model. */
    gs_tensor *bad = gs_input(g, "bad", GS_F32, GS_SHAPE(2, 3, 28, 28));
    CHECK(gs_model_forward(cn, g, bad, 1) == NULL);
    CHECK(strstr(gs_graph_error(g), "convnet") != NULL);
    gs_graph_free(g);
    gs_model_free(cn);
  }

  gs_model_config bad = {"vgg", 3, 32, 1.0f, 0, ""};
  CHECK(gs_model_new(dev, &bad) == NULL);
  CHECK(strstr(gs_errmsg(), "vgg") != NULL);

  int64_t dims[3] = {256, 64, 32};
  gs_mlp *h = gs_mlp_new(dev, "projector", dims, 3, 0, 0, 1);
  CHECKF(h, "%s", gs_errmsg());
  if (h) {
    /* Linear(no bias) BN ReLU Linear(bias) = projector.0.weight, .1.weight/.bias, .3.weight/.bias
     */
    CHECK(gs_pset_count(gs_mlp_params(h)) == 5);
    CHECK(pset_has(gs_mlp_params(h), "projector.0.weight", GS_SHAPE(64, 256)));
    CHECK(pset_has(gs_mlp_params(h), "projector.1.weight", GS_SHAPE(64)));
    CHECK(pset_has(gs_mlp_params(h), "projector.3.weight", GS_SHAPE(32, 64)));
    CHECK(pset_has(gs_mlp_params(h), "projector.3.bias", GS_SHAPE(32)));
    CHECK(pset_has(gs_mlp_state(h), "projector.1.running_mean", GS_SHAPE(64)));
    gs_mlp_free(h);
  }
  gs_device_close(dev);
  gs_runtime_close(rt);
  return check_summary();
}
