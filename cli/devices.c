/* gessl devices: every backend plugin found, each device with its facts, and the plugins that
 * were refused, each with the reason. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_bytes(uint64_t b) {
  if (!b)
    printf("memory unknown");
  else if (b >= (1ull << 30))
    printf("%.1f GiB", (double)b / (double)(1ull << 30));
  else
    printf("%.0f MiB", (double)b / (double)(1ull << 20));
}

static cli_opt_kind devices_opt(const char *name) {
  return !strcmp(name, "--help") || !strcmp(name, "-v") || !strcmp(name, "--verbose")
             ? CLI_OPT_FLAG
             : CLI_OPT_UNKNOWN;
}

int cli_devices(int argc, char **argv) {
  cli_args a = {argc, 0, argv, "devices", 0};
  const char *opt, *val;
  int verbose = 0;
  while ((opt = cli_next(&a, devices_opt, &val))) {
    if (!strcmp(opt, "-v") || !strcmp(opt, "--verbose")) verbose = 1;
    if (!strcmp(opt, "--help")) {
      printf("usage: gessl devices [-v]\n\n"
             "Lists every backend plugin found and each of its devices (name, vendor, type,\n"
             "memory, driver). A backend or device that cannot be used is marked unavailable with\n"
             "the reason; plugins that could not be loaded are listed as refused with the reason.\n"
             "The spec shown first on each device line is what --backend takes. A plugin file,\n"
             "or a directory above it, that someone other than root and you owns or may write\n"
             "is refused: loading it would run their code.\n\n"
             "options:\n"
             "  -v, --verbose   also the file every plugin was loaded from\n"
             "  --help          this text\n");
      return CLI_OK;
    }
  }
  if (a.err) return a.err;
  gs_runtime *rt = cli_runtime("devices", 0);
  if (!rt) return CLI_FAIL;
  int nb = gs_runtime_backend_count(rt);
  if (nb == 0) printf("no backend plugin found\n");
  for (int b = 0; b < nb; b++) {
    const gs_backend_iface *be = gs_runtime_backend(rt, b);
    int n = 0;
    printf("%s (%s)\n", be->name, be->version ? be->version : "");
    if (gs_runtime_devices(rt, b, &n) != GS_OK) {
      printf("  unavailable: %s\n", gs_errmsg());
      continue;
    }
    for (int d = 0; d < n; d++) {
      gs_device_info info;
      if (gs_runtime_device_info(rt, b, d, &info) != GS_OK) {
        printf("  %s:%d  unavailable: %s\n", be->name, d, gs_errmsg());
        continue;
      }
      printf("  %s:%d  %s  [%s, %s, ", be->name, d, info.name, info.vendor[0] ? info.vendor : "?",
             gs_device_type_name(info.type));
      print_bytes(info.memory_bytes);
      printf("]%s%s\n", info.available ? "  available" : "  unavailable: ",
             info.available ? "" : (info.why[0] ? info.why : "no reason given"));
      if (info.driver[0]) printf("      driver: %s\n", info.driver);
      if (info.extra[0]) printf("      %s\n", info.extra);
    }
  }
  if (verbose) {
    printf("loaded plugins\n");
    for (int k = 0; k < gs_runtime_plugin_count(rt); k++) {
      gs_plugin_info pi = gs_runtime_plugin(rt, k);
      if (pi.kind == GS_PLUGIN_REFUSED) continue;
      printf("  %-8s %-12s %s\n",
             pi.kind == GS_PLUGIN_BACKEND  ? "backend"
             : pi.kind == GS_PLUGIN_METHOD ? "method"
                                           : "meta",
             pi.name, pi.path);
    }
  }
  int refused = 0;
  for (int k = 0; k < gs_runtime_plugin_count(rt); k++) {
    gs_plugin_info pi = gs_runtime_plugin(rt, k);
    if (pi.kind != GS_PLUGIN_REFUSED) continue;
    if (!refused++) printf("refused plugins\n");
    printf("  %s: %s\n", pi.path, pi.why);
  }
  gs_runtime_close(rt);
  return CLI_OK;
}
