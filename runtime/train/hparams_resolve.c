/* --set name=value against the declarations of the method and the meta-optimizer. A name may be
 * qualified with the plugin's name ("gessl.lambda", "barlowtwins.lambda"); an unqualified name
 * that both plugins declare is refused as ambiguous rather than silently given to one of them. */
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
    /* "plugin.name" picks the plugin; the part after the dot is looked up in it alone. */
    const char *dot = strchr(name, '.'), *bare = dot ? dot + 1 : name;
    int want_method = 1, want_meta = 1;
    if (dot) {
      size_t len = (size_t)(dot - name);
      want_method = method && strlen(method->name) == len && !strncmp(method->name, name, len);
      want_meta = meta && strlen(meta->name) == len && !strncmp(meta->name, name, len);
      if (!want_method && !want_meta) {
        free(vm);
        free(vx);
        return gs_fail(GS_ERR_INVALID,
                       "--set %s: '%.*s' is neither the method (%s) nor the "
                       "meta-optimizer (%s)",
                       name, (int)len, name, method ? method->name : "?", meta ? meta->name : "?");
      }
    }
    int km = want_method ? find(dm, nm, bare) : -1, kx = want_meta ? find(dx, nx, bare) : -1;
    if (km >= 0 && kx >= 0) {
      free(vm);
      free(vx);
      return gs_fail(GS_ERR_INVALID, "--set %s: both %s and %s declare it; write %s.%s or %s.%s",
                     name, method->name, meta->name, method->name, bare, meta->name, bare);
    }
    const gs_hparam_decl *d = NULL;
    double *slot = NULL;
    if (km >= 0) {
      d = &dm[km];
      slot = &vm[km];
    } else if (kx >= 0) {
      d = &dx[kx];
      slot = &vx[kx];
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
