/* gessl eval: the options of gs_evaluate (the probes of a trained run's frozen backbone, written
 * to RUN/eval.json), and its report printed as a table. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "gessl/eval.h"

static const char *const eval_help =
    "usage: gessl eval --checkpoint RUN [OPTIONS]\n"
    "\n"
    "Evaluates the backbone saved in RUN/checkpoint.safetensors (RUN/config.json says which\n"
    "model and method) on frozen features, prints a table and writes RUN/eval.json.\n"
    "Without a probe flag every probe runs.\n"
    "\n"
    "options:\n"
    "  --checkpoint RUN     run directory written by 'gessl train --out RUN'\n"
    "  --data SPEC          data set (default: the one the run trained on); its train split is\n"
    "                       the kNN bank and linear-probe training set, its test split is what\n"
    "                       is scored (a labelled folder: the images held out of training)\n"
    "  --test-data SPEC     score on this data set instead (a folder with the same class\n"
    "                       folders); --data is then the bank whole (default: the run's)\n"
    "  --holdout X          fraction of each class held out where the data set has no test\n"
    "                       split, 0..0.9 (default: the run's, else 0.2; 0: none; the\n"
    "                       transfer set's: 0.2 unless given)\n"
    "  --split-seed N       seed of that split (default: the run's, else 0)\n"
    "  --image-size N       resolution of the features (default: the run's)\n"
    "  --image-cache FILE   decode-once cache of the --data folder, at the run's cache size\n"
    "                       (default: the run's cache when --data is the run's)\n"
    "  --knn                weighted kNN, k = 200, T = 0.1, cosine (InstDisc), top-1 and top-5\n"
    "  --linear             linear probe on cached features: SGD momentum 0.9, cosine schedule\n"
    "  --fewshot            5-way 1-shot and 5-shot episodes, nearest cosine centroid, 95% CI\n"
    "  --sigma              sigma (universality gap) on train, test and transfer tasks, on the\n"
    "                       method's embedding and on the backbone's features (BN eval mode)\n"
    "  --transfer SPEC      run the probes (and sigma) on a second data set as well (digits:\n"
    "                       real handwritten digits); images are resized to the run's size,\n"
    "                       1 <-> 3 channels converted\n"
    "  --backend SPEC       device for the features (default cpu)\n"
    "  --threads N          CPU threads of the backend (default 0: all cores)\n"
    "  --limit N            use the first N train images (default 0: all)\n"
    "  --test-limit N       use the first N test images (default 0: all)\n"
    "  --linear-epochs N    linear-probe epochs (default 100)\n"
    "  --episodes N         few-shot episodes (default 600)\n"
    "  --sigma-size N       images per sigma task, 2N views (default 128)\n"
    "  --sigma-tasks N      sigma tasks averaged (default 8)\n"
    "  --seed N             seed of the probes' sampling (default 0)\n"
    "  --help               this text\n"
    "\n"
    "Exit status: 0 done, 1 the evaluation failed (bad checkpoint, data), 2 bad option.\n";

static cli_opt_kind eval_opt(const char *n) {
  static const char *const flags[] = {"--help", "--knn", "--linear", "--fewshot", "--sigma"};
  static const char *const values[] = {
      "--checkpoint", "--data",          "--transfer",  "--backend",    "--threads",
      "--limit",      "--test-limit",    "--episodes",  "--sigma-size", "--sigma-tasks",
      "--seed",       "--linear-epochs", "--test-data", "--holdout",    "--split-seed",
      "--image-size", "--image-cache"};
  for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
    if (!strcmp(n, flags[k])) return CLI_OPT_FLAG;
  for (size_t k = 0; k < sizeof values / sizeof *values; k++)
    if (!strcmp(n, values[k])) return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

static void print_line(void *user, const char *line) {
  (void)user;
  printf("%s\n", line);
  fflush(stdout);
}

int gs_cli_eval(int argc, char **argv) {
  gs_eval_options o = {0};
  const char *backend = "cpu";
  long long threads = 0, limit = 0, test_limit = 0, epochs = 100, episodes = 600;
  long long sigma_size = 128, sigma_tasks = 8, image_size = 0;
  cli_args a = {argc - 1, 0, argv + 1, "eval", 0};
  const char *opt, *val;
  int rc = CLI_OK;
  while (rc == CLI_OK && (opt = cli_next(&a, eval_opt, &val))) {
    if (!strcmp(opt, "--help")) {
      fputs(eval_help, stdout);
      return CLI_OK;
    } else if (!strcmp(opt, "--knn")) {
      o.knn = 1;
    } else if (!strcmp(opt, "--linear")) {
      o.linear = 1;
    } else if (!strcmp(opt, "--fewshot")) {
      o.fewshot = 1;
    } else if (!strcmp(opt, "--sigma")) {
      o.sigma = 1;
    } else if (!strcmp(opt, "--checkpoint")) {
      o.dir = val;
    } else if (!strcmp(opt, "--data")) {
      o.data = val;
    } else if (!strcmp(opt, "--transfer")) {
      o.transfer = val;
    } else if (!strcmp(opt, "--backend")) {
      backend = val;
    } else if (!strcmp(opt, "--threads")) {
      rc = cli_parse_int("eval", opt, val, 0, 4096, &threads);
    } else if (!strcmp(opt, "--limit")) {
      rc = cli_parse_int("eval", opt, val, 0, INT64_MAX, &limit);
    } else if (!strcmp(opt, "--test-limit")) {
      rc = cli_parse_int("eval", opt, val, 0, INT64_MAX, &test_limit);
    } else if (!strcmp(opt, "--linear-epochs")) {
      rc = cli_parse_int("eval", opt, val, 1, 100000, &epochs);
    } else if (!strcmp(opt, "--episodes")) {
      rc = cli_parse_int("eval", opt, val, 1, 1000000, &episodes);
    } else if (!strcmp(opt, "--sigma-size")) {
      rc = cli_parse_int("eval", opt, val, 2, 1 << 16, &sigma_size);
    } else if (!strcmp(opt, "--sigma-tasks")) {
      rc = cli_parse_int("eval", opt, val, 1, 1 << 20, &sigma_tasks);
    } else if (!strcmp(opt, "--seed")) {
      rc = cli_parse_u64("eval", opt, val, &o.seed);
    } else if (!strcmp(opt, "--test-data")) {
      o.test_data = val;
    } else if (!strcmp(opt, "--holdout")) {
      rc = cli_parse_float("eval", opt, val, 0, 0.9, &o.holdout);
      o.has_holdout = 1;
    } else if (!strcmp(opt, "--split-seed")) {
      rc = cli_parse_u64("eval", opt, val, &o.split_seed);
      o.has_split_seed = 1;
    } else if (!strcmp(opt, "--image-size")) {
      rc = cli_parse_int("eval", opt, val, 4, 4096, &image_size);
    } else if (!strcmp(opt, "--image-cache")) {
      o.image_cache = val;
    }
  }
  if (rc == CLI_OK) rc = a.err;
  if (rc == CLI_OK && (!o.dir || !*o.dir)) rc = cli_usage_error("eval", "--checkpoint RUN needed");
  if (rc != CLI_OK) return rc;
  o.limit = limit, o.test_limit = test_limit;
  o.linear_epochs = (int)epochs, o.episodes = (int)episodes;
  o.sigma_size = (int)sigma_size, o.sigma_tasks = (int)sigma_tasks, o.image_size = (int)image_size;
  o.threads = (int)threads;
  o.print = print_line;
  gs_runtime *rt = cli_runtime("eval", (int)threads);
  if (!rt) return CLI_FAIL;
  gs_device *dev = gs_device_open(rt, backend);
  if (!dev) {
    fprintf(stderr, "gessl eval: %s: %s\n", backend, gs_errmsg());
    rc = CLI_FAIL;
  } else if (gs_evaluate(rt, dev, &o) != GS_OK) {
    fprintf(stderr, "gessl eval: %s\n", gs_errmsg());
    rc = CLI_FAIL;
  }
  gs_device_close(dev);
  gs_runtime_close(rt);
  return rc;
}
