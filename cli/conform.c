/* gessl conform: the launch-level conformance suite (cli/conform/) on one device, with the
 * plugins found where every other command finds them. This is what a user runs to see whether a
 * driver stack computes what the CPU reference computes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "conformance.h"

static const char *const conform_help =
    "usage: gessl conform --backend SPEC [--ops LIST] [--seed N] [--runs N]\n"
    "\n"
    "Runs every primitive op of the backend ABI (forward and backward ops, about 200 cases:\n"
    "odd and prime shapes, broadcasting, strides and padding, in-place updates, multi-launch\n"
    "programs) on a device and on the CPU reference, and compares them: NMSE within a per-op\n"
    "bound, NaN/Inf only where the reference has them, guard zones around every output\n"
    "untouched. Prints one line per case and 'N passed, M failed'.\n"
    "\n"
    "options:\n"
    "  --backend SPEC   opencl[:N|:NAME] | vulkan[:N|:NAME] (as 'gessl devices' numbers them;\n"
    "                   NAME matches name, vendor or driver, case-insensitive); cpu checks the\n"
    "                   CPU backend's oneDNN path against its plain path (cpu-reference)\n"
    "  --ops LIST       comma-separated op names (conv2d,matmul,...; 'chain' for the\n"
    "                   multi-launch programs); default all\n"
    "  --seed N         input data seed (default 1)\n"
    "  --runs N         runs of each compiled case (default 2: re-running must give the same)\n"
    "  --help           this text\n"
    "\n"
    "Exit status: 0 all passed, 1 a case failed, 2 bad usage or the device did not open.\n";

static cli_opt_kind conform_opt(const char *n) {
  if (!strcmp(n, "--help")) return CLI_OPT_FLAG;
  if (!strcmp(n, "--backend") || !strcmp(n, "--ops") || !strcmp(n, "--seed") ||
      !strcmp(n, "--runs"))
    return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

/* Path of the loaded backend plugin called `name`, copied into buf; 0 if none loaded. */
static int plugin_path(const gs_runtime *rt, const char *name, char *buf, size_t len) {
  for (int k = 0; k < gs_runtime_plugin_count(rt); k++) {
    gs_plugin_info p = gs_runtime_plugin(rt, k);
    if (p.kind == GS_PLUGIN_BACKEND && strcmp(p.name, name) == 0) {
      snprintf(buf, len, "%s", p.path);
      return 1;
    }
  }
  return 0;
}

int gs_cli_conform(int argc, char **argv) {
  const char *spec = NULL, *opt, *val;
  gs_conform_opts o = {0};
  o.seed = 1;
  o.runs = 2;
  cli_args a = {argc - 1, 0, argv + 1, "conform", 0};
  while ((opt = cli_next(&a, conform_opt, &val))) {
    long long n = 0;
    if (!strcmp(opt, "--help")) {
      fputs(conform_help, stdout);
      return CLI_OK;
    } else if (!strcmp(opt, "--backend")) {
      spec = val;
    } else if (!strcmp(opt, "--ops")) {
      o.ops = val;
    } else if (!strcmp(opt, "--seed")) {
      if (cli_parse_u64("conform", opt, val, &o.seed)) return CLI_USAGE;
    } else if (!strcmp(opt, "--runs")) {
      if (cli_parse_int("conform", opt, val, 1, 100, &n)) return CLI_USAGE;
      o.runs = (int)n;
    }
  }
  if (a.err) return a.err;
  if (!spec || !*spec) return cli_usage_error("conform", "--backend SPEC needed");

  /* "opencl:pocl" -> backend "opencl", device "pocl" (an index or a name, as the harness takes). */
  char backend[64];
  const char *colon = strchr(spec, ':');
  size_t blen = colon ? (size_t)(colon - spec) : strlen(spec);
  if (blen == 0 || blen >= sizeof backend)
    return cli_usage_error("conform", "--backend %s: not a backend name", spec);
  memcpy(backend, spec, blen);
  backend[blen] = 0;
  o.device = colon && colon[1] ? colon + 1 : NULL;

  /* The plugins are found as every command finds them, then handed to the harness by path: it
   * opens them itself so that it owns both devices. */
  gs_runtime *rt = cli_runtime("conform", 0);
  if (!rt) return CLI_FAIL;
  char ref[4096], under[4096];
  int have_ref = plugin_path(rt, "cpu", ref, sizeof ref);
  int have_under = plugin_path(rt, backend, under, sizeof under);
  gs_runtime_close(rt);
  if (!have_ref) {
    fprintf(stderr, "gessl conform: the CPU reference plugin was not found ('gessl devices')\n");
    return CLI_FAIL;
  }
  if (!have_under)
    return cli_usage_error("conform", "--backend %s: no backend plugin '%s' ('gessl devices')",
                           spec, backend);
  o.ref_path = ref;
  o.backend_path = under;
  int failed = gs_conform_run(&o, stdout);
  return failed < 0 ? CLI_USAGE : failed > 0 ? CLI_FAIL : CLI_OK;
}
