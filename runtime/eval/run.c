/* A trained run directory as an evaluable model: config.json says what was trained, the
 * checkpoint holds every tensor by name. Everything is checked before it is used, so a file
 * from another model or method, or a damaged one, is refused with the reason. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_impl.h"

struct gs_eval_run {
  gs_eval_run_info info;
  gs_model *model;
  const gs_method_iface *method;
  void *method_self;
  double *method_hp;
};

static const char *json_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_num(const cJSON *o, const char *key, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v)) return 0;
  *out = v->valuedouble;
  return 1;
}

static gs_status read_config(const char *dir, gs_eval_run_info *info, cJSON **root) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  uint8_t *text = NULL;
  size_t text_len = 0;
  gs_status st = gs_read_file(path, 64u << 20, &text, &text_len);
  if (st != GS_OK) return st;
  *root = cJSON_Parse((const char *)text);
  free(text);
  if (!*root || !cJSON_IsObject(*root))
    return gs_fail(GS_ERR_FORMAT, "%s: not a JSON object", path);
  const char *model = json_str(*root, "model"), *method = json_str(*root, "method");
  const char *data = json_str(*root, "data");
  if (!model || !method)
    return gs_fail(GS_ERR_FORMAT, "%s: no \"model\" or \"method\" string", path);
  if (strlen(model) >= sizeof info->model || strlen(method) >= sizeof info->method)
    return gs_fail(GS_ERR_FORMAT, "%s: model or method name too long", path);
  snprintf(info->model, sizeof info->model, "%s", model);
  snprintf(info->method, sizeof info->method, "%s", method);
  snprintf(info->data, sizeof info->data, "%s", data ? data : "");
  double v;
  info->width = json_num(*root, "width", &v) ? (float)v : 1.0f;
  info->in_channels = json_num(*root, "in_channels", &v) ? (int)v : 0;
  info->image_size = json_num(*root, "image_size", &v) ? (int)v : 0;
  if (!(info->width > 0) || info->in_channels < 0 || info->image_size < 0)
    return gs_fail(GS_ERR_FORMAT, "%s: width, in_channels or image_size out of range", path);
  return GS_OK;
}

/* Copies the checkpoint tensor of p's name into p after checking dtype and shape. */
static gs_status load_param(gs_safetensors *st, const char *path, gs_param *p, const char *whose) {
  const char *name = gs_param_name(p);
  int i = gs_st_find(st, name);
  if (i < 0)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: no tensor \"%s\" that %s needs (a checkpoint of another "
                   "model or method?)",
                   path, name, whose);
  gs_shape want = gs_param_shape(p), got = gs_st_shape(st, i);
  if (!gs_shape_eq(&want, &got)) {
    char a[96], b[96];
    return gs_fail(GS_ERR_SHAPE, "%s: tensor \"%s\" is %s, %s needs %s", path, name,
                   gs_shape_str(&got, a, sizeof a), whose, gs_shape_str(&want, b, sizeof b));
  }
  if (strcmp(gs_st_dtype_str(st, i), "F32") != 0)
    return gs_fail(GS_ERR_FORMAT, "%s: tensor \"%s\" is %s, not F32", path, name,
                   gs_st_dtype_str(st, i));
  int64_t n = gs_shape_numel(&want);
  float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
  if (!buf) return gs_fail(GS_ERR_NOMEM, "%s: out of memory for \"%s\"", path, name);
  gs_status s = gs_st_read(st, i, GS_F32, buf, n);
  for (int64_t k = 0; s == GS_OK && k < n; k++)
    if (!isfinite(buf[k]))
      s = gs_fail(GS_ERR_NUMERIC, "%s: tensor \"%s\" holds NaN or Inf", path, name);
  if (s == GS_OK) s = gs_param_write(p, buf);
  free(buf);
  return s;
}

static gs_status load_set(gs_safetensors *st, const char *path, const gs_pset *set,
                          const char *whose, int *loaded) {
  for (int k = 0; k < gs_pset_count(set); k++) {
    gs_status s = load_param(st, path, gs_pset_get(set, k), whose);
    if (s != GS_OK) return s;
    (*loaded)++;
  }
  return GS_OK;
}

/* The run's method hyperparameters: declared defaults, then config.json's method_hparams. */
static gs_status method_hparams(const gs_method_iface *m, const cJSON *root, double **out) {
  double *v = calloc((size_t)(m->n_hparams > 0 ? m->n_hparams : 1), sizeof *v);
  if (!v) return gs_fail(GS_ERR_NOMEM, "eval: out of memory");
  const cJSON *hp = cJSON_GetObjectItemCaseSensitive(root, "method_hparams");
  for (int k = 0; k < m->n_hparams; k++) {
    const gs_hparam_decl *d = &m->hparams[k];
    v[k] = d->def;
    const cJSON *x = cJSON_IsObject(hp) ? cJSON_GetObjectItemCaseSensitive(hp, d->name) : NULL;
    if (!x) continue;
    gs_status s = GS_OK;
    char buf[64];
    if (cJSON_IsBool(x)) {
      v[k] = cJSON_IsTrue(x) ? 1.0 : 0.0;
    } else if (cJSON_IsNumber(x)) {
      snprintf(buf, sizeof buf, "%.17g", x->valuedouble);
      s = gs_hparam_parse(d, buf, &v[k]);
    } else if (cJSON_IsString(x)) {
      s = gs_hparam_parse(d, x->valuestring, &v[k]);
    }
    if (s != GS_OK) {
      free(v);
      return eval_wrap(GS_ERR_FORMAT, "config.json method_hparams");
    }
  }
  *out = v;
  return GS_OK;
}

/* The input channels (when config.json does not say) and, for a ResNet named without its stem,
 * the stem, both read off the first convolution's weight: a 7x7 kernel is ImageNet's stem. */
static gs_status infer_from_weights(gs_safetensors *st, const char *path, gs_eval_run_info *info,
                                    char *arch, size_t arch_len) {
  snprintf(arch, arch_len, "%s", info->model);
  int convnet = strncmp(info->model, "convnet", 7) == 0;
  if (strncmp(info->model, "identity", 8) == 0) {
    if (info->in_channels == 0) info->in_channels = 1;
    return GS_OK;
  }
  const char *first = convnet ? "features.0.weight" : "conv1.weight";
  int i = gs_st_find(st, first);
  if (i < 0)
    return gs_fail(GS_ERR_FORMAT, "%s: no tensor \"%s\": not a %s checkpoint", path, first,
                   info->model);
  gs_shape s = gs_st_shape(st, i);
  if (s.rank != 4 || s.dim[1] < 1 || s.dim[1] > 64)
    return gs_fail(GS_ERR_SHAPE, "%s: \"%s\" is not a convolution weight [O, C, k, k]", path,
                   first);
  if (info->in_channels == 0) info->in_channels = (int)s.dim[1];
  if (!convnet && !strchr(info->model, ':'))
    snprintf(arch, arch_len, "%s:%s", info->model, s.dim[3] == 7 ? "imagenet" : "cifar");
  return GS_OK;
}

static gs_status open_run(gs_eval_run *r, gs_runtime *rt, gs_device *dev, const char *dir,
                          int64_t method_batch) {
  cJSON *root = NULL;
  gs_safetensors *st = NULL;
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
  gs_status s = read_config(dir, &r->info, &root);
  if (s == GS_OK && !(st = gs_st_open(path))) s = GS_ERR_FORMAT; /* message set by gs_st_open */
  for (int k = 0; s == GS_OK && k < 2; k++) {
    const char *key = k ? "method" : "model", *want = k ? r->info.method : r->info.model;
    const char *got = gs_st_meta(st, key);
    if (got && strcmp(got, want) != 0)
      s = gs_fail(GS_ERR_FORMAT, "%s: written by %s %s, but config.json says %s", path, key, got,
                  want);
  }
  char arch[64];
  if (s == GS_OK) s = infer_from_weights(st, path, &r->info, arch, sizeof arch);
  if (s == GS_OK) {
    gs_model_config mc = {0};
    mc.arch = arch;
    mc.in_channels = r->info.in_channels;
    mc.image_size = r->info.image_size > 0 ? r->info.image_size : 32;
    mc.width = r->info.width;
    mc.prefix = "";
    r->model = gs_model_new(dev, &mc);
    if (!r->model) s = eval_wrap(GS_ERR_INVALID, "config.json model");
  }
  if (s == GS_OK) {
    char whose[64];
    snprintf(whose, sizeof whose, "model %s", r->info.model);
    s = load_set(st, path, gs_model_params(r->model), whose, &r->info.n_tensors);
    if (s == GS_OK) s = load_set(st, path, gs_model_state(r->model), whose, &r->info.n_tensors);
    r->info.feat_dim = gs_model_feat_dim(r->model);
  }
  if (s == GS_OK && rt) {
    r->method = gs_runtime_method(rt, r->info.method);
    if (!r->method) s = eval_wrap(GS_ERR_PLUGIN, "config.json method");
    if (s == GS_OK) s = method_hparams(r->method, root, &r->method_hp);
    if (s == GS_OK) {
      gs_method_ctx ctx = {GS_TABLE_HEAD(gs_method_ctx, GS_METHOD_ABI_VERSION),
                           .dev = dev,
                           .backbone = r->model,
                           .batch = method_batch > 1 ? method_batch : 128,
                           .total_steps = 1,
                           .hp = r->method_hp};
      s = gs_method_create(r->method, &ctx, &r->method_self);
      if (s != GS_OK) {
        r->method_self = NULL;
        s = eval_wrap(s, "creating the method");
      }
    }
    gs_pset *set = s == GS_OK ? gs_pset_new() : NULL;
    if (s == GS_OK && !set) s = gs_fail(GS_ERR_NOMEM, "eval: out of memory");
    char whose[96];
    snprintf(whose, sizeof whose, "method %s", r->info.method);
    if (s == GS_OK) s = r->method->params(r->method_self, set);
    if (s == GS_OK && r->method->state) s = r->method->state(r->method_self, set);
    if (s == GS_OK) s = load_set(st, path, set, whose, &r->info.n_tensors);
    gs_pset_free(set);
  }
  gs_st_close(st);
  cJSON_Delete(root);
  return s;
}

gs_eval_run *gs_eval_run_open(gs_runtime *rt, gs_device *dev, const char *dir,
                              int64_t method_batch) {
  if (!dev || !dir) {
    gs_fail(GS_ERR_INVALID, "gs_eval_run_open: missing device or directory");
    return NULL;
  }
  gs_eval_run *r = calloc(1, sizeof *r);
  if (!r) {
    gs_fail(GS_ERR_NOMEM, "eval: out of memory");
    return NULL;
  }
  if (open_run(r, rt, dev, dir, method_batch) != GS_OK) {
    char why[1024];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    gs_eval_run_close(r);
    gs_fail(GS_ERR_FORMAT, "%s", why);
    return NULL;
  }
  return r;
}

void gs_eval_run_close(gs_eval_run *r) {
  if (!r) return;
  if (r->method_self) r->method->destroy(r->method_self);
  gs_model_free(r->model);
  free(r->method_hp);
  free(r);
}

const gs_eval_run_info *gs_eval_run_get_info(const gs_eval_run *r) { return r ? &r->info : NULL; }
gs_model *gs_eval_run_model(gs_eval_run *r) { return r ? r->model : NULL; }
const double *gs_eval_run_method_hp(const gs_eval_run *r) {
  return r && r->method_self ? r->method_hp : NULL;
}

const gs_method_iface *gs_eval_run_method(gs_eval_run *r, void **self) {
  if (self) *self = r && r->method_self ? r->method_self : NULL;
  return r && r->method_self ? r->method : NULL;
}

gs_status gs_export_backbone(gs_model *m, const char *path) {
  if (!m || !path) return gs_fail(GS_ERR_INVALID, "export: missing model or path");
  const gs_pset *sets[2] = {gs_model_params(m), gs_model_state(m)};
  int n = gs_pset_count(sets[0]) + gs_pset_count(sets[1]), n_bn = 0;
  for (int k = 0; k < gs_pset_count(sets[1]); k++) {
    const char *name = gs_param_name(gs_pset_get(sets[1], k));
    size_t len = strlen(name);
    if (len > 13 && strcmp(name + len - 13, ".running_mean") == 0) n_bn++;
  }
  gs_st_tensor *t = calloc((size_t)(n + n_bn), sizeof *t);
  float **bufs = calloc((size_t)(n > 0 ? n : 1), sizeof *bufs);
  char **names = calloc((size_t)(n_bn > 0 ? n_bn : 1), sizeof *names);
  static const int32_t zero = 0;
  gs_status s = t && bufs && names ? GS_OK : gs_fail(GS_ERR_NOMEM, "export: out of memory");
  int at = 0, bn = 0;
  for (int si = 0; si < 2 && s == GS_OK; si++)
    for (int k = 0; k < gs_pset_count(sets[si]) && s == GS_OK; k++) {
      gs_param *p = gs_pset_get(sets[si], k);
      gs_shape sh = gs_param_shape(p);
      bufs[at] = malloc((size_t)(gs_shape_numel(&sh) > 0 ? gs_shape_numel(&sh) : 1) * 4);
      if (!bufs[at]) {
        s = gs_fail(GS_ERR_NOMEM, "export: out of memory");
        break;
      }
      s = gs_param_read(p, bufs[at]);
      t[at] = (gs_st_tensor){gs_param_name(p), GS_F32, sh, bufs[at]};
      at++;
      const char *name = gs_param_name(p);
      size_t len = strlen(name);
      /* torchvision's BatchNorm2d also holds num_batches_tracked; without it a strict
       * load_state_dict refuses the file. Only its presence matters at momentum 0.1. */
      if (si == 1 && len > 13 && strcmp(name + len - 13, ".running_mean") == 0) {
        names[bn] = malloc(len + 8);
        if (!names[bn]) {
          s = gs_fail(GS_ERR_NOMEM, "export: out of memory");
          break;
        }
        snprintf(names[bn], len + 8, "%.*s.num_batches_tracked", (int)(len - 13), name);
        t[n + bn] = (gs_st_tensor){names[bn], GS_I32, (gs_shape){0, {0}}, &zero};
        bn++;
      }
    }
  gs_st_kv meta[2] = {{"format", "pt"}, {"arch", gs_model_arch(m)}};
  if (s == GS_OK) s = gs_st_write(path, t, n + n_bn, meta, 2);
  for (int k = 0; bufs && k < n; k++) free(bufs[k]);
  for (int k = 0; names && k < n_bn; k++) free(names[k]);
  free(bufs);
  free(names);
  free(t);
  return s;
}
