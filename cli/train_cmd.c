/* gessl train: the flags (from the command line, a --config file, or a run's config.json on
 * --resume), their checks, and what the user sees while the library trains: a live bar on a
 * terminal, plain lines otherwise, Ctrl-C handling. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gessl/train.h"

enum { MAX_SETS = 128 };

static const char *const train_help =
    "usage: gessl train [OPTIONS]\n"
    "       gessl train --resume DIR [--max-steps N] [--epochs N] ...\n"
    "\n"
    "Trains a backbone with a self-supervised method. Shows a progress bar on a terminal (one\n"
    "line per --log-every steps otherwise) and ends with the final loss, the time, the images\n"
    "per second and, with --monitor-knn, the kNN accuracy. Ctrl-C stops after the current step\n"
    "and writes a checkpoint that --resume continues from.\n"
    "\n"
    "options:\n"
    "  --backend SPEC     cpu | opencl[:N|:NAME] | vulkan[:N|:NAME]: the device (default cpu);\n"
    "                     N indexes the backend's devices, NAME matches vendor or device name\n"
    "                     ('gessl devices' lists them)\n"
    "  --data SPEC        synthetic[:HxWxC] (default synthetic), fashion-mnist, idx:DIR,\n"
    "                     cifar10:DIR, cifar100:DIR, folder:DIR\n"
    "  --data-limit N     use only the first N training images (default 0: all)\n"
    "  --model NAME       convnet | resnet18 | resnet34 (default convnet)\n"
    "  --width X          width multiplier of the backbone (default 1)\n"
    "  --method NAME      SSL method plugin (default simclr; 'gessl methods' lists them)\n"
    "  --meta NAME        meta-optimizer plugin (default none)\n"
    "  --batch N          images per batch (default 256)\n"
    "  --epochs N         passes over the data set (default 1); the learning-rate schedule\n"
    "                     spans them\n"
    "  --max-steps N      stop after N optimizer steps (default 0: no cap); the schedule still\n"
    "                     spans --epochs, so a capped run resumes exactly\n"
    "  --lr X             peak learning rate of the warm-up + cosine schedule (default 0.3)\n"
    "  --final-lr X       learning rate at the end of the cosine decay (default 0)\n"
    "  --warmup-steps N   linear warm-up steps (default -1: 5% of the schedule, at most 500)\n"
    "  --optimizer NAME   sgd | lars | adamw (default sgd)\n"
    "  --weight-decay X   weight decay (default: 5e-4 for sgd and lars, 0.05 for adamw)\n"
    "  --seed N           seed of initialisation, data order and augmentation (default 0)\n"
    "  --threads N        CPU threads of the backend (default 0: all cores)\n"
    "  --data-threads N   augmentation threads (default 0: the loader's default)\n"
    "  --out DIR          run directory: config.json before the first step, log.jsonl,\n"
    "                     curves.png, checkpoint.safetensors and state.json; without it nothing\n"
    "                     is written\n"
    "  --set NAME=VALUE   a hyperparameter of the method or meta-optimizer (repeatable;\n"
    "                     'gessl methods' lists them with their ranges); PLUGIN.NAME picks\n"
    "                     one plugin, needed where both declare NAME (gessl.lambda)\n"
    "  --config FILE      settings from a JSON object whose keys are these option names without\n"
    "                     '--' and hyperparameter names, e.g. {\"batch\": 128, \"temperature\": "
    "0.2};\n"
    "                     options on the command line override it. A run's config.json works too\n"
    "  --log-every N      a log line (and log.jsonl entry) every N steps (default 10)\n"
    "  --checkpoint-every N  a checkpoint every N steps too (default 0: every epoch and at the\n"
    "                     end)\n"
    "  --monitor-knn E    kNN accuracy (k=200, cosine) on the held-out split every E epochs and\n"
    "                     at the end (default 0: off)\n"
    "  --resume DIR       continue the run in DIR from its checkpoint, with its settings;\n"
    "                     --max-steps, --epochs, --log-every, --checkpoint-every, --monitor-knn,\n"
    "                     --threads and --backend may be given anew\n"
    "  --help             this text\n"
    "\n"
    "Exit status: 0 done, 1 the run failed (or diverged), 2 bad option or value, 130 stopped by\n"
    "Ctrl-C.\n";

static const char *const value_opts[] = {"--backend",
                                         "--data",
                                         "--model",
                                         "--method",
                                         "--meta",
                                         "--batch",
                                         "--epochs",
                                         "--max-steps",
                                         "--lr",
                                         "--seed",
                                         "--threads",
                                         "--out",
                                         "--set",
                                         "--optimizer",
                                         "--config",
                                         "--data-limit",
                                         "--width",
                                         "--log-every",
                                         "--checkpoint-every",
                                         "--monitor-knn",
                                         "--resume",
                                         "--final-lr",
                                         "--warmup-steps",
                                         "--weight-decay",
                                         "--data-threads"};

/* What --resume lets the command line change: how long, how often, and where it runs. */
static const char *const resume_opts[] = {"--max-steps",        "--epochs",       "--log-every",
                                          "--checkpoint-every", "--monitor-knn",  "--threads",
                                          "--backend",          "--data-threads", "--resume"};

static cli_opt_kind train_opt(const char *n) {
  if (!strcmp(n, "--help")) return CLI_OPT_FLAG;
  for (size_t k = 0; k < sizeof value_opts / sizeof *value_opts; k++)
    if (!strcmp(n, value_opts[k])) return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

/* The parsed command: the library's configuration plus the strings it points into. */
typedef struct train_cmd {
  gs_train_config cfg;
  const char *set_names[MAX_SETS], *set_values[MAX_SETS];
  char *set_buf[MAX_SETS];
  int set_from_file[MAX_SETS]; /* 1: a key of the settings file (checked as a hyperparameter) */
  int n_set;
  const char *config_path; /* --config */
  const char *where;       /* source of the option being applied, for messages */
  gs_train_settings file;  /* owns the strings that file settings point into */
} train_cmd;

static int add_set(train_cmd *t, const char *name, const char *value, int from_file) {
  if (t->n_set == MAX_SETS)
    return cli_usage_error("train", "--set: more than %d settings", MAX_SETS);
  size_t ln = strlen(name), lv = strlen(value);
  char *buf = malloc(ln + lv + 2);
  if (!buf) return CLI_FAIL;
  memcpy(buf, name, ln + 1);
  memcpy(buf + ln + 1, value, lv + 1);
  t->set_buf[t->n_set] = buf;
  t->set_names[t->n_set] = buf;
  t->set_values[t->n_set] = buf + ln + 1;
  t->set_from_file[t->n_set] = from_file;
  t->n_set++;
  return CLI_OK;
}

/* Applies one option (from any source) to t. */
static int apply(train_cmd *t, const char *opt, const char *val) {
  gs_train_config *c = &t->cfg;
  long long n;
  double x;
  int rc = CLI_OK;
  if (!strcmp(opt, "--backend")) {
    c->backend = val;
  } else if (!strcmp(opt, "--data")) {
    c->data = val;
  } else if (!strcmp(opt, "--model")) {
    c->model = val;
  } else if (!strcmp(opt, "--method")) {
    c->method = val;
  } else if (!strcmp(opt, "--meta")) {
    c->meta = val;
  } else if (!strcmp(opt, "--batch")) {
    if ((rc = cli_parse_int("train", opt, val, 2, 1 << 20, &n)) == CLI_OK) c->batch = (int)n;
  } else if (!strcmp(opt, "--epochs")) {
    if ((rc = cli_parse_int("train", opt, val, 1, 1000000, &n)) == CLI_OK) c->epochs = (int)n;
  } else if (!strcmp(opt, "--max-steps")) {
    if ((rc = cli_parse_int("train", opt, val, 0, INT64_MAX, &n)) == CLI_OK) c->max_steps = n;
  } else if (!strcmp(opt, "--lr")) {
    if ((rc = cli_parse_float("train", opt, val, 1e-12, 1e12, &x)) == CLI_OK) c->lr = (float)x;
  } else if (!strcmp(opt, "--final-lr")) {
    if ((rc = cli_parse_float("train", opt, val, 0, 1e12, &x)) == CLI_OK) c->final_lr = (float)x;
  } else if (!strcmp(opt, "--warmup-steps")) {
    if ((rc = cli_parse_int("train", opt, val, -1, INT64_MAX, &n)) == CLI_OK) c->warmup_steps = n;
  } else if (!strcmp(opt, "--weight-decay")) {
    if ((rc = cli_parse_float("train", opt, val, 0, 1e6, &x)) == CLI_OK) c->weight_decay = (float)x;
  } else if (!strcmp(opt, "--seed")) {
    rc = cli_parse_u64("train", opt, val, &c->seed);
  } else if (!strcmp(opt, "--threads")) {
    if ((rc = cli_parse_int("train", opt, val, 0, 4096, &n)) == CLI_OK) c->threads = (int)n;
  } else if (!strcmp(opt, "--data-threads")) {
    if ((rc = cli_parse_int("train", opt, val, 0, 256, &n)) == CLI_OK) c->data_threads = (int)n;
  } else if (!strcmp(opt, "--data-limit")) {
    if ((rc = cli_parse_int("train", opt, val, 0, INT64_MAX, &n)) == CLI_OK) c->data_limit = n;
  } else if (!strcmp(opt, "--width")) {
    if ((rc = cli_parse_float("train", opt, val, 1e-3, 64, &x)) == CLI_OK) c->width = (float)x;
  } else if (!strcmp(opt, "--log-every")) {
    if ((rc = cli_parse_int("train", opt, val, 1, 1 << 30, &n)) == CLI_OK) c->log_every = (int)n;
  } else if (!strcmp(opt, "--checkpoint-every")) {
    if ((rc = cli_parse_int("train", opt, val, 0, INT64_MAX, &n)) == CLI_OK)
      c->checkpoint_every = n;
  } else if (!strcmp(opt, "--monitor-knn")) {
    if ((rc = cli_parse_int("train", opt, val, 0, 1000000, &n)) == CLI_OK) c->monitor_knn = (int)n;
  } else if (!strcmp(opt, "--out")) {
    if (!*val) rc = cli_usage_error("train", "--out: empty directory name");
    c->out = val;
  } else if (!strcmp(opt, "--resume")) {
    if (!*val) rc = cli_usage_error("train", "--resume: empty directory name");
    c->resume = val;
  } else if (!strcmp(opt, "--config")) {
    t->config_path = val;
  } else if (!strcmp(opt, "--optimizer")) {
    if (gs_optim_parse(val, &c->optimizer) != GS_OK)
      rc = cli_usage_error("train", "--optimizer %s: unknown optimizer (sgd, lars, adamw)", val);
  } else if (!strcmp(opt, "--set")) {
    const char *eq = strchr(val, '=');
    if (!eq || eq == val) return cli_usage_error("train", "--set '%s': expected NAME=VALUE", val);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(eq - val), val);
    rc = add_set(t, name, eq + 1, 0);
  }
  return rc;
}

/* Applies a settings file: flag names (with '_' read as '-') as options, other keys as
 * hyperparameters, checked once the plugins are known. */
static int apply_file(train_cmd *t, const char *path, int allow_out) {
  if (gs_train_settings_read(path, &t->file) != GS_OK) {
    fprintf(stderr, "gessl train: %s\n", gs_errmsg());
    return CLI_USAGE;
  }
  for (int k = 0; k < t->file.n; k++) {
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", t->file.keys[k]);
    for (char *p = opt + 2; *p; p++)
      if (*p == '_') *p = '-';
    const char *val = t->file.values[k];
    int rc;
    if (!strcmp(opt, "--config") || !strcmp(opt, "--resume") || !strcmp(opt, "--help") ||
        !strcmp(opt, "--set") || (!allow_out && !strcmp(opt, "--out")))
      rc = cli_usage_error("train", "%s: key '%s' cannot be set in a settings file", path,
                           t->file.keys[k]);
    else if (train_opt(opt) == CLI_OPT_VALUE) {
      cli_set_context(path);
      rc = apply(t, opt, val);
      cli_set_context(NULL);
    } else {
      rc = add_set(t, t->file.keys[k], val, 1);
    }
    if (rc != CLI_OK) return rc;
  }
  return CLI_OK;
}

/* A key of the settings file that is neither a flag nor a declared hyperparameter. */
static int check_file_keys(const train_cmd *t, gs_runtime *rt, const char *path) {
  const gs_method_iface *m = gs_runtime_method(rt, t->cfg.method);
  const gs_meta_iface *x = gs_runtime_meta(rt, t->cfg.meta);
  for (int s = 0; s < t->n_set; s++) {
    if (!t->set_from_file[s]) continue;
    int found = 0;
    for (int k = 0; m && !found && k < m->n_hparams; k++)
      found = !strcmp(m->hparams[k].name, t->set_names[s]);
    for (int k = 0; x && !found && k < x->n_hparams; k++)
      found = !strcmp(x->hparams[k].name, t->set_names[s]);
    if (!found && m && x)
      return cli_usage_error("train",
                             "%s: unknown key '%s' (not an option of gessl train, nor a "
                             "hyperparameter of %s or %s)",
                             path, t->set_names[s], m->name, x->name);
  }
  return CLI_OK;
}

/* ---- What the user sees ---- */

typedef struct view {
  int tty;      /* stderr is a terminal: live bar */
  int bar_open; /* a bar is drawn on the current line of stderr */
  int epochs;
} view;

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void fmt_time(char *buf, size_t len, double s) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void close_bar(view *v) {
  if (v->bar_open) fputs("\r\033[K", stderr);
  v->bar_open = 0;
}

static void on_progress(void *user, const gs_train_progress *p) {
  view *v = user;
  char eta[32];
  fmt_time(eta, sizeof eta, p->eta_s);
  if (!v->tty) {
    if (!p->log_step) return;
    printf("step %lld/%lld  epoch %lld/%lld  loss %.4f  avg %.4f  lr %.4g  %.1f img/s  eta %s\n",
           (long long)p->step, (long long)p->total_steps, (long long)p->epoch + 1,
           (long long)p->epochs, p->loss, p->loss_avg, p->lr, p->images_per_s, eta);
    fflush(stdout);
    return;
  }
  enum { W = 24 };
  char bar[W + 1];
  int fill = p->epoch_steps > 0 ? (int)(W * p->epoch_step / p->epoch_steps) : W;
  for (int k = 0; k < W; k++) bar[k] = k < fill ? '#' : '-';
  bar[W] = 0;
  fprintf(stderr,
          "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  step %lld/%lld  loss %.4f  lr %.4g  %.0f img/s  "
          "ETA %s",
          (long long)p->epoch + 1, (long long)p->epochs, bar, (long long)p->epoch_step,
          (long long)p->epoch_steps, (long long)p->step, (long long)p->total_steps, p->loss, p->lr,
          p->images_per_s, eta);
  v->bar_open = 1;
  if (p->epoch_step == p->epoch_steps || p->step == p->total_steps) {
    fputc('\n', stderr);
    v->bar_open = 0;
  }
  fflush(stderr);
}

static void on_epoch(void *user, const gs_train_epoch *e) {
  view *v = user;
  close_bar(v);
  printf("epoch %lld/%d done: mean loss %.4f in %.1f s", (long long)e->epoch + 1, v->epochs,
         e->loss_mean, e->seconds);
  if (isfinite(e->knn_top1))
    printf("  kNN top-1 %.2f%%  top-5 %.2f%%", 100.0 * e->knn_top1, 100.0 * e->knn_top5);
  if (isfinite(e->sigma)) printf("  sigma %.3f (%.3f of chance)", e->sigma, e->sigma_norm);
  printf("\n");
  fflush(stdout);
}

static void on_log(void *user, const char *line) {
  view *v = user;
  close_bar(v);
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

/* Parses argv twice: first for --help, --config and --resume (the base settings), then for
 * everything else, so the command line overrides the file whatever the order. */
static int parse(train_cmd *t, int argc, char **argv, int *help) {
  cli_args a = {argc, 0, argv, "train", 0};
  const char *opt, *val, *resume = NULL;
  while ((opt = cli_next(&a, train_opt, &val))) {
    if (!strcmp(opt, "--help")) *help = 1;
    if (!strcmp(opt, "--config")) t->config_path = val;
    if (!strcmp(opt, "--resume")) resume = val;
  }
  if (a.err || *help) return a.err;
  if (resume && t->config_path)
    return cli_usage_error("train", "--resume takes the run's own settings; drop --config");
  int rc = CLI_OK;
  if (resume) {
    if (!*resume) return cli_usage_error("train", "--resume: empty directory name");
    char *path = malloc(strlen(resume) + 16);
    if (!path) return CLI_FAIL;
    sprintf(path, "%s/config.json", resume);
    if (access(path, R_OK) != 0) {
      fprintf(stderr, "gessl train: --resume %s: no config.json there (not a run directory)\n",
              resume);
      free(path);
      return CLI_FAIL;
    }
    rc = apply_file(t, path, 0);
    free(path);
  } else if (t->config_path) {
    rc = apply_file(t, t->config_path, 1);
  }
  a = (cli_args){argc, 0, argv, "train", 0};
  while (rc == CLI_OK && (opt = cli_next(&a, train_opt, &val))) {
    if (resume) {
      int ok = 0;
      for (size_t k = 0; k < sizeof resume_opts / sizeof *resume_opts; k++)
        ok |= !strcmp(opt, resume_opts[k]);
      if (!ok) {
        rc = cli_usage_error(
            "train", "%s: cannot be changed when resuming (the run's config.json sets it)", opt);
        break;
      }
    }
    rc = apply(t, opt, val);
  }
  if (rc == CLI_OK) rc = a.err;
  return rc;
}

int cli_train(int argc, char **argv) {
  train_cmd *t = calloc(1, sizeof *t);
  if (!t) return CLI_FAIL;
  gs_train_config_init(&t->cfg);
  int help = 0;
  int rc = parse(t, argc, argv, &help);
  if (rc == CLI_OK && help) {
    fputs(train_help, stdout);
    goto done;
  }
  gs_runtime *rt = NULL;
  gs_train_config *c = &t->cfg;
  if (rc == CLI_OK) {
    c->set_names = t->set_names;
    c->set_values = t->set_values;
    c->n_set = t->n_set;
    rt = cli_runtime("train", c->threads);
    if (!rt) rc = CLI_FAIL;
  }
  if (rc == CLI_OK) rc = check_backend(rt, c->backend);
  if (rc == CLI_OK && t->config_path) rc = check_file_keys(t, rt, t->config_path);
  if (rc == CLI_OK && gs_train_validate(rt, c) != GS_OK)
    rc = cli_usage_error("train", "%s", gs_errmsg());
  if (rc == CLI_OK) {
    view v = {isatty(2), 0, c->epochs};
    c->progress = on_progress;
    c->epoch_end = on_epoch;
    c->log = on_log;
    c->user = &v;
    c->stop = &stop_flag;
    /* The first Ctrl-C asks for a clean stop; the handler resets itself, so a second one kills
     * a run that is stuck. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    gs_train_result res;
    gs_status st = gs_train_run(rt, c, &res);
    sigaction(SIGINT, &old, NULL);
    close_bar(&v);
    if (st == GS_OK || st == GS_ERR_INTERRUPTED) {
      if (st == GS_ERR_INTERRUPTED) fprintf(stderr, "gessl train: %s\n", gs_errmsg());
      printf("final loss %.4f (first %.4f)  %lld steps, %lld images in %.1f s  %.1f images/s  "
             "on %s\n",
             res.final_loss, res.first_loss, (long long)res.steps, (long long)res.images,
             res.seconds, res.images_per_s, res.device);
      if (isfinite(res.knn_top1))
        printf("kNN accuracy (k=200, held-out split): top-1 %.2f%%  top-5 %.2f%%  (monitoring "
               "took %.1f s)\n",
               100.0 * res.knn_top1, 100.0 * res.knn_top5, res.monitor_seconds);
      const char *dir = c->resume ? c->resume : c->out;
      if (dir && st == GS_OK) printf("run directory: %s\n", dir);
      rc = st == GS_OK ? CLI_OK : CLI_INTERRUPTED;
    } else {
      fprintf(stderr, "gessl train: %s\n", gs_errmsg());
      rc = CLI_FAIL;
    }
  }
  if (rt) gs_runtime_close(rt);
done:
  for (int k = 0; k < t->n_set; k++) free(t->set_buf[k]);
  gs_train_settings_free(&t->file);
  free(t);
  return rc;
}
