/* Settings files (--config): values of every JSON kind become the text a flag would take, a run's
 * config.json is read through its "settings" member, and malformed files are refused with a
 * message naming the file and the key or line. */
#include <math.h>
#include <unistd.h>

#include "check.h"
#include "train_util.h"

static char path[256];

static void put(const char *text) {
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

static const char *value_of(const gs_train_settings *s, const char *key) {
  for (int k = 0; k < s->n; k++)
    if (!strcmp(s->keys[k], key)) return s->values[k];
  return NULL;
}

static void refused(const char *text, gs_status want, const char *needle) {
  put(text);
  gs_train_settings s;
  gs_status st = gs_train_settings_read(path, &s);
  CHECKF(st == want, "'%s': status %d (%s)", text, (int)st, gs_errmsg());
  CHECKF(strstr(gs_errmsg(), path) != NULL, "'%s': message '%s' does not name the file", text,
         gs_errmsg());
  CHECKF(strstr(gs_errmsg(), needle) != NULL, "'%s': message '%s' lacks '%s'", text, gs_errmsg(),
         needle);
  CHECK(s.n == 0 && s.keys == NULL);
}

/* The table of settings: every row is found under both spellings, parses its own default
 * back, and its rules are enforced by gs_train_config_set and gs_train_validate alike. */
static void table_rules(void) {
  gs_train_config c;
  gs_train_config_init(&c);
  CHECKF(gs_train_validate(NULL, &c) == GS_OK, "defaults: %s", gs_errmsg());
  const gs_train_setting *s;
  int n = 0;
  for (int k = 0; (s = gs_train_setting_at(k)); k++, n++) {
    char under[64];
    snprintf(under, sizeof under, "%s", s->name);
    for (char *p = under; *p; p++)
      if (*p == '-') *p = '_';
    CHECKF(gs_train_setting_find(s->name) == s && gs_train_setting_find(under) == s, "%s", s->name);
    CHECKF(s->help && *s->help && s->offset < sizeof c, "%s: help and field", s->name);
  }
  CHECK(n >= 20 && gs_train_setting_at(-1) == NULL && gs_train_setting_find("nosuch") == NULL);
  CHECK(gs_train_setting_find("lr") &&
        !(gs_train_setting_find("lr")->flags & GS_SETTING_RESUMABLE));
  CHECK(gs_train_setting_find("max-steps")->flags & GS_SETTING_RESUMABLE);

  CHECK(gs_train_config_set(&c, "batch", "64") == GS_OK && c.batch == 64);
  CHECK(gs_train_config_set(&c, "batch", "1") == GS_ERR_INVALID && c.batch == 64);
  CHECKF(strstr(gs_errmsg(), "--batch") && strstr(gs_errmsg(), "2..1048576"), "%s", gs_errmsg());
  CHECK(gs_train_config_set(&c, "batch", "6x") == GS_ERR_INVALID && c.batch == 64);
  CHECK(gs_train_config_set(&c, "max_steps", "7") == GS_OK && c.max_steps == 7);
  CHECK(gs_train_config_set(&c, "lr", "0.05") == GS_OK && fabsf(c.lr - 0.05f) < 1e-9f);
  CHECK(gs_train_config_set(&c, "lr", "0") == GS_ERR_INVALID);
  /* The bound itself, which is no float: stored as the nearest float, accepted as that. */
  CHECKF(gs_train_config_set(&c, "lr", "1e-12") == GS_OK, "--lr 1e-12: %s", gs_errmsg());
  CHECK(gs_train_config_set(&c, "optimizer", "LARS") == GS_OK && c.optimizer == GS_OPT_LARS);
  CHECK(gs_train_config_set(&c, "optimizer", "adam") == GS_ERR_INVALID);
  CHECKF(strstr(gs_errmsg(), "sgd, lars, adamw"), "%s", gs_errmsg());
  CHECK(gs_train_config_set(&c, "model", "resnet18") == GS_OK && !strcmp(c.model, "resnet18"));
  CHECK(gs_train_config_set(&c, "model", "vgg") == GS_ERR_INVALID);
  CHECK(gs_train_config_set(&c, "seed", "18446744073709551615") == GS_OK && c.seed == UINT64_MAX);
  CHECK(gs_train_config_set(&c, "seed", "-1") == GS_ERR_INVALID);
  CHECK(gs_train_config_set(&c, "out", "") == GS_ERR_INVALID && c.out == NULL);
  /* The auto values are a configuration's "default", never text. */
  CHECK(gs_train_config_set(&c, "weight-decay", "-1") == GS_ERR_INVALID);
  CHECK(gs_train_config_set(&c, "log-every", "0") == GS_ERR_INVALID);
  CHECK(gs_train_config_set(&c, "nosuch", "1") == GS_ERR_INVALID);
  CHECKF(gs_train_validate(NULL, &c) == GS_OK, "%s", gs_errmsg());
  c.weight_decay = -1.0f;
  c.log_every = 0;
  CHECKF(gs_train_validate(NULL, &c) == GS_OK, "%s", gs_errmsg());
  c.weight_decay = -0.5f;
  CHECK(gs_train_validate(NULL, &c) == GS_ERR_INVALID && strstr(gs_errmsg(), "--weight-decay"));
  c.weight_decay = 0.0f;
  c.threads = 5000;
  CHECK(gs_train_validate(NULL, &c) == GS_ERR_INVALID && strstr(gs_errmsg(), "--threads"));
  c.threads = 0;
  c.optimizer = (gs_optim_kind)7;
  CHECK(gs_train_validate(NULL, &c) == GS_ERR_INVALID && strstr(gs_errmsg(), "--optimizer"));
}

int main(void) {
  table_rules();
  snprintf(path, sizeof path, "/tmp/gessl-settings-%ld.json", (long)getpid());
  put("{\"batch\": 128, \"lr\": 0.3, \"data\": \"fashion-mnist\", \"max-steps\": 1e3,\n"
      " \"temperature\": 0.2, \"flag\": true, \"off\": false, \"seed\": \"18446744073709551615\"}");
  gs_train_settings s;
  CHECKF(gs_train_settings_read(path, &s) == GS_OK, "%s", gs_errmsg());
  CHECK(s.n == 8);
  CHECK(s.n > 0 && !strcmp(s.keys[0], "batch")); /* file order */
  const char *v;
  CHECKF((v = value_of(&s, "batch")) && !strcmp(v, "128"), "batch %s", v ? v : "-");
  CHECKF((v = value_of(&s, "lr")) && !strcmp(v, "0.3"), "lr %s", v ? v : "-");
  CHECKF((v = value_of(&s, "max-steps")) && !strcmp(v, "1000"), "max-steps %s", v ? v : "-");
  CHECKF((v = value_of(&s, "temperature")) && !strcmp(v, "0.2"), "temperature %s", v ? v : "-");
  CHECKF((v = value_of(&s, "data")) && !strcmp(v, "fashion-mnist"), "data %s", v ? v : "-");
  CHECKF((v = value_of(&s, "flag")) && !strcmp(v, "true"), "flag %s", v ? v : "-");
  CHECKF((v = value_of(&s, "off")) && !strcmp(v, "false"), "off %s", v ? v : "-");
  CHECKF((v = value_of(&s, "seed")) && !strcmp(v, "18446744073709551615"), "seed %s", v ? v : "-");
  gs_train_settings_free(&s);
  gs_train_settings_free(&s); /* twice is harmless */

  /* A run's config.json: only its "settings" object counts. */
  put("{\"gessl_version\": \"0.1.0\", \"device\": {\"name\": \"x\"},\n"
      " \"settings\": {\"epochs\": 3, \"method\": \"simclr\"}}");
  CHECKF(gs_train_settings_read(path, &s) == GS_OK, "%s", gs_errmsg());
  CHECK(s.n == 2 && (v = value_of(&s, "epochs")) && !strcmp(v, "3"));
  gs_train_settings_free(&s);

  put("{}");
  CHECK(gs_train_settings_read(path, &s) == GS_OK && s.n == 0);
  gs_train_settings_free(&s);

  refused("{\"batch\": 128,\n \"lr\": }", GS_ERR_FORMAT, "line 2");
  refused("[1, 2]", GS_ERR_FORMAT, "object");
  refused("{\"batch\": [1, 2]}", GS_ERR_FORMAT, "'batch'");
  refused("{\"batch\": null}", GS_ERR_FORMAT, "'batch'");
  refused("{\"epochs\": {\"a\": 1}}", GS_ERR_FORMAT, "'epochs'");
  refused("{\"batch\": 1, \"batch\": 2}", GS_ERR_FORMAT, "twice");
  refused("{\"batch\": 1} trailing", GS_ERR_FORMAT, "JSON");
  refused("", GS_ERR_FORMAT, "JSON");
  unlink(path);
  CHECK(gs_train_settings_read(path, &s) == GS_ERR_IO);
  CHECK(strstr(gs_errmsg(), path) != NULL);
  return check_summary();
}
