/* gessl train: the flags, their checks, and the progress printed while the library trains. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gessl/train.h"

enum { MAX_SETS = 64 };

static const char *const train_help =
    "usage: gessl train [OPTIONS]\n"
    "\n"
    "Trains a backbone with a self-supervised method and prints the loss as it goes, then a\n"
    "final line with the final loss, the time and the images per second.\n"
    "\n"
    "options:\n"
    "  --backend SPEC     cpu | opencl[:N|:NAME] | vulkan[:N|:NAME]: the device (default cpu);\n"
    "                     N indexes the backend's devices, NAME matches vendor or device name\n"
    "                     ('gessl devices' lists them)\n"
    "  --data SPEC        synthetic[:HxWxC] (default synthetic), fashion-mnist, idx:DIR,\n"
    "                     cifar10:DIR, cifar100:DIR, folder:DIR\n"
    "  --model NAME       convnet | resnet18 (default convnet)\n"
    "  --method NAME      SSL method plugin (default simclr; 'gessl methods' lists them)\n"
    "  --meta NAME        meta-optimizer plugin (default none)\n"
    "  --batch N          images per batch (default 256)\n"
    "  --epochs N         passes over the data set (default 1)\n"
    "  --max-steps N      stop after N optimizer steps (default 0: no cap)\n"
    "  --lr X             peak learning rate of the warm-up + cosine schedule (default 0.3)\n"
    "  --optimizer NAME   sgd | lars | adamw (default sgd)\n"
    "  --seed N           seed of initialisation, data order and augmentation (default 0)\n"
    "  --threads N        CPU threads of the backend (default 0: all cores)\n"
    "  --out DIR          run directory: created, config.json written before the first step;\n"
    "                     without it nothing is written\n"
    "  --set NAME=VALUE   a hyperparameter of the method or meta-optimizer (repeatable;\n"
    "                     'gessl methods' lists them with their ranges)\n"
    "  --help             this text\n"
    "\n"
    "Exit status: 0 done, 1 the run failed, 2 bad option or value, 130 stopped by Ctrl-C.\n";

static cli_opt_kind train_opt(const char *n) {
  static const char *const values[] = {
      "--backend",   "--data", "--model", "--method",  "--meta", "--batch", "--epochs",
      "--max-steps", "--lr",   "--seed",  "--threads", "--out",  "--set",   "--optimizer"};
  if (!strcmp(n, "--help")) return CLI_OPT_FLAG;
  for (size_t k = 0; k < sizeof values / sizeof *values; k++)
    if (!strcmp(n, values[k])) return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void fmt_time(char *buf, size_t len, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void on_progress(void *user, const gs_train_progress *p) {
  (void)user;
  char eta[32];
  fmt_time(eta, sizeof eta, p->eta_s);
  printf("step %lld/%lld  epoch %lld/%lld  loss %.4f  avg %.4f  lr %.4g  %.1f img/s  eta %s\n",
         (long long)p->step, (long long)p->total_steps, (long long)p->epoch + 1,
         (long long)p->epochs, p->loss, p->loss_avg, p->lr, p->images_per_s, eta);
  fflush(stdout);
}

static void on_log(void *user, const char *line) {
  (void)user;
  printf("%s\n", line);
  fflush(stdout);
}

/* The backend part of a spec ("opencl" of "opencl:1") must name a loaded backend. */
static int check_backend(gs_runtime *rt, const char *spec) {
  size_t len = strcspn(spec, ":");
  char names[256] = "";
  size_t at = 0;
  for (int b = 0; b < gs_runtime_backend_count(rt); b++) {
    const char *name = gs_runtime_backend(rt, b)->name;
    if (strlen(name) == len && !strncmp(name, spec, len)) return CLI_OK;
    int w = snprintf(names + at, sizeof names - at, "%s%s", at ? ", " : "", name);
    if (w > 0 && (size_t)w < sizeof names - at) at += (size_t)w;
  }
  return cli_usage_error("train", "--backend %s: no such backend (found: %s)", spec,
                         at ? names : "none");
}

int cli_train(int argc, char **argv) {
  gs_train_config cfg;
  gs_train_config_init(&cfg);
  const char *set_names[MAX_SETS], *set_values[MAX_SETS];
  char *set_buf[MAX_SETS];
  int n_set = 0, rc = CLI_OK;
  cli_args a = {argc, 0, argv, "train", 0};
  const char *opt, *val;
  long long n;
  double x;
  while (rc == CLI_OK && (opt = cli_next(&a, train_opt, &val))) {
    if (!strcmp(opt, "--help")) {
      fputs(train_help, stdout);
      for (int k = 0; k < n_set; k++) free(set_buf[k]);
      return CLI_OK;
    } else if (!strcmp(opt, "--backend")) {
      cfg.backend = val;
    } else if (!strcmp(opt, "--data")) {
      cfg.data = val;
    } else if (!strcmp(opt, "--model")) {
      cfg.model = val;
      if (strcmp(val, "convnet") && strcmp(val, "resnet18"))
        rc = cli_usage_error("train", "--model %s: unknown model (convnet, resnet18)", val);
    } else if (!strcmp(opt, "--method")) {
      cfg.method = val;
    } else if (!strcmp(opt, "--meta")) {
      cfg.meta = val;
    } else if (!strcmp(opt, "--batch")) {
      if ((rc = cli_parse_int("train", opt, val, 2, 1 << 20, &n)) == CLI_OK) cfg.batch = (int)n;
    } else if (!strcmp(opt, "--epochs")) {
      if ((rc = cli_parse_int("train", opt, val, 1, 1000000, &n)) == CLI_OK) cfg.epochs = (int)n;
    } else if (!strcmp(opt, "--max-steps")) {
      if ((rc = cli_parse_int("train", opt, val, 0, INT64_MAX, &n)) == CLI_OK) cfg.max_steps = n;
    } else if (!strcmp(opt, "--lr")) {
      if ((rc = cli_parse_float("train", opt, val, 1e-12, 1e6, &x)) == CLI_OK) cfg.lr = (float)x;
    } else if (!strcmp(opt, "--seed")) {
      rc = cli_parse_u64("train", opt, val, &cfg.seed);
    } else if (!strcmp(opt, "--threads")) {
      if ((rc = cli_parse_int("train", opt, val, 0, 4096, &n)) == CLI_OK) cfg.threads = (int)n;
    } else if (!strcmp(opt, "--out")) {
      if (!*val) rc = cli_usage_error("train", "--out: empty directory name");
      cfg.out = val;
    } else if (!strcmp(opt, "--optimizer")) {
      if (gs_optim_parse(val, &cfg.optimizer) != GS_OK)
        rc = cli_usage_error("train", "--optimizer %s: unknown optimizer (sgd, lars, adamw)", val);
    } else if (!strcmp(opt, "--set")) {
      const char *eq = strchr(val, '=');
      if (!eq || eq == val)
        rc = cli_usage_error("train", "--set '%s': expected NAME=VALUE", val);
      else if (n_set == MAX_SETS)
        rc = cli_usage_error("train", "--set: more than %d settings", MAX_SETS);
      else if (!(set_buf[n_set] = strdup(val)))
        rc = CLI_FAIL;
      else {
        set_buf[n_set][eq - val] = 0;
        set_names[n_set] = set_buf[n_set];
        set_values[n_set] = set_buf[n_set] + (eq - val) + 1;
        n_set++;
      }
    }
  }
  if (rc == CLI_OK) rc = a.err;
  gs_runtime *rt = NULL;
  if (rc == CLI_OK) {
    cfg.set_names = set_names;
    cfg.set_values = set_values;
    cfg.n_set = n_set;
    rt = cli_runtime("train", cfg.threads);
    if (!rt) rc = CLI_FAIL;
  }
  if (rc == CLI_OK) rc = check_backend(rt, cfg.backend);
  if (rc == CLI_OK && gs_train_validate(rt, &cfg) != GS_OK)
    rc = cli_usage_error("train", "%s", gs_errmsg());
  if (rc == CLI_OK) {
    cfg.progress = on_progress;
    cfg.log = on_log;
    cfg.stop = &stop_flag;
    signal(SIGINT, on_sigint);
    gs_train_result res;
    gs_status st = gs_train_run(rt, &cfg, &res);
    signal(SIGINT, SIG_DFL);
    if (st == GS_OK || st == GS_ERR_INTERRUPTED) {
      if (st == GS_ERR_INTERRUPTED)
        printf("stopped by Ctrl-C after step %lld\n", (long long)res.steps);
      printf("final loss %.4f (first %.4f)  %lld steps, %lld images in %.1f s  %.1f images/s  "
             "on %s\n",
             res.final_loss, res.first_loss, (long long)res.steps, (long long)res.images,
             res.seconds, res.images_per_s, res.device);
      rc = st == GS_OK ? CLI_OK : CLI_INTERRUPTED;
    } else {
      fprintf(stderr, "gessl train: %s\n", gs_errmsg());
      rc = CLI_FAIL;
    }
  }
  if (rt) gs_runtime_close(rt);
  for (int k = 0; k < n_set; k++) free(set_buf[k]);
  return rc;
}
