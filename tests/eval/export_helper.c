/* Helper of the PyTorch export test.
 *   export_helper checkpoint RUN ARCH CHANNELS SIZE   a run directory holding a randomly
 *       initialised backbone whose BN affine params and running statistics are random too, so
 *       eval-mode BN is not the identity;
 *   export_helper features RUN INPUT OUTPUT          gessl's eval-mode features of INPUT's
 *       "input" [N, C, H, W] through RUN's backbone, written as OUTPUT's "features". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/eval.h"
#include "gessl/io.h"

static int die(const char *what) {
  fprintf(stderr, "export_helper: %s: %s\n", what, gs_errmsg());
  return 1;
}

static uint64_t rng = 2024;
static float urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 11) / 9007199254740992.0);
}

static int randomise(const gs_pset *s) {
  for (int k = 0; k < gs_pset_count(s); k++) {
    gs_param *p = gs_pset_get(s, k);
    gs_shape sh = gs_param_shape(p);
    if (sh.rank != 1) continue; /* conv weights keep their Kaiming init */
    int64_t n = sh.dim[0];
    float *v = malloc((size_t)n * sizeof *v);
    const char *name = gs_param_name(p);
    int var = strstr(name, "running_var") != NULL, w = strstr(name, ".weight") != NULL;
    for (int64_t i = 0; i < n; i++)
      v[i] = var ? 0.5f + urand() : w ? 0.5f + urand() : 0.4f * (urand() - 0.5f);
    gs_status st = gs_param_write(p, v);
    free(v);
    if (st != GS_OK) return die(name);
  }
  return 0;
}

static int make_checkpoint(gs_device *dev, const char *dir, const char *arch, int c, int size) {
  gs_model_config mc = {0};
  mc.arch = arch;
  mc.in_channels = c;
  mc.image_size = size;
  mc.width = 1.0f;
  mc.seed = 7;
  gs_model *m = gs_model_new(dev, &mc);
  if (!m) return die("model");
  if (randomise(gs_model_params(m)) || randomise(gs_model_state(m))) return 1;
  const gs_pset *sets[2] = {gs_model_params(m), gs_model_state(m)};
  int n = gs_pset_count(sets[0]) + gs_pset_count(sets[1]), at = 0;
  gs_st_tensor *t = calloc((size_t)n, sizeof *t);
  float **bufs = calloc((size_t)n, sizeof *bufs);
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < gs_pset_count(sets[s]); k++, at++) {
      gs_param *p = gs_pset_get(sets[s], k);
      gs_shape sh = gs_param_shape(p);
      bufs[at] = malloc((size_t)gs_shape_numel(&sh) * sizeof(float));
      if (gs_param_read(p, bufs[at]) != GS_OK) return die("read");
      t[at] = (gs_st_tensor){gs_param_name(p), GS_F32, sh, bufs[at]};
    }
  char path[4096], cfg[1024];
  snprintf(path, sizeof path, "mkdir -p '%s'", dir);
  if (system(path) != 0) return die("mkdir");
  gs_st_kv meta[2] = {{"model", arch}, {"method", "simclr"}};
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
  if (gs_st_write(path, t, n, meta, 2) != GS_OK) return die("checkpoint");
  int len = snprintf(cfg, sizeof cfg,
                     "{\"model\": \"%s\", \"method\": \"simclr\", \"width\": 1, "
                     "\"in_channels\": %d, \"image_size\": %d, \"data\": \"synthetic:%dx%dx%d\"}\n",
                     arch, c, size, size, size, c);
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (gs_write_file_durable(path, cfg, (size_t)len) != GS_OK) return die("config");
  for (int k = 0; k < n; k++) free(bufs[k]);
  free(bufs);
  free(t);
  gs_model_free(m);
  return 0;
}

static int features(gs_device *dev, const char *dir, const char *in, const char *out) {
  gs_eval_run *r = gs_eval_run_open(NULL, dev, dir, 0);
  if (!r) return die(dir);
  gs_safetensors *st = gs_st_open(in);
  if (!st) return die(in);
  int i = gs_st_find(st, "input");
  gs_shape s = i >= 0 ? gs_st_shape(st, i) : (gs_shape){0, {0}};
  if (s.rank != 4) return die("input is not [N, C, H, W]");
  int64_t numel = gs_shape_numel(&s), d = gs_model_feat_dim(gs_eval_run_model(r));
  float *x = malloc((size_t)numel * sizeof *x), *f = malloc((size_t)(s.dim[0] * d) * sizeof *f);
  if (gs_st_read(st, i, GS_F32, x, numel) != GS_OK) return die(in);
  /* A batch smaller than N checks that batching and zero-padding change nothing. */
  if (gs_eval_forward(dev, gs_eval_run_model(r), x, s.dim[0], (int)s.dim[1], (int)s.dim[2],
                      (int)s.dim[3], 0, 3, f) != GS_OK)
    return die("forward");
  gs_st_tensor t = {"features", GS_F32, GS_SHAPE(s.dim[0], d), f};
  if (gs_st_write(out, &t, 1, NULL, 0) != GS_OK) return die(out);
  free(x);
  free(f);
  gs_st_close(st);
  gs_eval_run_close(r);
  return 0;
}

int main(int argc, char **argv) {
  gs_runtime *rt = gs_runtime_open(NULL);
  gs_device *dev = rt ? gs_device_open(rt, "cpu") : NULL;
  if (!dev) return die("cpu device");
  int rc = 2;
  if (argc == 6 && !strcmp(argv[1], "checkpoint"))
    rc = make_checkpoint(dev, argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
  else if (argc == 5 && !strcmp(argv[1], "features"))
    rc = features(dev, argv[2], argv[3], argv[4]);
  else
    fprintf(stderr, "usage: export_helper checkpoint RUN ARCH C SIZE | features RUN IN OUT\n");
  gs_device_close(dev);
  gs_runtime_close(rt);
  return rc;
}
