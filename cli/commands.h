/* Sub-commands of the gessl program implemented outside main.c. Each is called like main() with
 * argv[0] the sub-command's name ("preview") and its options after it, i.e. from `gessl preview
 * ...` as gs_cli_preview(argc - 1, argv + 1); it returns the process exit code: 0 success,
 * 1 failure, 2 usage error. */
#ifndef GESSL_CLI_COMMANDS_H
#define GESSL_CLI_COMMANDS_H

/* gessl preview: a PNG grid of images and their augmented views. */
int gs_cli_preview(int argc, char **argv);
/* gessl eval: kNN, linear, few-shot and sigma probes of a run's checkpoint (RUN/eval.json). */
int gs_cli_eval(int argc, char **argv);
/* gessl export: a run's backbone with torchvision's names, for load_state_dict. */
int gs_cli_export(int argc, char **argv);

/* gessl conform: every primitive op on a device against the CPU reference. */
int gs_cli_conform(int argc, char **argv);

#endif
