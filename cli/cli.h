/* The gessl command-line program: subcommands and the small option parser they share.
 * Exit codes: 0 success, 1 the work failed, 2 bad usage (unknown option, bad value), 130 stopped
 * by Ctrl-C. */
#ifndef GESSL_CLI_H
#define GESSL_CLI_H

#include <stdint.h>

#include "gessl/gessl.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

int cli_devices(int argc, char **argv);
int cli_methods(int argc, char **argv);
int cli_train(int argc, char **argv);

/* Prints "gessl CMD: message" on one line to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) GS_PRINTF(2, 3);
/* While set (non-NULL), usage errors name this source after the command ("FILE: --batch 1: ...")
 * so an option read from a settings file is reported against the file. */
void cli_set_context(const char *context);

/* Walks argv of a subcommand. Each call returns the next option name ("--batch") with *value
 * set when the option takes one ("--batch 4" or "--batch=4"), NULL at the end. A positional
 * argument, an option missing its value or a value given to a flag is reported as a usage
 * error (*err set). takes_value(name) says which options take values (NULL: unknown option,
 * an error). */
typedef struct cli_args {
  int argc, i;
  char **argv;
  const char *cmd;
  int err; /* CLI_USAGE once an error was printed */
} cli_args;

typedef enum { CLI_OPT_UNKNOWN = 0, CLI_OPT_FLAG = 1, CLI_OPT_VALUE = 2 } cli_opt_kind;

const char *cli_next(cli_args *a, cli_opt_kind (*kind)(const char *name), const char **value);

/* Strict number parsing: the whole text, in range; otherwise a usage error naming the option. */
int cli_parse_int(const char *cmd, const char *opt, const char *text, long long lo, long long hi,
                  long long *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out);
int cli_parse_float(const char *cmd, const char *opt, const char *text, double lo, double hi,
                    double *out);

/* Opens the runtime with the given CPU thread count, or prints why not. */
gs_runtime *cli_runtime(const char *cmd, int threads);

#endif
