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
#include "gessl/comm.h"
#include "gessl/train.h"

enum { MAX_SETS = 128 };

static const char *const help_head =
    "usage: gessl train [OPTIONS]\n"
    "       gessl train --resume DIR [--max-steps N] [--epochs N] ...\n"
    "\n"
    "Trains a backbone with a self-supervised method. Shows a progress bar on a terminal (one\n"
    "line per --log-every steps otherwise) and ends with the final loss, the time, the images\n"
    "per second and, with --monitor-knn, the kNN accuracy. Ctrl-C stops after the current step\n"
    "and writes a checkpoint that --resume continues from.\n"
    "\n"
    "options:\n";

/* The options of the command itself; the settings are the library's table (train.h). */
static const struct {
  const char *name, *arg, *help;
} own_opts[] = {
    {"set", "NAME=VALUE",
     "a hyperparameter of the method or meta-optimizer (repeatable;\n"
     "'gessl methods' lists them with their ranges); PLUGIN.NAME picks\n"
     "one plugin, needed where both declare NAME (gessl.lambda)"},
    {"config", "FILE",
     "settings from a JSON object whose keys are these option names without\n"
     "'--' and hyperparameter names, e.g. {\"batch\": 128, \"temperature\": 0.2};\n"
     "options on the command line override it. A run's config.json works too"},
    {"resume", "DIR", NULL},
    {"help", NULL, "this text"},
};

static const char *const help_tail =
    "\n"
    "Data-parallel: 'mpirun -np P gessl train ...' trains one model over P processes; --batch is\n"
    "the global batch (each rank takes batch/P images of it), --backend may list one spec per\n"
    "rank (cpu,opencl: rank r takes the r-th, cycling); rank 0 writes the run directory.\n"
    "\n"
    "Exit status: 0 done, 1 the run failed (or diverged), 2 bad option or value, 130 stopped by\n"
    "Ctrl-C.\n";

/* "  --name ARG" then the help, its lines aligned in one column. */
static void print_opt(const char *name, const char *arg, const char *help) {
  enum { COL = 21 };
  int w = printf("  --%s%s%s", name, arg ? " " : "", arg ? arg : "");
  printf("%*s", w + 2 > COL ? 2 : COL - w, "");
  for (const char *p = help; *p;) {
    size_t n = strcspn(p, "\n");
    printf("%.*s\n", (int)n, p);
    p += n;
    if (*p == '\n' && *++p) printf("%*s", COL, "");
  }
}

static void print_help(void) {
  fputs(help_head, stdout);
  const gs_train_setting *s;
  for (int k = 0; (s = gs_train_setting_at(k)); k++) print_opt(s->name, s->arg, s->help);
  for (size_t k = 0; k < sizeof own_opts / sizeof *own_opts; k++) {
    if (own_opts[k].help) {
      print_opt(own_opts[k].name, own_opts[k].arg, own_opts[k].help);
      continue;
    }
    /* --resume: what may be given anew comes from the table. */
    char help[768] = "continue the run in DIR from its checkpoint, with its settings;\n";
    size_t at = strlen(help), line = at;
    for (int j = 0; (s = gs_train_setting_at(j)); j++) {
      if (!(s->flags & GS_SETTING_RESUMABLE)) continue;
      if (at - line + strlen(s->name) > 64) line = (help[at - 1] = '\n', at);
      int n = snprintf(help + at, sizeof help - at, "--%s, ", s->name);
      if (n > 0 && (size_t)n < sizeof help - at) at += (size_t)n;
    }
    snprintf(help + at - 2, sizeof help - at + 2, " may be given anew");
    print_opt("resume", "DIR", help);
  }
  fputs(help_tail, stdout);
}

static cli_opt_kind train_opt(const char *n) {
  if (strncmp(n, "--", 2) != 0) return CLI_OPT_UNKNOWN;
  const gs_train_setting *s = gs_train_setting_find(n + 2);
  if (s && strchr(n, '_') == NULL) return s->type == GS_SETTING_BOOL ? CLI_OPT_FLAG : CLI_OPT_VALUE;
  for (size_t k = 0; k < sizeof own_opts / sizeof *own_opts; k++)
    if (!strcmp(n + 2, own_opts[k].name)) return own_opts[k].arg ? CLI_OPT_VALUE : CLI_OPT_FLAG;
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

/* Applies one option (from any source) to t: a setting of the table, or one of the command's. */
static int apply(train_cmd *t, const char *opt, const char *val) {
  if (!strcmp(opt, "--config")) {
    t->config_path = val;
  } else if (!strcmp(opt, "--resume")) {
    if (!*val) return cli_usage_error("train", "--resume: empty directory name");
    t->cfg.resume = val;
  } else if (!strcmp(opt, "--set")) {
    const char *eq = strchr(val, '=');
    if (!eq || eq == val) return cli_usage_error("train", "--set '%s': expected NAME=VALUE", val);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(eq - val), val);
    return add_set(t, name, eq + 1, 0);
  } else if (gs_train_config_set(&t->cfg, opt + 2, val) != GS_OK) {
    return cli_usage_error("train", "%s", gs_errmsg());
  }
  return CLI_OK;
}

/* Applies a settings file: settings of the table as options, other keys as hyperparameters,
 * checked once the plugins are known. A run's own config.json (resume) holds only saved
 * settings. */
static int apply_file(train_cmd *t, const char *path, int resume) {
  if (gs_train_settings_read(path, &t->file) != GS_OK) {
    fprintf(stderr, "gessl train: %s\n", gs_errmsg());
    return CLI_USAGE;
  }
  cli_set_context(path);
  int rc = CLI_OK;
  for (int k = 0; k < t->file.n && rc == CLI_OK; k++) {
    const char *key = t->file.keys[k];
    const gs_train_setting *s = gs_train_setting_find(key);
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", key);
    if (!s && train_opt(opt) == CLI_OPT_UNKNOWN) { /* a hyperparameter */
      rc = add_set(t, key, t->file.values[k], 1);
      continue;
    }
    if (!s || (resume && (s->flags & GS_SETTING_UNSAVED)))
      rc = cli_usage_error("train", "key '%s' cannot be set in a settings file", key);
    else if (gs_train_config_set(&t->cfg, key, t->file.values[k]) != GS_OK)
      rc = cli_usage_error("train", "%s", gs_errmsg());
  }
  cli_set_context(NULL);
  return rc;
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
    rc = apply_file(t, path, 1);
    free(path);
  } else if (t->config_path) {
    rc = apply_file(t, t->config_path, 0);
  }
  a = (cli_args){argc, 0, argv, "train", 0};
  while (rc == CLI_OK && (opt = cli_next(&a, train_opt, &val))) {
    if (resume) {
      const gs_train_setting *s = gs_train_setting_find(opt + 2);
      if (strcmp(opt, "--resume") != 0 && !(s && (s->flags & GS_SETTING_RESUMABLE))) {
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

/* Under an MPI launcher: join the world before anything else, so that rank 0 alone talks to the
 * user. A failure on any rank after that ends every rank (never a hang in a collective). */
static int join_world(void) {
  if (!gs_world_launched()) return CLI_OK;
  if (gs_world_open("mpi") != GS_OK) {
    fprintf(stderr, "gessl train: %s\n", gs_errmsg());
    return CLI_FAIL;
  }
  return CLI_OK;
}

static int train_main(int argc, char **argv);

int cli_train(int argc, char **argv) {
  int rc = join_world();
  if (rc != CLI_OK) return rc;
  rc = train_main(argc, argv);
  if (gs_world_size() > 1 && rc != CLI_OK && rc != CLI_INTERRUPTED) {
    char why[1100];
    snprintf(why, sizeof why, "exit status %d (see the message above)", rc);
    gs_world_abort(rc, why);
  }
  gs_world_close();
  return rc;
}

static int train_main(int argc, char **argv) {
  train_cmd *t = calloc(1, sizeof *t);
  if (!t) return CLI_FAIL;
  gs_train_config_init(&t->cfg);
  int help = 0;
  int rc = parse(t, argc, argv, &help);
  if (rc == CLI_OK && help) {
    print_help();
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
  if (rc == CLI_OK && t->config_path) rc = check_file_keys(t, rt, t->config_path);
  if (rc == CLI_OK && gs_train_validate(rt, c) != GS_OK)
    rc = cli_usage_error("train", "%s", gs_errmsg());
  if (rc == CLI_OK) {
    view v = {isatty(2), 0, c->epochs};
    int quiet = gs_world_rank() > 0; /* rank 0 speaks for the job */
    c->progress = quiet ? NULL : on_progress;
    c->epoch_end = quiet ? NULL : on_epoch;
    c->log = quiet ? NULL : on_log;
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
    if (quiet && (st == GS_OK || st == GS_ERR_INTERRUPTED)) {
      rc = st == GS_OK ? CLI_OK : CLI_INTERRUPTED;
    } else if (st == GS_OK || st == GS_ERR_INTERRUPTED) {
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
