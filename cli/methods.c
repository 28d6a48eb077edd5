/* gessl methods: the method and meta-optimizer plugins with their declared hyperparameters,
 * which `gessl train --set name=value` accepts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_hparams(const gs_hparam_decl *d, int n) {
  for (int k = 0; k < n; k++) {
    char def[64];
    gs_hparam_format(&d[k], d[k].def, def, sizeof def);
    const char *type = d[k].type == GS_HP_FLOAT  ? "float"
                       : d[k].type == GS_HP_INT  ? "int"
                       : d[k].type == GS_HP_BOOL ? "bool"
                                                 : "choice";
    char range[128] = "";
    if (d[k].type == GS_HP_FLOAT || d[k].type == GS_HP_INT)
      snprintf(range, sizeof range, "%g..%g", d[k].min, d[k].max);
    else if (d[k].type == GS_HP_CHOICE)
      snprintf(range, sizeof range, "%s", d[k].choices ? d[k].choices : "");
    else
      snprintf(range, sizeof range, "true|false");
    printf("    %-22s %-6s default %-10s %-18s %s\n", d[k].name, type, def, range,
           d[k].help ? d[k].help : "");
  }
  if (n == 0) printf("    (no hyperparameters)\n");
}

static cli_opt_kind methods_opt(const char *name) {
  return !strcmp(name, "--help") ? CLI_OPT_FLAG : CLI_OPT_UNKNOWN;
}

int cli_methods(int argc, char **argv) {
  cli_args a = {argc, 0, argv, "methods", 0};
  const char *opt, *val;
  while ((opt = cli_next(&a, methods_opt, &val))) {
    if (!strcmp(opt, "--help")) {
      printf("usage: gessl methods\n\n"
             "Lists the SSL method plugins (--method NAME) and meta-optimizer plugins (--meta\n"
             "NAME) with each declared hyperparameter: name, type, default, accepted range or\n"
             "words, and what it does. Set one with 'gessl train --set name=value'.\n\n"
             "options:\n"
             "  --help   this text\n");
      return CLI_OK;
    }
  }
  if (a.err) return a.err;
  gs_runtime *rt = cli_runtime("methods", 0);
  if (!rt) return CLI_FAIL;
  printf("methods (--method)\n");
  for (int k = 0; k < gs_runtime_method_count(rt); k++) {
    const gs_method_iface *m = gs_runtime_method_at(rt, k);
    gs_aug_recipe r; /* the view count at the declared defaults */
    int views = gs_method_views(m, NULL, 32, &r) == GS_OK ? r.n_views : 0;
    printf("  %-12s %s (%d views)\n", m->name, m->summary ? m->summary : "", views);
    print_hparams(m->hparams, m->n_hparams);
  }
  if (gs_runtime_method_count(rt) == 0) printf("  (none found)\n");
  printf("meta-optimizers (--meta)\n");
  for (int k = 0; k < gs_runtime_meta_count(rt); k++) {
    const gs_meta_iface *m = gs_runtime_meta_at(rt, k);
    printf("  %-12s %s\n", m->name, m->summary ? m->summary : "");
    print_hparams(m->hparams, m->n_hparams);
  }
  if (gs_runtime_meta_count(rt) == 0) printf("  (none found)\n");
  gs_runtime_close(rt);
  return CLI_OK;
}
