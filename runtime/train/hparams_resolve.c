/* --set name=value against the declarations of the method and the meta-optimizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_impl.h"

static double *defaults(const gs_hparam_decl *d, int n) {
  double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
  for (int k = 0; v && k < n; k++) v[k] = d[k].def;
  return v;
}

static int find(const gs_hparam_decl *d, int n, const char *name) {
  for (int k = 0; k < n; k++)
    if (strcmp(d[k].name, name) == 0) return k;
  return -1;
}

/* "a, b, c" of the declared names, for the message about an unknown one. */
static void list_names(char *buf, size_t len, const gs_hparam_decl *d, int n, size_t *at) {
  for (int k = 0; k < n && *at < len; k++) {
    int w = snprintf(buf + *at, len - *at, "%s%s", *at ? ", " : "", d[k].name);
    if (w < 0) return;
    *at += (size_t)w;
  }
}

gs_status train_resolve_hparams(const gs_train_config *cfg, const gs_method_iface *method,
                                const gs_meta_iface *meta, double **method_hp, double **meta_hp) {
  int nm = method ? method->n_hparams : 0, nx = meta ? meta->n_hparams : 0;
  const gs_hparam_decl *dm = method ? method->hparams : NULL, *dx = meta ? meta->hparams : NULL;
  double *vm = defaults(dm, nm), *vx = defaults(dx, nx);
  if (!vm || !vx) {
    free(vm);
    free(vx);
    return gs_fail(GS_ERR_NOMEM, "train: out of memory");
  }
  for (int s = 0; s < cfg->n_set; s++) {
    const char *name = cfg->set_names[s], *text = cfg->set_values[s];
    int k = find(dm, nm, name);
    const gs_hparam_decl *d = NULL;
    double *slot = NULL;
    if (k >= 0) {
      d = &dm[k];
      slot = &vm[k];
    } else if ((k = find(dx, nx, name)) >= 0) {
      d = &dx[k];
      slot = &vx[k];
    }
    if (!d) {
      char names[512] = "";
      size_t at = 0;
      list_names(names, sizeof names, dm, nm, &at);
      list_names(names, sizeof names, dx, nx, &at);
      free(vm);
      free(vx);
      return gs_fail(GS_ERR_INVALID, "--set %s: no such hyperparameter of %s/%s (known: %s)", name,
                     method ? method->name : "?", meta ? meta->name : "?", *names ? names : "none");
    }
    if (gs_hparam_parse(d, text, slot) != GS_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", gs_errmsg());
      free(vm);
      free(vx);
      return gs_fail(GS_ERR_INVALID, "--set %s=%s: %s", name, text, why);
    }
  }
  if (method_hp)
    *method_hp = vm;
  else
    free(vm);
  if (meta_hp)
    *meta_hp = vx;
  else
    free(vx);
  return GS_OK;
}
