/* The collapse warning: a method whose embedding is constant (tests/train/collapsed_method.c,
 * loaded from argv[1]) trains normally, and the loop warns through the log callback, once,
 * naming the first logged step; log.jsonl records the per-dimension std of that step as 0. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gessl/train.h"
#include "train_util.h"

typedef struct seen {
  int warnings;
  char first[512];
} seen;

static void on_log(void *user, const char *line) {
  seen *s = user;
  if (!strstr(line, "collapsing")) return;
  if (s->warnings++ == 0) snprintf(s->first, sizeof s->first, "%s", line);
  printf("log: %s\n", line);
}

int main(int argc, char **argv) {
  CHECKF(argc > 2, "usage: %s PLUGIN_DIR RUN_DIR", argv[0]);
  if (argc < 3) return check_summary();
  seen s = {0, ""};
  gs_train_config cfg;
  tiny_config(&cfg);
  cfg.method = "collapsed";
  cfg.n_set = 0;
  cfg.plugin_path = argv[1];
  cfg.max_steps = 3;
  cfg.log_every = 2;
  cfg.lr = 0.05f;
  cfg.out = argv[2];
  cfg.force = 1; /* the directory of the previous ctest run */
  cfg.log = on_log;
  cfg.user = &s;
  gs_train_result res;
  gs_status st = gs_train_run(NULL, &cfg, &res);
  CHECKF(st == GS_OK, "%s", gs_errmsg());
  CHECK(res.steps == 3);
  /* Step 1 is the first logged step; the warning is not repeated while the collapse lasts. */
  CHECKF(s.warnings == 1, "%d collapse warnings", s.warnings);
  CHECKF(strstr(s.first, "step 1:") != NULL, "warning does not name step 1: '%s'", s.first);
  CHECKF(strstr(s.first, "warning") != NULL, "'%s'", s.first);

  char path[1024];
  snprintf(path, sizeof path, "%s/log.jsonl", argv[2]);
  char *text = slurp(path, NULL);
  CHECKF(text != NULL, "%s not written", path);
  int found = 0;
  for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "step") && cJSON_IsNumber(step) &&
        step->valueint == 1) {
      const cJSON *sd = cJSON_GetObjectItemCaseSensitive(o, "collapse_std");
      found = 1;
      CHECKF(cJSON_IsNumber(sd) && sd->valuedouble < 1e-6, "step 1: %s", line);
    }
    cJSON_Delete(o);
  }
  free(text);
  CHECK(found);
  return check_summary();
}
