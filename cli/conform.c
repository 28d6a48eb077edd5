/* gessl conform: the library's launch-level conformance suite (gs_conform_run) on one device or
 * on every device of every backend, with the plugins found where every other command finds them,
 * and optionally a JSON report. This is what a user runs to see whether a driver stack computes
 * what the CPU reference computes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "gessl/conform.h"

static const char *const conform_help =
    "usage: gessl conform --backend SPEC|all [--json FILE] [--ops LIST] [--seed N] [--runs N]\n"
    "\n"
    "Runs every primitive op of the backend ABI (forward and backward ops, about 300 cases:\n"
    "odd and prime shapes, broadcasting, strides and padding, in-place updates, multi-launch\n"
    "programs) on a device and on the CPU reference, and compares them: NMSE within a per-op\n"
    "bound, NaN/Inf only where the reference has them, guard zones around every output\n"
    "untouched. Prints one line per case and 'N passed, M failed'.\n"
    "\n"
    "options:\n"
    "  --backend SPEC   opencl[:N|:NAME] | vulkan[:N|:NAME] (as 'gessl devices' numbers them;\n"
    "                   NAME matches name, vendor or driver, case-insensitive); cpu checks the\n"
    "                   CPU backend's oneDNN path against its plain path (cpu-reference);\n"
    "                   'all': every available device of every backend but the reference\n"
    "  --json FILE      also write a report (scripts/portability_table.py turns reports into\n"
    "                   the table of docs/portability.md)\n"
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
      !strcmp(n, "--runs") || !strcmp(n, "--json"))
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

/* Every available device of every backend but the reference, one run each. A backend or device
 * that cannot start is a failed entry of the report, never a skip. */
static int conform_all(gs_runtime *rt, gs_conform_opts *o, gs_conform_result **out_res,
                       int *n_res) {
  int cap = 0, n = 0, worst = 0;
  gs_conform_result *res = NULL;
  for (int b = 0; b < gs_runtime_backend_count(rt); b++) {
    const gs_backend_iface *be = gs_runtime_backend(rt, b);
    int is_ref = !strcmp(be->name, "cpu");
    char path[4096];
    if (!plugin_path(rt, be->name, path, sizeof path)) continue;
    int nd = 0;
    gs_status st = gs_runtime_devices(rt, b, &nd);
    for (int d = 0; d < (st == GS_OK ? nd : 1); d++) {
      /* The reference plugin's own devices are checked only beside a "*-reference" one (the CPU
       * backend's oneDNN path against its plain path), never the reference device itself. */
      gs_device_info di;
      if (is_ref && (nd < 2 || gs_runtime_device_info(rt, b, d, &di) != GS_OK ||
                     strstr(di.name, "-reference")))
        continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 8;
        gs_conform_result *v = realloc(res, (size_t)cap * sizeof *v);
        if (!v) return free(res), fprintf(stderr, "gessl conform: out of memory\n"), -1;
        res = v;
      }
      gs_conform_result *r = &res[n++];
      char idx[16];
      snprintf(idx, sizeof idx, "%d", d);
      o->backend_path = path;
      o->device = idx;
      printf("== %s device %d\n", be->name, d);
      int failed = gs_conform_run(o, stdout, r);
      if (failed < 0 || failed > 0) worst = failed < 0 || worst < 0 ? -1 : worst + failed;
    }
  }
  *out_res = res;
  *n_res = n;
  return worst;
}

int gs_cli_conform(int argc, char **argv) {
  const char *spec = NULL, *json = NULL, *opt, *val;
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
    } else if (!strcmp(opt, "--json")) {
      json = val;
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

  /* The plugins are found as every command finds them, then handed to the engine by path: it
   * opens each in a runtime of its own so that it owns both devices. */
  gs_runtime *rt = cli_runtime("conform", 0);
  if (!rt) return CLI_FAIL;
  char ref[4096];
  if (!plugin_path(rt, "cpu", ref, sizeof ref)) {
    gs_runtime_close(rt);
    fprintf(stderr, "gessl conform: the CPU reference plugin was not found ('gessl devices')\n");
    return CLI_FAIL;
  }
  o.ref_path = ref;
  gs_conform_result one, *res = &one;
  int n_res = 1, failed;
  if (!strcmp(spec, "all")) {
    failed = conform_all(rt, &o, &res, &n_res);
    gs_runtime_close(rt);
    if (n_res == 0) {
      free(res);
      fprintf(stderr, "gessl conform: no backend besides the reference ('gessl devices')\n");
      return CLI_FAIL;
    }
  } else {
    /* "opencl:pocl" -> backend "opencl", device "pocl" (an index or a name). */
    char backend[64], under[4096];
    const char *colon = strchr(spec, ':');
    size_t blen = colon ? (size_t)(colon - spec) : strlen(spec);
    int have = blen > 0 && blen < sizeof backend;
    if (have) {
      memcpy(backend, spec, blen);
      backend[blen] = 0;
      have = plugin_path(rt, backend, under, sizeof under);
    }
    gs_runtime_close(rt);
    if (!have)
      return cli_usage_error("conform", "--backend %s: no such backend plugin ('gessl devices')",
                             spec);
    o.device = colon && colon[1] ? colon + 1 : NULL;
    o.backend_path = under;
    failed = gs_conform_run(&o, stdout, &one);
  }
  if (json && gs_conform_write_json(res, n_res, json) != GS_OK) {
    fprintf(stderr, "gessl conform: %s\n", gs_errmsg());
    failed = failed < 0 ? failed : failed + 1;
  }
  if (res != &one) free(res);
  return failed < 0 ? CLI_USAGE : failed > 0 ? CLI_FAIL : CLI_OK;
}
