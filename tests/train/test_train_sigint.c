/* Ctrl-C: SIGINT to a running `gessl train` stops it after the current step with exit status
 * 130, a checkpoint and a message saying how to resume; `gessl train --resume DIR` then finishes
 * the run. argv[1] is the gessl program. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "train_util.h"

static int run_wait(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t spawn(char *const *argv, const char *out) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(out, "wb", stdout);
    if (f) dup2(fileno(stdout), 2);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH-TO-GESSL\n", argv[0]);
    return 2;
  }
  char dir[256], out[512], p[512];
  snprintf(dir, sizeof dir, "/tmp/gessl-train-sigint-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(out, sizeof out, "%s/output.txt", dir);
  char *train[] = {argv[1],
                   "train",
                   "--data",
                   "synthetic:16x16x3",
                   "--data-limit",
                   "128",
                   "--batch",
                   "16",
                   "--epochs",
                   "1000",
                   "--width",
                   "0.25",
                   "--threads",
                   "2",
                   "--log-every",
                   "1",
                   "--set",
                   "proj_hidden_dim=32",
                   "--set",
                   "proj_output_dim=16",
                   "--out",
                   dir,
                   NULL};
  pid_t pid = spawn(train, out);
  CHECK(pid > 0);
  /* Wait until a few steps are logged (a minute at most), then interrupt. */
  double loss[8000];
  int logged = 0;
  for (int t = 0; t < 600 && logged < 3; t++) {
    sleep_ms(100);
    logged = log_losses(dir, loss, 8000, NULL);
  }
  CHECKF(logged >= 3, "only %d steps logged", logged);
  kill(pid, SIGINT);
  int rc = run_wait(pid);
  char *text = slurp(out, NULL);
  printf("%s", text ? text : "");
  CHECKF(rc == 130, "exit status %d after SIGINT", rc);
  CHECKF(text && strstr(text, "gessl train --resume"), "no resume hint");
  free(text);
  snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
  CHECK(file_exists(p));
  snprintf(p, sizeof p, "%s/state.json", dir);
  CHECK(file_exists(p));
  int stopped = log_losses(dir, loss, 8000, NULL);
  CHECKF(stopped >= logged, "%d steps logged at the stop", stopped);

  /* Resume for a few more steps. */
  char steps[32];
  snprintf(steps, sizeof steps, "%d", stopped + 3);
  char *resume[] = {argv[1], "train", "--resume", dir, "--max-steps", steps, NULL};
  pid = spawn(resume, out);
  rc = run_wait(pid);
  text = slurp(out, NULL);
  printf("%s", text ? text : "");
  CHECKF(rc == 0, "resume exit status %d", rc);
  char want[512];
  snprintf(want, sizeof want, "resuming %s at step %d", dir, stopped);
  CHECKF(text && strstr(text, want), "no '%s'", want);
  free(text);
  CHECK(log_losses(dir, loss, 8000, NULL) == stopped + 3);

  const char *files[] = {"config.json", "state.json", "checkpoint.safetensors",
                         "log.jsonl",   "curves.png", "output.txt"};
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[k]);
    unlink(p);
  }
  rmdir(dir);
  return check_summary();
}
