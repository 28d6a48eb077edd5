/* Option parsing shared by the subcommands: GNU-style long options, strict numbers, one-line
 * errors. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *usage_context;

void cli_set_context(const char *context) { usage_context = context; }

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "gessl%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
  if (usage_context) fprintf(stderr, "%s: ", usage_context);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'gessl%s%s --help')\n", cmd && *cmd ? " " : "", cmd ? cmd : "");
  va_end(ap);
  return CLI_USAGE;
}

const char *cli_next(cli_args *a, cli_opt_kind (*kind)(const char *name), const char **value) {
  static char name[64];
  *value = NULL;
  if (a->err || a->i >= a->argc) return NULL;
  const char *arg = a->argv[a->i++];
  /* A one-letter flag ("-v") where the command declares one. */
  if (arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2] && kind(arg) == CLI_OPT_FLAG) {
    snprintf(name, sizeof name, "%s", arg);
    return name;
  }
  if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
    a->err = cli_usage_error(a->cmd, "unexpected argument '%s'", arg);
    return NULL;
  }
  const char *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  if (len >= sizeof name) {
    a->err = cli_usage_error(a->cmd, "unknown option '%.40s...'", arg);
    return NULL;
  }
  memcpy(name, arg, len);
  name[len] = 0;
  cli_opt_kind k = kind(name);
  if (k == CLI_OPT_UNKNOWN) {
    a->err = cli_usage_error(a->cmd, "unknown option '%s'", name);
    return NULL;
  }
  if (k == CLI_OPT_FLAG) {
    if (eq) {
      a->err = cli_usage_error(a->cmd, "option '%s' takes no value", name);
      return NULL;
    }
    return name;
  }
  if (eq) {
    *value = eq + 1;
  } else if (a->i < a->argc) {
    *value = a->argv[a->i++];
  } else {
    a->err = cli_usage_error(a->cmd, "option '%s' needs a value", name);
    return NULL;
  }
  return name;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, long long lo, long long hi,
                  long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (!*text || *end || errno == ERANGE)
    return cli_usage_error(cmd, "%s '%s': not an integer", opt, text);
  if (v < lo || v > hi)
    return cli_usage_error(cmd, "%s %lld: must be in %lld..%lld", opt, v, lo, hi);
  *out = v;
  return CLI_OK;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  if (!*text || *text == '-')
    return cli_usage_error(cmd, "%s '%s': not a non-negative integer", opt, text);
  unsigned long long v = strtoull(text, &end, 0);
  if (*end || errno == ERANGE)
    return cli_usage_error(cmd, "%s '%s': not a non-negative integer", opt, text);
  *out = v;
  return CLI_OK;
}

int cli_parse_float(const char *cmd, const char *opt, const char *text, double lo, double hi,
                    double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (!*text || *end || errno == ERANGE || !isfinite(v))
    return cli_usage_error(cmd, "%s '%s': not a number", opt, text);
  if (v < lo || v > hi)
    return cli_usage_error(cmd, "%s %s: must be in [%g, %g]", opt, text, lo, hi);
  *out = v;
  return CLI_OK;
}

gs_runtime *cli_runtime(const char *cmd, int threads) {
  gs_runtime_options o = {NULL, threads, NULL};
  gs_runtime *rt = gs_runtime_open(&o);
  if (!rt) fprintf(stderr, "gessl %s: cannot start the runtime: %s\n", cmd, gs_errmsg());
  return rt;
}
