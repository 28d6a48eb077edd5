/* Checkpoints: every device tensor a run needs to continue (trainable params, BN statistics and
 * other method state, optimizer moments) in DIR/checkpoint.safetensors, and the loop's counters
 * in DIR/state.json for people and scripts to read. The tensors' safetensors metadata holds every
 * counter too, and is what a resume trusts: the two files are replaced one after the other, so a
 * crash (SIGKILL, power loss) between the two renames leaves the new checkpoint beside the
 * previous state.json. Such an older state.json is rewritten on resume; a state.json newer than
 * the checkpoint cannot come from a crash and is refused.
 *
 * Nothing in the loop draws random numbers: the data order and the augmentations are functions
 * of (seed, epoch, sample, view), so the seed and the data position are the whole RNG state. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gessl/io.h"
#include "train_impl.h"

#define CKPT_FORMAT "gessl-checkpoint"
#define CKPT_VERSION "1"

/* The tensors of a checkpoint, in file order: params, state, optimizer state. */
typedef struct ckpt_list {
  gs_param **p;
  int n;
  int64_t numel;
} ckpt_list;

static gs_status list_add_set(ckpt_list *l, const gs_pset *s) {
  for (int k = 0; s && k < gs_pset_count(s); k++) {
    gs_param *p = gs_pset_get(s, k);
    gs_param **np = realloc(l->p, (size_t)(l->n + 1) * sizeof *np);
    if (!np) return gs_fail(GS_ERR_NOMEM, "checkpoint: out of memory");
    l->p = np;
    l->p[l->n++] = p;
    gs_shape sh = gs_param_shape(p);
    l->numel += gs_shape_numel(&sh);
  }
  return GS_OK;
}

static gs_status list_build(const train_run *r, ckpt_list *l) {
  memset(l, 0, sizeof *l);
  gs_status st = list_add_set(l, r->params);
  if (st == GS_OK) st = list_add_set(l, r->state);
  if (st == GS_OK) st = list_add_set(l, gs_optimizer_state(r->opt));
  if (st != GS_OK) free(l->p);
  return st;
}

static const char *optim_name(gs_optim_kind k) {
  return k == GS_OPT_LARS ? "lars" : k == GS_OPT_ADAMW ? "adamw" : "sgd";
}

static void path_in(char *buf, size_t len, const char *dir, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static gs_status write_state_json(const train_run *r, const char *ckpt_name) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return gs_fail(GS_ERR_NOMEM, "state.json: out of memory");
  char buf[64];
  cJSON_AddStringToObject(o, "format", "gessl-state");
  cJSON_AddNumberToObject(o, "version", 1);
  cJSON_AddStringToObject(o, "checkpoint", ckpt_name);
  cJSON_AddNumberToObject(o, "step", (double)r->step);
  cJSON_AddNumberToObject(o, "epoch", (double)(r->step / r->steps_per_epoch));
  cJSON_AddNumberToObject(o, "total_steps", (double)r->total);
  cJSON_AddNumberToObject(o, "schedule_steps", (double)r->horizon);
  cJSON *data = cJSON_AddObjectToObject(o, "data");
  cJSON_AddNumberToObject(data, "batches_consumed", (double)r->batches);
  cJSON_AddNumberToObject(data, "next_epoch", (double)(r->batches / r->batches_per_epoch));
  cJSON_AddNumberToObject(data, "next_batch", (double)(r->batches % r->batches_per_epoch));
  cJSON_AddNumberToObject(data, "batches_per_epoch", (double)r->batches_per_epoch);
  cJSON_AddNumberToObject(data, "images", (double)r->images);
  cJSON *rng = cJSON_AddObjectToObject(o, "rng");
  snprintf(buf, sizeof buf, "%" PRIu64, r->cfg->seed);
  cJSON_AddStringToObject(rng, "seed", buf);
  cJSON_AddStringToObject(rng, "data_order", "gs_epoch_order(seed, epoch)");
  cJSON_AddStringToObject(rng, "augment", "gs_augment_sample(seed, epoch, sample, view)");
  cJSON *opt = cJSON_AddObjectToObject(o, "optimizer");
  cJSON_AddStringToObject(opt, "name", optim_name(r->opt_cfg.kind));
  cJSON_AddNumberToObject(opt, "t", (double)r->step);
  cJSON_AddNumberToObject(opt, "lr", (double)r->lr);
  cJSON_AddNumberToObject(opt, "state_tensors", gs_pset_count(gs_optimizer_state(r->opt)));
  cJSON_AddStringToObject(o, "model", r->cfg->model);
  cJSON_AddStringToObject(o, "method", r->method->name);
  cJSON_AddStringToObject(o, "meta", r->meta->name);
  cJSON_AddNumberToObject(o, "elapsed_s", r->elapsed_before);
  cJSON_AddNumberToObject(o, "epoch_loss_sum", r->epoch_loss_sum);
  cJSON_AddNumberToObject(o, "epoch_loss_steps", (double)r->epoch_loss_n);
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) return gs_fail(GS_ERR_NOMEM, "state.json: out of memory");
  char path[4200];
  path_in(path, sizeof path, r->dir, "state.json");
  gs_status st = gs_write_file_durable(path, text, strlen(text));
  cJSON_free(text);
  return st;
}

gs_status train_checkpoint_save(train_run *r) {
  if (!r->dir) return GS_OK;
  ckpt_list l;
  gs_status st = list_build(r, &l);
  if (st != GS_OK) return st;
  float *host = malloc((size_t)(l.numel > 0 ? l.numel : 1) * sizeof *host);
  gs_st_tensor *t = calloc((size_t)(l.n > 0 ? l.n : 1), sizeof *t);
  if (!host || !t) st = gs_fail(GS_ERR_NOMEM, "checkpoint: out of memory");
  int64_t at = 0;
  for (int k = 0; k < l.n && st == GS_OK; k++) {
    gs_shape sh = gs_param_shape(l.p[k]);
    st = gs_param_read(l.p[k], host + at);
    t[k] = (gs_st_tensor){gs_param_name(l.p[k]), GS_F32, sh, host + at};
    at += gs_shape_numel(&sh);
  }
  char step[32], batches[32], images[32], seed[32], np[16], ns[16], el[40], es[40], en[32];
  snprintf(step, sizeof step, "%" PRId64, r->step);
  snprintf(batches, sizeof batches, "%" PRId64, r->batches);
  snprintf(images, sizeof images, "%" PRId64, r->images);
  snprintf(seed, sizeof seed, "%" PRIu64, r->cfg->seed);
  snprintf(np, sizeof np, "%d", gs_pset_count(r->params));
  snprintf(ns, sizeof ns, "%d", gs_pset_count(r->state));
  /* %.17g: a double read back is the same double, so the epoch's mean loss resumes exactly. */
  snprintf(el, sizeof el, "%.17g", r->elapsed_before);
  snprintf(es, sizeof es, "%.17g", r->epoch_loss_sum);
  snprintf(en, sizeof en, "%" PRId64, r->epoch_loss_n);
  gs_st_kv meta[] = {{"format", CKPT_FORMAT},
                     {"version", CKPT_VERSION},
                     {"gessl_version", GESSL_VERSION},
                     {"model", r->cfg->model},
                     {"method", r->method->name},
                     {"meta", r->meta->name},
                     {"optimizer", optim_name(r->opt_cfg.kind)},
                     {"step", step},
                     {"batches", batches},
                     {"images", images},
                     {"seed", seed},
                     {"params", np},
                     {"state", ns},
                     {"elapsed_s", el},
                     {"epoch_loss_sum", es},
                     {"epoch_loss_steps", en}};
  char path[4200];
  path_in(path, sizeof path, r->dir, "checkpoint.safetensors");
  if (st == GS_OK) {
    st = gs_st_write(path, t, l.n, meta, (int)(sizeof meta / sizeof *meta));
    if (st != GS_OK) {
      char why[1024];
      snprintf(why, sizeof why, "%s", gs_errmsg());
      st = gs_fail(st, "checkpoint at step %" PRId64 ": %s", r->step, why);
    }
  }
  free(host);
  free(t);
  free(l.p);
  if (st == GS_OK) st = write_state_json(r, "checkpoint.safetensors");
  if (st == GS_OK) r->checkpoint_step = r->step;
  return st;
}

/* A non-negative integer from metadata or JSON text. */
static int parse_i64(const char *text, int64_t *out) {
  if (!text || !*text) return 0;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (*end || errno || v < 0) return 0;
  *out = v;
  return 1;
}

/* A finite number from metadata text. */
static int parse_f64(const char *text, double *out) {
  if (!text || !*text) return 0;
  char *end;
  double v = strtod(text, &end);
  if (*end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

/* Checks the metadata names the run's model and method. */
static gs_status check_meta(const train_run *r, const gs_safetensors *s, const char *path) {
  const char *fmt = gs_st_meta(s, "format");
  if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
    return gs_fail(GS_ERR_FORMAT, "%s: not a gessl checkpoint (metadata format is '%s')", path,
                   fmt ? fmt : "missing");
  const struct {
    const char *key, *want;
  } m[] = {{"model", r->cfg->model}, {"method", r->method->name}, {"meta", r->meta->name}};
  for (size_t k = 0; k < sizeof m / sizeof *m; k++) {
    const char *have = gs_st_meta(s, m[k].key);
    if (!have || strcmp(have, m[k].want) != 0)
      return gs_fail(GS_ERR_INVALID, "%s: checkpoint of %s '%s', but this run's %s is '%s'", path,
                     m[k].key, have ? have : "?", m[k].key, m[k].want);
  }
  return GS_OK;
}

gs_status train_checkpoint_load(train_run *r) {
  char path[4200], spath[4200];
  path_in(path, sizeof path, r->dir, "checkpoint.safetensors");
  path_in(spath, sizeof spath, r->dir, "state.json");
  gs_safetensors *s = gs_st_open(path);
  if (!s) {
    char why[1024];
    snprintf(why, sizeof why, "%s", gs_errmsg());
    return gs_fail(GS_ERR_FORMAT, "--resume: %s", why);
  }
  ckpt_list l;
  gs_status st = check_meta(r, s, path);
  int64_t step = 0, batches = 0, images = 0;
  if (st == GS_OK &&
      (!parse_i64(gs_st_meta(s, "step"), &step) || !parse_i64(gs_st_meta(s, "batches"), &batches) ||
       !parse_i64(gs_st_meta(s, "images"), &images)))
    st = gs_fail(GS_ERR_FORMAT, "%s: metadata step/batches/images missing or malformed", path);
  /* Checkpoints written before the metadata held them take these from state.json. */
  double m_el = 0.0, m_esum = 0.0;
  int64_t m_en = 0;
  int in_meta = st == GS_OK && parse_f64(gs_st_meta(s, "elapsed_s"), &m_el) &&
                parse_f64(gs_st_meta(s, "epoch_loss_sum"), &m_esum) &&
                parse_i64(gs_st_meta(s, "epoch_loss_steps"), &m_en);
  if (st == GS_OK) st = list_build(r, &l);
  if (st != GS_OK) {
    gs_st_close(s);
    return st;
  }
  /* Every tensor of the run must be there with its shape, and nothing else: a file with extra
   * tensors comes from another model or method. Everything is checked before any is loaded. */
  if (gs_st_count(s) != l.n)
    st = gs_fail(GS_ERR_INVALID,
                 "%s: %d tensors, but %s + %s with the %s optimizer has %d: the checkpoint is from "
                 "another model, method or optimizer",
                 path, gs_st_count(s), r->cfg->model, r->method->name, optim_name(r->opt_cfg.kind),
                 l.n);
  int *idx = calloc((size_t)(l.n > 0 ? l.n : 1), sizeof *idx);
  if (!idx && st == GS_OK) st = gs_fail(GS_ERR_NOMEM, "checkpoint: out of memory");
  for (int k = 0; k < l.n && st == GS_OK; k++) {
    const char *name = gs_param_name(l.p[k]);
    idx[k] = gs_st_find(s, name);
    if (idx[k] < 0) {
      st = gs_fail(GS_ERR_INVALID, "%s: no tensor '%s', which %s + %s needs", path, name,
                   r->cfg->model, r->method->name);
      break;
    }
    gs_shape want = gs_param_shape(l.p[k]), have = gs_st_shape(s, idx[k]);
    if (!gs_shape_eq(&want, &have)) {
      char a[96], b[96];
      st = gs_fail(GS_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model needs %s", path, name,
                   gs_shape_str(&have, a, sizeof a), gs_shape_str(&want, b, sizeof b));
    }
  }
  float *host = NULL;
  if (st == GS_OK) {
    host = malloc((size_t)(l.numel > 0 ? l.numel : 1) * sizeof *host);
    if (!host) st = gs_fail(GS_ERR_NOMEM, "checkpoint: out of memory");
  }
  int64_t at = 0;
  for (int k = 0; k < l.n && st == GS_OK; k++) {
    gs_shape sh = gs_param_shape(l.p[k]);
    st = gs_st_read(s, idx[k], GS_F32, host + at, gs_shape_numel(&sh));
    at += gs_shape_numel(&sh);
  }
  gs_st_close(s);

  /* state.json must describe this checkpoint, or an older one when the metadata holds the
   * counters (a crash between the two renames); none at all is a crash before the first one. */
  uint8_t *text = NULL;
  size_t text_len = 0;
  train_state ts = {0, m_el, m_esum, m_en};
  if (st == GS_OK) {
    gs_status rs = gs_read_file(spath, 64u << 20, &text, &text_len);
    if (rs != GS_OK && in_meta && access(spath, F_OK) != 0 && errno == ENOENT)
      ts.stale = 1;
    else if (rs != GS_OK)
      st = rs;
    else
      st = train_state_parse((const char *)text, text_len, spath, path, step, in_meta, &ts);
  }
  free(text);
  double elapsed = ts.elapsed, esum = ts.loss_sum, en = (double)ts.loss_steps;
  int stale = ts.stale;
  if (st == GS_OK && step > r->total)
    st = gs_fail(GS_ERR_INVALID,
                 "--resume: the checkpoint is at step %" PRId64
                 ", past the end of this run (%" PRId64 " steps); raise --max-steps or --epochs",
                 step, r->total);
  if (st == GS_OK && batches != step * (r->meta->batches_per_step(r->meta_self) > 0
                                            ? r->meta->batches_per_step(r->meta_self)
                                            : 1))
    st = gs_fail(GS_ERR_FORMAT, "%s: %" PRId64 " batches for %" PRId64 " steps of %s", path,
                 batches, step, r->meta->name);

  /* Checked: now load. */
  at = 0;
  for (int k = 0; k < l.n && st == GS_OK; k++) {
    gs_shape sh = gs_param_shape(l.p[k]);
    st = gs_param_write(l.p[k], host + at);
    at += gs_shape_numel(&sh);
  }
  free(host);
  free(idx);
  free(l.p);
  if (st == GS_OK)
    st = gs_loader_seek(r->loader, batches / r->batches_per_epoch, batches % r->batches_per_epoch);
  if (st != GS_OK) return st;
  r->step = step;
  r->batches = batches;
  r->images = images;
  r->epoch = batches > 0 ? (batches - 1) / r->batches_per_epoch : 0;
  r->elapsed_before = elapsed;
  r->epoch_loss_sum = esum;
  r->epoch_loss_n = (int64_t)en;
  r->checkpoint_step = step;
  if (stale) st = write_state_json(r, "checkpoint.safetensors");
  return st;
}
