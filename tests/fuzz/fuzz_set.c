/* Fuzz target for `--set NAME=VALUE` (and a settings file's hyperparameter keys): each input line
 * is one --set, split at the first '=' as gessl train splits it, resolved against a method and a
 * meta-optimizer that declare every kind of hyperparameter and share a name (so qualified names,
 * ambiguity and unknown plugins are reached). Any lines are accepted with every value in its
 * declared range, or refused with a message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/train/train_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const gs_hparam_decl method_hp[] = {
    {"temperature", GS_HP_FLOAT, 0.2, 1e-3, 10, NULL, ""},
    {"proj_dim", GS_HP_INT, 128, 1, 65536, NULL, ""},
    {"symmetric", GS_HP_BOOL, 1, 0, 1, NULL, ""},
    {"lambda", GS_HP_FLOAT, 0.005, 0, 1, NULL, ""},
};
static const gs_hparam_decl meta_hp[] = {
    {"lambda", GS_HP_FLOAT, 0.1, 0, 100, NULL, ""},
    {"tasks", GS_HP_INT, 4, 1, 64, NULL, ""},
    {"grad", GS_HP_CHOICE, 0, 0, 0, "aid-fd|first-order|exact", ""},
};

static void check_range(const gs_hparam_decl *d, int n, const double *v) {
  for (int k = 0; k < n; k++) {
    if (!isfinite(v[k])) abort();
    if (d[k].type == GS_HP_CHOICE || d[k].type == GS_HP_BOOL) {
      if (v[k] != floor(v[k]) || v[k] < 0) abort();
    } else if (v[k] < d[k].min || v[k] > d[k].max) {
      abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  enum { MAX = 16 };
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  const char *names[MAX], *values[MAX];
  int n = 0, bad = 0;
  for (char *line = text, *next; line && n < MAX; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *eq = strchr(line, '=');
    if (!eq || eq == line) { /* gessl train refuses it before resolving */
      bad = 1;
      break;
    }
    *eq = 0;
    names[n] = line;
    values[n++] = eq + 1;
  }
  if (!bad) {
    gs_method_iface method;
    gs_meta_iface meta;
    memset(&method, 0, sizeof method);
    memset(&meta, 0, sizeof meta);
    method.name = "barlowtwins";
    method.hparams = method_hp;
    method.n_hparams = (int)(sizeof method_hp / sizeof *method_hp);
    meta.name = "gessl";
    meta.hparams = meta_hp;
    meta.n_hparams = (int)(sizeof meta_hp / sizeof *meta_hp);
    gs_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.set_names = names;
    cfg.set_values = values;
    cfg.n_set = n;
    double *vm = NULL, *vx = NULL;
    if (train_resolve_hparams(&cfg, &method, &meta, &vm, &vx) == GS_OK) {
      check_range(method_hp, method.n_hparams, vm);
      check_range(meta_hp, meta.n_hparams, vx);
    } else if (!gs_errmsg()[0]) {
      abort();
    }
    free(vm);
    free(vx);
  }
  free(text);
  return 0;
}
