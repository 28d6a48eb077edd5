/* gessl-conformance: checks one backend's device against the reference backend, launch by launch.
 *
 *   gessl-conformance --ref PATH [--ref-device N|NAME] --backend PATH [--device N|NAME]
 *                     [--ops LIST] [--seed N] [--runs N]
 *
 * Exit status: 0 when every case passes, 1 when any fails, 2 on bad usage or when a plugin or the
 * device cannot be opened. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/conform.h"

static int usage(void) {
  fprintf(stderr, "usage: gessl-conformance --ref PATH [--ref-device N|NAME] --backend PATH "
                  "[--device N|NAME] [--ops op1,op2] [--seed N] [--runs N]\n");
  return 2;
}

int main(int argc, char **argv) {
  gs_conform_opts o = {0};
  o.seed = 1;
  o.runs = 2;
  /* Every option takes a value: step over both. */
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    if (!strcmp(a, "--ref"))
      o.ref_path = v;
    else if (!strcmp(a, "--ref-device"))
      o.ref_device = v;
    else if (!strcmp(a, "--backend"))
      o.backend_path = v;
    else if (!strcmp(a, "--device"))
      o.device = v;
    else if (!strcmp(a, "--ops"))
      o.ops = v;
    else if (!strcmp(a, "--seed"))
      o.seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--runs"))
      o.runs = atoi(v);
    else
      return usage();
  }
  if (!o.ref_path || !o.backend_path) return usage();
  int r = gs_conform_run(&o, stdout, NULL);
  return r < 0 ? 2 : r > 0 ? 1 : 0;
}
