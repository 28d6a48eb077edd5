/* The run directory: created on demand, config.json written before the first step so a run that
 * dies early still says what it was. Files are replaced durably (io.h), so a reader never sees
 * half a file. Its "settings" object holds the configuration under the flag names of
 * `gessl train`, which is what `--resume` and `--config` read back. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gessl/io.h"
#include "train_impl.h"

gs_status train_mkdir_p(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return gs_fail(GS_ERR_INVALID, "--out %s: path too long", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return gs_fail(GS_ERR_IO, "--out: cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return gs_fail(GS_ERR_IO, "--out: cannot create %s: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return gs_fail(GS_ERR_IO, "--out %s: not a directory", buf);
  return GS_OK;
}

static const char *const run_files[] = {"config.json", "state.json", "checkpoint.safetensors",
                                        "log.jsonl"};

const char *train_dir_run_file(const char *dir) {
  for (size_t k = 0; k < sizeof run_files / sizeof *run_files; k++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, run_files[k]);
    struct stat st;
    if (lstat(p, &st) == 0) return run_files[k];
  }
  return NULL;
}

gs_status train_dir_clear(const char *dir) {
  const char *stale[] = {"state.json", "checkpoint.safetensors"};
  for (size_t k = 0; k < sizeof stale / sizeof *stale; k++) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, stale[k]);
    if (unlink(p) != 0 && errno != ENOENT)
      return gs_fail(GS_ERR_IO, "--force: cannot remove %s: %s", p, strerror(errno));
  }
  return GS_OK;
}

void train_dir_sweep(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  const char *names[] = {"config.json", "state.json", "checkpoint.safetensors", "log.jsonl",
                         "curves.png"};
  struct dirent *e;
  while ((e = readdir(d))) {
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
      size_t n = strlen(names[k]);
      if (e->d_name[0] == '.' && !strncmp(e->d_name + 1, names[k], n) &&
          !strncmp(e->d_name + 1 + n, ".tmp-", 5)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
      }
    }
  }
  closedir(d);
}

static void add_hparams(cJSON *obj, const gs_hparam_decl *d, int n, const double *v) {
  for (int k = 0; k < n; k++) {
    char buf[64];
    if (d[k].type == GS_HP_FLOAT || d[k].type == GS_HP_INT)
      cJSON_AddNumberToObject(obj, d[k].name, v[k]);
    else if (d[k].type == GS_HP_BOOL)
      cJSON_AddBoolToObject(obj, d[k].name, v[k] != 0.0);
    else
      cJSON_AddStringToObject(obj, d[k].name, gs_hparam_format(&d[k], v[k], buf, sizeof buf));
  }
}

static const char *optim_name(gs_optim_kind k) {
  return k == GS_OPT_LARS ? "lars" : k == GS_OPT_ADAMW ? "adamw" : "sgd";
}

/* The settings a run was made with, as `--config` and `--resume` read them: the table's rows,
 * with the warm-up and weight decay the run resolved, then the hyperparameters. */
static void add_settings(cJSON *s, const train_run *r) {
  gs_train_config c = *r->cfg;
  c.warmup_steps = r->warmup;
  c.weight_decay = r->opt_cfg.weight_decay;
  train_settings_to_json(s, &c);
  add_hparams(s, r->method->hparams, r->method->n_hparams, r->method_hp);
  add_hparams(s, r->meta->hparams, r->meta->n_hparams, r->meta_hp);
}

gs_status train_write_config(const train_run *r) {
  const gs_train_config *c = r->cfg;
  gs_status st = GS_OK;
  cJSON *root = cJSON_CreateObject();
  if (!root) return gs_fail(GS_ERR_NOMEM, "config.json: out of memory");
  cJSON_AddStringToObject(root, "gessl_version", GESSL_VERSION);
  cJSON_AddStringToObject(root, "backend", c->backend);
  const gs_device_info *di = gs_device_get_info(r->dev);
  cJSON *dev = cJSON_AddObjectToObject(root, "device");
  cJSON_AddStringToObject(dev, "backend", gs_device_backend_name(r->dev));
  cJSON_AddStringToObject(dev, "name", di->name);
  cJSON_AddStringToObject(dev, "vendor", di->vendor);
  cJSON_AddStringToObject(dev, "driver", di->driver);
  cJSON_AddStringToObject(root, "data", c->data);
  cJSON_AddStringToObject(root, "dataset", gs_dataset_name(r->ds));
  cJSON_AddNumberToObject(root, "dataset_size", (double)gs_dataset_size(r->ds));
  cJSON_AddNumberToObject(root, "data_limit", (double)c->data_limit);
  /* What was held out for testing: 0 when the data set has a test split or test_data is used. */
  cJSON_AddNumberToObject(root, "holdout", train_float_num(gs_dataset_holdout(r->ds)));
  char split_seed[32];
  snprintf(split_seed, sizeof split_seed, "%llu", (unsigned long long)c->split_seed);
  cJSON_AddStringToObject(root, "split_seed", split_seed);
  cJSON_AddStringToObject(root, "test_data", c->test_data ? c->test_data : "");
  cJSON_AddNumberToObject(root, "in_channels", gs_dataset_channels(r->ds));
  cJSON_AddNumberToObject(root, "image_size", gs_dataset_height(r->ds));
  cJSON_AddStringToObject(root, "model", c->model);
  cJSON_AddNumberToObject(root, "width", train_float_num(c->width));
  cJSON_AddStringToObject(root, "method", c->method);
  cJSON_AddStringToObject(root, "meta", c->meta);
  cJSON_AddNumberToObject(root, "batch", c->batch);
  cJSON_AddNumberToObject(root, "epochs", c->epochs);
  cJSON_AddNumberToObject(root, "max_steps", (double)c->max_steps);
  cJSON_AddNumberToObject(root, "total_steps", (double)r->total);
  cJSON_AddNumberToObject(root, "schedule_steps", (double)r->horizon);
  cJSON_AddNumberToObject(root, "steps_per_epoch", (double)r->steps_per_epoch);
  cJSON_AddNumberToObject(root, "checkpoint_every", (double)c->checkpoint_every);
  cJSON_AddNumberToObject(root, "monitor_knn", c->monitor_knn);
  cJSON_AddNumberToObject(root, "log_every", c->log_every);
  cJSON_AddNumberToObject(root, "lr", train_float_num(c->lr));
  cJSON_AddNumberToObject(root, "final_lr", train_float_num(c->final_lr));
  cJSON_AddNumberToObject(root, "warmup_steps", (double)r->warmup);
  cJSON *opt = cJSON_AddObjectToObject(root, "optimizer");
  cJSON_AddStringToObject(opt, "name", optim_name(c->optimizer));
  cJSON_AddNumberToObject(opt, "momentum", train_float_num(r->opt_cfg.momentum));
  cJSON_AddNumberToObject(opt, "weight_decay", train_float_num(r->opt_cfg.weight_decay));
  cJSON_AddNumberToObject(opt, "eta", train_float_num(r->opt_cfg.eta));
  cJSON_AddNumberToObject(opt, "beta1", train_float_num(r->opt_cfg.beta1));
  cJSON_AddNumberToObject(opt, "beta2", train_float_num(r->opt_cfg.beta2));
  cJSON_AddNumberToObject(opt, "eps", train_float_num(r->opt_cfg.eps));
  /* The seed as a string too: JSON numbers lose 64-bit integers in most readers. */
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
  cJSON_AddStringToObject(root, "seed", seed);
  cJSON_AddNumberToObject(root, "threads", c->threads);
  add_hparams(cJSON_AddObjectToObject(root, "method_hparams"), r->method->hparams,
              r->method->n_hparams, r->method_hp);
  add_hparams(cJSON_AddObjectToObject(root, "meta_hparams"), r->meta->hparams, r->meta->n_hparams,
              r->meta_hp);
  add_settings(cJSON_AddObjectToObject(root, "settings"), r);
  cJSON *plugins = cJSON_AddArrayToObject(root, "plugins");
  for (int k = 0; k < gs_runtime_plugin_count(r->rt); k++) {
    gs_plugin_info pi = gs_runtime_plugin(r->rt, k);
    if (pi.kind == GS_PLUGIN_REFUSED) continue;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", pi.name);
    cJSON_AddStringToObject(p, "kind",
                            pi.kind == GS_PLUGIN_BACKEND  ? "backend"
                            : pi.kind == GS_PLUGIN_METHOD ? "method"
                                                          : "meta");
    cJSON_AddStringToObject(p, "path", pi.path);
    if (pi.kind == GS_PLUGIN_BACKEND)
      for (int b = 0; b < gs_runtime_backend_count(r->rt); b++) {
        const gs_backend_iface *be = gs_runtime_backend(r->rt, b);
        if (strcmp(be->name, pi.name) == 0) cJSON_AddStringToObject(p, "version", be->version);
      }
    cJSON_AddItemToArray(plugins, p);
  }
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return gs_fail(GS_ERR_NOMEM, "config.json: out of memory");
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", r->dir);
  st = gs_write_file_durable(path, text, strlen(text));
  cJSON_free(text);
  return st;
}
