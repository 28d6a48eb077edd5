/* The table of training settings: one row per setting of gs_train_config that `gessl train`
 * exposes. Parsing (command line, --config, a run's config.json), checking, the "settings" of
 * config.json and the --resume rules all read these rows, so a setting is added in one place. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train_impl.h"

#define AT(field) offsetof(gs_train_config, field)
#define NO_MAX HUGE_VAL

/* clang-format off */
static const gs_train_setting table[] = {
  {"backend", GS_SETTING_STRING, "SPEC", 0, 0, NULL, 0, GS_SETTING_RESUMABLE, AT(backend),
   "cpu | opencl[:N|:NAME] | vulkan[:N|:NAME]: the device (default cpu);\n"
   "N indexes the backend's devices, NAME matches vendor or device name\n"
   "('gessl devices' lists them); under mpirun a comma list gives rank r\n"
   "the r-th spec, cycling (cpu,opencl)"},
  {"data", GS_SETTING_STRING, "SPEC", 0, 0, NULL, 0, 0, AT(data),
   "synthetic[:HxWxC] (default synthetic), fashion-mnist, digits[:FILE],\n"
   "idx:DIR, cifar10:DIR, cifar100:DIR, folder:DIR"},
  {"data-limit", GS_SETTING_INT64, "N", 0, NO_MAX, NULL, 0, 0, AT(data_limit),
   "use only the first N training images (default 0: all)"},
  {"image-size", GS_SETTING_INT, "N", 0, 4096, NULL, 0, 0, AT(image_size),
   "training resolution of folder images (default 0: 32); recorded, and\n"
   "used by gessl eval"},
  {"holdout", GS_SETTING_FLOAT, "X", 0, 0.9, NULL, 0, 0, AT(holdout),
   "fraction of each class held out for testing where the data set has\n"
   "no test split (a labelled folder, digits), seeded and stratified\n"
   "(default 0.2; 0: none)"},
  {"split-seed", GS_SETTING_UINT64, "N", 0, 0, NULL, 0, 0, AT(split_seed),
   "seed of that held-out split (default 0)"},
  {"test-data", GS_SETTING_STRING, "SPEC", 0, 0, NULL, 0, GS_SETTING_OPTIONAL, AT(test_data),
   "test images for --monitor-knn and gessl eval from another data set (a\n"
   "folder with the same class folders); --data is then not split"},
  {"image-cache", GS_SETTING_STRING, "FILE", 0, 0, NULL, 0, GS_SETTING_OPTIONAL, AT(image_cache),
   "decode-once cache of a folder: its images decoded once at\n"
   "--image-cache-size into FILE (built or rebuilt when missing or the\n"
   "folder changed), mapped at start and read without decoding; costs\n"
   "images x size^2 x channels bytes of disk and page cache (default: none)"},
  {"image-cache-size", GS_SETTING_INT, "N", 0, 4096, NULL, 0, 0, AT(image_cache_size),
   "side of the images in --image-cache (default 0: --image-size); crops\n"
   "are cut from it, so a size below the files' trades detail for speed"},
  {"bad-images", GS_SETTING_ENUM, "MODE", 0, 0, "skip|fail", 0, 0, AT(bad_images_fail),
   "skip | fail: a folder image that fails to decode during training is\n"
   "skipped with a warning (the run stops once over 1% have) or stops\n"
   "the run (default skip)"},
  {"model", GS_SETTING_CHOICE, "NAME", 0, 0, "convnet|resnet18|resnet34", 0, 0, AT(model),
   "convnet | resnet18 | resnet34 (default convnet)"},
  {"width", GS_SETTING_FLOAT, "X", 1e-3, 64, NULL, 0, 0, AT(width),
   "width multiplier of the backbone (default 1)"},
  {"method", GS_SETTING_STRING, "NAME", 0, 0, NULL, 0, 0, AT(method),
   "SSL method plugin (default simclr; 'gessl methods' lists them)"},
  {"meta", GS_SETTING_STRING, "NAME", 0, 0, NULL, 0, 0, AT(meta),
   "meta-optimizer plugin (default none)"},
  {"batch", GS_SETTING_INT, "N", 2, 1 << 20, NULL, 0, 0, AT(batch),
   "images per batch (default 256)"},
  {"epochs", GS_SETTING_INT, "N", 1, 1000000, NULL, 0, GS_SETTING_RESUMABLE, AT(epochs),
   "passes over the data set (default 1); the learning-rate schedule\n"
   "spans them"},
  {"max-steps", GS_SETTING_INT64, "N", 0, NO_MAX, NULL, 0, GS_SETTING_RESUMABLE, AT(max_steps),
   "stop after N optimizer steps (default 0: no cap); the schedule still\n"
   "spans --epochs, so a capped run resumes exactly"},
  {"lr", GS_SETTING_FLOAT, "X", 1e-12, 1e12, NULL, 0, 0, AT(lr),
   "peak learning rate of the warm-up + cosine schedule (default 0.3)"},
  {"final-lr", GS_SETTING_FLOAT, "X", 0, 1e12, NULL, 0, 0, AT(final_lr),
   "learning rate at the end of the cosine decay (default 0)"},
  {"warmup-steps", GS_SETTING_INT64, "N", -1, NO_MAX, NULL, 0, 0, AT(warmup_steps),
   "linear warm-up steps (default -1: 5% of the schedule, at most 500)"},
  {"optimizer", GS_SETTING_ENUM, "NAME", 0, 0, "sgd|lars|adamw", 0, 0, AT(optimizer),
   "sgd | lars | adamw (default sgd)"},
  {"weight-decay", GS_SETTING_FLOAT, "X", 0, 1e6, NULL, -1, GS_SETTING_AUTO, AT(weight_decay),
   "weight decay (default: 5e-4 for sgd and lars, 0.05 for adamw)"},
  {"seed", GS_SETTING_UINT64, "N", 0, 0, NULL, 0, 0, AT(seed),
   "seed of initialisation, data order and augmentation (default 0)"},
  {"threads", GS_SETTING_INT, "N", 0, 4096, NULL, 0, GS_SETTING_RESUMABLE, AT(threads),
   "CPU threads of the backend (default 0: all cores)"},
  {"data-threads", GS_SETTING_INT, "N", 0, 256, NULL, 0, GS_SETTING_RESUMABLE, AT(data_threads),
   "augmentation threads (default 0: the loader's default)"},
  {"out", GS_SETTING_STRING, "DIR", 0, 0, NULL, 0, GS_SETTING_OPTIONAL | GS_SETTING_UNSAVED,
   AT(out),
   "run directory: config.json before the first step, log.jsonl,\n"
   "curves.png, checkpoint.safetensors and state.json; without it nothing\n"
   "is written. A DIR that holds a run is refused (--resume continues it)"},
  {"force", GS_SETTING_BOOL, NULL, 0, 0, NULL, 0, GS_SETTING_UNSAVED, AT(force),
   "let --out replace the run already in DIR"},
  {"log-every", GS_SETTING_INT, "N", 1, 1 << 30, NULL, 0, GS_SETTING_RESUMABLE | GS_SETTING_AUTO,
   AT(log_every), "a log line (and log.jsonl entry) every N steps (default 10)"},
  {"checkpoint-every", GS_SETTING_INT64, "N", 0, NO_MAX, NULL, 0, GS_SETTING_RESUMABLE,
   AT(checkpoint_every),
   "a checkpoint every N steps too (default 0: every epoch and at the\n"
   "end)"},
  {"monitor-knn", GS_SETTING_INT, "E", 0, 1000000, NULL, 0, GS_SETTING_RESUMABLE, AT(monitor_knn),
   "kNN accuracy (k=200, cosine) on the held-out split every E epochs and\n"
   "at the end (default 0: off)"},
  {"sync-bn", GS_SETTING_BOOL, NULL, 0, 1, NULL, 0, GS_SETTING_RESUMABLE, AT(sync_bn),
   "data-parallel: batch norm with the statistics of the whole global\n"
   "batch (default: each rank's own share)"},
  {"check-sync", GS_SETTING_INT64, "N", 0, NO_MAX, NULL, 0, GS_SETTING_RESUMABLE, AT(check_sync),
   "data-parallel: compare a hash of the ranks' parameters every N steps\n"
   "(default 0: at every checkpoint only)"},
  {"detect-anomaly", GS_SETTING_BOOL, NULL, 0, 1, NULL, 0,
   GS_SETTING_RESUMABLE | GS_SETTING_UNSAVED, AT(detect_anomaly),
   "debug a diverging run: check every op's output (forward and backward)\n"
   "and stop at the first NaN/Inf naming the op and its layer; slow.\n"
   "Not saved: give it with --resume to debug a run from its checkpoint"},
};
/* clang-format on */

enum { N_SETTINGS = (int)(sizeof table / sizeof *table) };

const gs_train_setting *gs_train_setting_at(int k) {
  return k >= 0 && k < N_SETTINGS ? &table[k] : NULL;
}

/* Names compare with '_' read as '-', so files may spell keys either way. */
static int same_name(const char *a, const char *b) {
  for (;; a++, b++) {
    char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
    if (x != y) return 0;
    if (!x) return 1;
  }
}

const gs_train_setting *gs_train_setting_find(const char *name) {
  for (int k = 0; name && k < N_SETTINGS; k++)
    if (same_name(table[k].name, name)) return &table[k];
  return NULL;
}

/* The index of `name` among the '|'-separated choices, -1 if absent. */
static int choice_index(const char *choices, const char *name) {
  size_t len = strlen(name);
  int k = 0;
  for (const char *p = choices; *p; k++) {
    size_t n = strcspn(p, "|");
    if (n == len && strncasecmp(p, name, n) == 0) return k;
    p += n + (p[n] == '|');
  }
  return -1;
}

/* The k-th choice, written into buf. */
static const char *choice_name(const char *choices, int k, char *buf, size_t len) {
  const char *p = choices;
  for (; k > 0 && *p; k--) p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|');
  snprintf(buf, len, "%.*s", (int)strcspn(p, "|"), p);
  return buf;
}

/* "a, b, c" of the choices, for messages. */
static const char *choice_list(const char *choices, char *buf, size_t len) {
  size_t at = 0;
  for (const char *c = choices; *c && at + 3 < len; c++) {
    if (*c == '|') {
      buf[at++] = ',';
      buf[at++] = ' ';
    } else {
      buf[at++] = *c;
    }
  }
  buf[at] = 0;
  return buf;
}

/* v (shown as `shown`) against the row's range; a configuration may also hold the auto value,
 * which no text sets (the default is had by leaving the setting out). */
static gs_status in_range(const gs_train_setting *s, double v, const char *shown, int allow_auto) {
  int integer = s->type == GS_SETTING_INT || s->type == GS_SETTING_INT64;
  if (allow_auto && (s->flags & GS_SETTING_AUTO) && v == s->auto_value) return GS_OK;
  if (v >= s->min && v <= s->max) return GS_OK;
  /* A float setting is stored as a float: its bounds are the floats nearest them (--lr 1e-12). */
  if (s->type == GS_SETTING_FLOAT && (float)v >= (float)s->min && (float)v <= (float)s->max)
    return GS_OK;
  if (integer && s->max == NO_MAX)
    return gs_fail(GS_ERR_INVALID, "--%s %s: must be %lld or more", s->name, shown,
                   (long long)s->min);
  if (integer)
    return gs_fail(GS_ERR_INVALID, "--%s %s: must be in %lld..%lld", s->name, shown,
                   (long long)s->min, (long long)s->max);
  return gs_fail(GS_ERR_INVALID, "--%s %s: must be in [%g, %g]", s->name, shown, s->min, s->max);
}

static gs_status check_string(const gs_train_setting *s, const char *v) {
  char list[256];
  if (!v && (s->flags & GS_SETTING_OPTIONAL)) return GS_OK;
  if (!v || !*v) return gs_fail(GS_ERR_INVALID, "--%s: empty", s->name);
  if (s->type == GS_SETTING_CHOICE && choice_index(s->choices, v) < 0)
    return gs_fail(GS_ERR_INVALID, "--%s %s: unknown %s (%s)", s->name, v, s->name,
                   choice_list(s->choices, list, sizeof list));
  return GS_OK;
}

gs_status gs_train_config_set(gs_train_config *cfg, const char *name, const char *text) {
  const gs_train_setting *s = gs_train_setting_find(name);
  if (!cfg || !s) return gs_fail(GS_ERR_INVALID, "--%s: no such setting", name ? name : "");
  void *field = (char *)cfg + s->offset;
  char list[256], *end = NULL;
  if (s->type == GS_SETTING_BOOL) {
    int v = !text || !strcmp(text, "true") || !strcmp(text, "1");
    if (!v && strcmp(text, "false") != 0 && strcmp(text, "0") != 0)
      return gs_fail(GS_ERR_INVALID, "--%s '%s': expected true or false", s->name, text);
    *(int *)field = v;
    return GS_OK;
  }
  if (!text) return gs_fail(GS_ERR_INVALID, "--%s: needs a value", s->name);
  gs_status st = GS_OK;
  errno = 0;
  switch (s->type) {
  case GS_SETTING_STRING:
  case GS_SETTING_CHOICE:
    if ((st = check_string(s, text)) == GS_OK) *(const char **)field = text;
    return st;
  case GS_SETTING_ENUM: {
    int k = choice_index(s->choices, text);
    if (k < 0)
      return gs_fail(GS_ERR_INVALID, "--%s %s: unknown %s (%s)", s->name, text, s->name,
                     choice_list(s->choices, list, sizeof list));
    *(int *)field = k;
    return GS_OK;
  }
  case GS_SETTING_UINT64: {
    unsigned long long v = *text && *text != '-' ? strtoull(text, &end, 0) : 0;
    if (!end || *end || errno == ERANGE)
      return gs_fail(GS_ERR_INVALID, "--%s '%s': not a non-negative integer", s->name, text);
    *(uint64_t *)field = v;
    return GS_OK;
  }
  case GS_SETTING_INT:
  case GS_SETTING_INT64: {
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno == ERANGE)
      return gs_fail(GS_ERR_INVALID, "--%s '%s': not an integer", s->name, text);
    if ((st = in_range(s, (double)v, text, 0)) != GS_OK) return st;
    if (s->type == GS_SETTING_INT)
      *(int *)field = (int)v;
    else
      *(int64_t *)field = v;
    return GS_OK;
  }
  case GS_SETTING_FLOAT: {
    double v = strtod(text, &end);
    if (!*text || *end || errno == ERANGE || !isfinite(v))
      return gs_fail(GS_ERR_INVALID, "--%s '%s': not a number", s->name, text);
    if ((st = in_range(s, v, text, 0)) != GS_OK) return st;
    *(float *)field = (float)v;
    return GS_OK;
  }
  case GS_SETTING_BOOL: break;
  }
  return GS_OK;
}

/* The numeric value of a number or enum field. */
static double number_of(const gs_train_setting *s, const gs_train_config *cfg) {
  const void *field = (const char *)cfg + s->offset;
  switch (s->type) {
  case GS_SETTING_INT:
  case GS_SETTING_ENUM:
  case GS_SETTING_BOOL: return *(const int *)field;
  case GS_SETTING_INT64: return (double)*(const int64_t *)field;
  case GS_SETTING_UINT64: return (double)*(const uint64_t *)field;
  case GS_SETTING_FLOAT: return *(const float *)field;
  default: return 0;
  }
}

gs_status train_check_settings(const gs_train_config *cfg) {
  for (int k = 0; k < N_SETTINGS; k++) {
    const gs_train_setting *s = &table[k];
    const void *field = (const char *)cfg + s->offset;
    double v = number_of(s, cfg);
    char shown[64];
    gs_status st = GS_OK;
    switch (s->type) {
    case GS_SETTING_STRING:
    case GS_SETTING_CHOICE: st = check_string(s, *(const char *const *)field); break;
    case GS_SETTING_ENUM: {
      char name[32];
      if (v < 0 || choice_name(s->choices, (int)v, name, sizeof name)[0] == 0)
        st = gs_fail(GS_ERR_INVALID, "--%s: unknown kind %d", s->name, (int)v);
      break;
    }
    case GS_SETTING_INT:
    case GS_SETTING_INT64:
      snprintf(shown, sizeof shown, "%lld", (long long)v);
      st = in_range(s, v, shown, 1);
      break;
    case GS_SETTING_FLOAT:
      snprintf(shown, sizeof shown, "%g", v);
      st = isfinite(v) ? in_range(s, v, shown, 1)
                       : gs_fail(GS_ERR_INVALID, "--%s %s: not a number", s->name, shown);
      break;
    case GS_SETTING_UINT64:
    case GS_SETTING_BOOL: break;
    }
    if (st != GS_OK) return st;
  }
  return GS_OK;
}

/* A float as the decimal people typed (0.3, not 0.300000011920929). */
double train_float_num(float v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.7g", (double)v);
  return strtod(buf, NULL);
}

void train_settings_to_json(cJSON *obj, const gs_train_config *cfg) {
  for (int k = 0; k < N_SETTINGS; k++) {
    const gs_train_setting *s = &table[k];
    if (s->flags & GS_SETTING_UNSAVED) continue;
    const void *field = (const char *)cfg + s->offset;
    char buf[32];
    switch (s->type) {
    case GS_SETTING_STRING:
    case GS_SETTING_CHOICE:
      if (*(const char *const *)field)
        cJSON_AddStringToObject(obj, s->name, *(const char *const *)field);
      break;
    case GS_SETTING_ENUM:
      cJSON_AddStringToObject(obj, s->name,
                              choice_name(s->choices, *(const int *)field, buf, sizeof buf));
      break;
    case GS_SETTING_UINT64:
      snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)field);
      cJSON_AddStringToObject(obj, s->name, buf);
      break;
    case GS_SETTING_BOOL: cJSON_AddBoolToObject(obj, s->name, *(const int *)field != 0); break;
    case GS_SETTING_FLOAT:
      cJSON_AddNumberToObject(obj, s->name, train_float_num(*(const float *)field));
      break;
    case GS_SETTING_INT:
    case GS_SETTING_INT64: cJSON_AddNumberToObject(obj, s->name, number_of(s, cfg)); break;
    }
  }
}
