/* gessl: the command-line program. Dispatches to the subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static void usage(FILE *f) {
  fprintf(f,
          "gessl %s: self-supervised training of vision models on any GPU vendor\n"
          "\n"
          "usage: gessl COMMAND [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  devices   list backend plugins and their devices (unavailable ones with the reason)\n"
          "  methods   list SSL methods and meta-optimizers with their hyperparameters\n"
          "  train     train a backbone with an SSL method\n"
          "  eval      probe a trained backbone: kNN, linear, few-shot, transfer, sigma\n"
          "  export    write a trained backbone with torchvision's names for PyTorch\n"
          "  conform   check a device's driver stack against the CPU reference, op by op\n"
#ifdef GESSL_CLI_PREVIEW
          "  preview   write augmented views of a data set as images\n"
#endif
          "\n"
          "options:\n"
          "  --help, -h   this text ('gessl COMMAND --help' documents a command's options)\n"
          "  --version    print the version\n"
          "\n"
          "Plugins are searched in $GESSL_PLUGIN_PATH, then beside the executable (../lib/gessl),\n"
          "then in the install directory.\n",
          GESSL_VERSION);
}

int main(int argc, char **argv) {
  /* The CPU backend's OpenMP threads otherwise spin between its many short parallel regions and
   * lose the cores to each other (and to anything else running) under load; libgomp reads this
   * once, when the plugin loads it, so it is set here before any plugin is opened. The user's
   * own setting wins. */
  setenv("OMP_WAIT_POLICY", "passive", 0);
  if (argc < 2) return cli_usage_error("", "missing command (devices, methods, train)");
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(cmd, "--version")) {
    printf("gessl %s\n", GESSL_VERSION);
    return CLI_OK;
  }
  if (!strcmp(cmd, "devices")) return cli_devices(argc - 2, argv + 2);
  if (!strcmp(cmd, "methods")) return cli_methods(argc - 2, argv + 2);
  if (!strcmp(cmd, "train")) return cli_train(argc - 2, argv + 2);
  if (!strcmp(cmd, "eval")) return gs_cli_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return gs_cli_export(argc - 1, argv + 1);
  if (!strcmp(cmd, "conform")) return gs_cli_conform(argc - 1, argv + 1);
#ifdef GESSL_CLI_PREVIEW
  if (!strcmp(cmd, "preview"))
    return gs_cli_preview(argc - 1, argv + 1); /* argv[0] = "preview", as getopt expects */
#endif
  if (cmd[0] == '-') return cli_usage_error("", "unknown option '%s'", cmd);
  return cli_usage_error("", "unknown command '%s'", cmd);
}
