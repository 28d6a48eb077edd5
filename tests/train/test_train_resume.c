/* Checkpoints and resume on the CPU backend: a run stopped and resumed (once or twice, mid-epoch
 * and across an epoch boundary) logs exactly the losses of an uninterrupted run, for SGD with
 * momentum and for AdamW (moments and step count saved); the run directory holds config.json,
 * state.json, checkpoint.safetensors, a log.jsonl of JSON lines and curves.png; a checkpoint that
 * is truncated, from another model or contradicted by state.json is refused with a message
 * naming the file, and nothing in the directory changes. */
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "train_util.h"

enum { STEPS = 16 };

static char base[256];

static void dir_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", base, name);
}

static const char *const run_files[] = {"config.json", "state.json", "checkpoint.safetensors",
                                        "log.jsonl", "curves.png"};

static void remove_run(const char *dir) {
  char p[1024];
  for (size_t k = 0; k < sizeof run_files / sizeof *run_files; k++) {
    snprintf(p, sizeof p, "%s/%s", dir, run_files[k]);
    unlink(p);
  }
  rmdir(dir);
}

static gs_status run(const char *dir, int resume, gs_optim_kind opt, int64_t max_steps, int monitor,
                     gs_train_result *res) {
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.monitor_knn = monitor;
  cfg.optimizer = opt;
  cfg.lr = opt == GS_OPT_ADAMW ? 0.01f : 0.3f;
  cfg.max_steps = max_steps;
  if (resume)
    cfg.resume = dir;
  else
    cfg.out = dir;
  return gs_train_run(NULL, &cfg, res);
}

/* Uninterrupted against stopped at each of `stops` and resumed. */
static void check_exact(const char *tag, gs_optim_kind opt, const int64_t *stops, int n_stops) {
  char full[512], part[512];
  snprintf(full, sizeof full, "%s/%s-full", base, tag);
  snprintf(part, sizeof part, "%s/%s-part", base, tag);
  gs_train_result res;
  /* The uninterrupted SGD run is also monitored: kNN, sigma and the collapse probe must not
   * change what it computes. */
  CHECKF(run(full, 0, opt, 0, opt == GS_OPT_SGD, &res) == GS_OK, "%s: %s", tag, gs_errmsg());
  CHECK(res.steps == STEPS && res.checkpoint_step == STEPS);
  if (opt == GS_OPT_SGD)
    CHECKF(res.knn_top1 >= 0.0 && res.knn_top1 <= 1.0, "%s: kNN %g", tag, res.knn_top1);
  CHECKF(run(part, 0, opt, stops[0], 0, &res) == GS_OK, "%s: %s", tag, gs_errmsg());
  CHECK(res.steps == stops[0] && res.checkpoint_step == stops[0]);
  for (int k = 1; k <= n_stops; k++) {
    int64_t to = k < n_stops ? stops[k] : 0;
    CHECKF(run(part, 1, opt, to, 0, &res) == GS_OK, "%s resume %d: %s", tag, k, gs_errmsg());
    CHECKF(res.start_step == stops[k - 1], "%s: resumed at %lld, expected %lld", tag,
           (long long)res.start_step, (long long)stops[k - 1]);
  }
  CHECK(res.steps == STEPS);
  double a[STEPS], b[STEPS];
  int ea = 0, eb = 0;
  CHECKF(log_losses(full, a, STEPS, &ea) == STEPS, "%s: log.jsonl of the full run", tag);
  CHECKF(log_losses(part, b, STEPS, &eb) == STEPS, "%s: log.jsonl of the resumed run", tag);
  CHECKF(ea == 2 && eb == 2, "%s: epoch lines %d and %d", tag, ea, eb);
  int same = 1;
  for (int s = 0; s < STEPS; s++)
    if (a[s] != b[s]) {
      same = 0;
      fprintf(stderr, "%s step %d: uninterrupted %.9g, resumed %.9g\n", tag, s + 1, a[s], b[s]);
    }
  CHECKF(same, "%s: the resumed run's losses differ", tag);
  for (size_t k = 0; k < sizeof run_files / sizeof *run_files; k++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", part, run_files[k]);
    CHECKF(file_exists(p), "%s missing", p);
  }
  /* Logged steps carry the collapse probe; the monitored run's epochs carry kNN and sigma. */
  char p[1024];
  snprintf(p, sizeof p, "%s/log.jsonl", full);
  char *log = slurp(p, NULL);
  CHECKF(log && strstr(log, "\"collapse_std\":"), "%s: no collapse_std", p);
  if (opt == GS_OPT_SGD)
    CHECKF(log && strstr(log, "\"knn_top1\":") && strstr(log, "\"sigma_norm\":"),
           "%s: no knn_top1 or sigma_norm", p);
  free(log);
}

/* Every file of the directory, concatenated, to see that a refused resume changed nothing. */
static char *snapshot(const char *dir, size_t *len) {
  size_t total = 0;
  char *all = NULL;
  for (size_t k = 0; k < sizeof run_files / sizeof *run_files; k++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, run_files[k]);
    size_t n = 0;
    char *f = slurp(p, &n);
    char *na = realloc(all, total + n + 1);
    if (!na) {
      free(f);
      break;
    }
    all = na;
    if (f) memcpy(all + total, f, n);
    total += n;
    free(f);
  }
  *len = total;
  return all;
}

static void check_refused(const char *dir, const char *what, gs_status want, const char *needle,
                          float width) {
  size_t n0, n1;
  char *before = snapshot(dir, &n0);
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.resume = dir;
  cfg.width = width;
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == want, "%s: status %d (%s)", what, (int)st, gs_errmsg());
  CHECKF(strstr(gs_errmsg(), needle) != NULL, "%s: message '%s' lacks '%s'", what, gs_errmsg(),
         needle);
  printf("%s: %s\n", what, gs_errmsg());
  char *after = snapshot(dir, &n1);
  CHECKF(n0 == n1 && before && after && memcmp(before, after, n0) == 0,
         "%s: the run directory changed", what);
  free(before);
  free(after);
}

int main(void) {
  snprintf(base, sizeof base, "/tmp/gessl-train-resume-XXXXXX");
  if (!mkdtemp(base)) {
    perror("mkdtemp");
    return 1;
  }
  const int64_t sgd_stops[] = {6};         /* mid-epoch */
  const int64_t adam_stops[] = {5, 8, 11}; /* mid-epoch, on the boundary, after it */
  check_exact("sgd", GS_OPT_SGD, sgd_stops, 1);
  check_exact("adamw", GS_OPT_ADAMW, adam_stops, 3);

  /* A checkpoint from a wider backbone: names match, shapes do not. */
  char dir[512], p[1024];
  snprintf(dir, sizeof dir, "%s/sgd-part", base);
  check_refused(dir, "other width", GS_ERR_SHAPE, "checkpoint.safetensors", 0.5f);

  /* state.json of another step. */
  snprintf(p, sizeof p, "%s/state.json", dir);
  size_t n;
  char *state = slurp(p, &n);
  char *at = state ? strstr(state, "\"step\":") : NULL;
  CHECK(at != NULL);
  if (at) {
    char *edited = malloc(n + 16);
    size_t head = (size_t)(at - state);
    memcpy(edited, state, head);
    const char *rest = strchr(at, ',') + 1;
    int w = sprintf(edited + head, "\"step\": 99,");
    memcpy(edited + head + w, rest, strlen(rest) + 1);
    FILE *f = fopen(p, "wb");
    fputs(edited, f);
    fclose(f);
    check_refused(dir, "state.json of a later step", GS_ERR_FORMAT, "state.json", 0.25f);
    /* An older state.json, or none, is what a crash between the checkpoint's two renames leaves:
     * the checkpoint's own metadata is trusted and state.json rewritten. */
    for (int missing = 0; missing < 2; missing++) {
      if (missing) {
        unlink(p);
      } else {
        w = sprintf(edited + head, "\"step\": 3,");
        memcpy(edited + head + w, rest, strlen(rest) + 1);
        f = fopen(p, "wb");
        fputs(edited, f);
        fclose(f);
      }
      gs_train_config cfg;
      tiny_config(&cfg);
      cfg.resume = dir;
      gs_train_result res;
      CHECKF(gs_train_run(NULL, &cfg, &res) == GS_OK, "%s state.json: %s", missing ? "no" : "older",
             gs_errmsg());
      CHECKF(res.start_step == STEPS, "resumed at %lld", (long long)res.start_step);
      char *now = slurp(p, NULL);
      CHECKF(now && strstr(now, "\"step\":\t16,"), "state.json not rewritten: %s", now ? now : "");
      free(now);
    }
    free(edited);
  }
  free(state);

  /* A truncated checkpoint. */
  snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
  char *ck = slurp(p, &n);
  CHECK(ck && n > 1000);
  if (ck) {
    FILE *f = fopen(p, "wb");
    fwrite(ck, 1, n / 2, f);
    fclose(f);
    check_refused(dir, "truncated checkpoint", GS_ERR_FORMAT, "checkpoint.safetensors", 0.25f);
  }
  free(ck);

  /* No checkpoint at all. */
  unlink(p);
  check_refused(dir, "missing checkpoint", GS_ERR_FORMAT, "checkpoint.safetensors", 0.25f);

  const char *tags[] = {"sgd-full", "sgd-part", "adamw-full", "adamw-part"};
  for (size_t k = 0; k < sizeof tags / sizeof *tags; k++) {
    dir_of(dir, sizeof dir, tags[k]);
    remove_run(dir);
  }
  rmdir(base);
  return check_summary();
}
