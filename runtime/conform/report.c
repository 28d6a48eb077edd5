/* Conformance reports as JSON: one file per `gessl conform --json` run, one entry per device. The
 * portability table (docs/portability.md) is generated from these files by
 * scripts/portability_table.py, so the field names here are its input format. */
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "gessl/conform.h"
#include "gessl/io.h"
#include "gessl/runtime.h"

static cJSON *device_json(const gs_conform_result *r) {
  cJSON *d = cJSON_CreateObject();
  if (!d) return NULL;
  cJSON_AddStringToObject(d, "backend", r->backend);
  cJSON_AddNumberToObject(d, "index", r->index);
  cJSON_AddStringToObject(d, "name", r->dev.name);
  cJSON_AddStringToObject(d, "vendor", r->dev.vendor);
  cJSON_AddStringToObject(d, "driver", r->dev.driver);
  cJSON_AddStringToObject(d, "type", gs_device_type_name(r->dev.type));
  cJSON_AddNumberToObject(d, "passed", r->passed);
  cJSON_AddNumberToObject(d, "failed", r->failed);
  cJSON_AddStringToObject(d, "failures", r->failures);
  cJSON_AddStringToObject(d, "error", r->error);
  return d;
}

gs_status gs_conform_write_json(const gs_conform_result *results, int n, const char *path) {
  if (!path || (n > 0 && !results))
    return gs_fail(GS_ERR_INVALID, "conformance report: no path or no results");
  cJSON *root = cJSON_CreateObject(), *devs = cJSON_CreateArray();
  char date[32] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  struct utsname u;
  int ok = root && devs && cJSON_AddStringToObject(root, "gessl", GESSL_VERSION) &&
           cJSON_AddStringToObject(root, "date", date) &&
           cJSON_AddStringToObject(root, "host", uname(&u) == 0 ? u.machine : "unknown");
  for (int k = 0; ok && k < n; k++) {
    cJSON *d = device_json(&results[k]);
    ok = d && cJSON_AddItemToArray(devs, d);
  }
  if (ok) ok = cJSON_AddItemToObject(root, "devices", devs), devs = NULL;
  char *text = ok ? cJSON_Print(root) : NULL;
  cJSON_Delete(devs);
  cJSON_Delete(root);
  if (!text) return gs_fail(GS_ERR_NOMEM, "conformance report %s: out of memory", path);
  size_t len = strlen(text);
  text[len] = '\n'; /* replaces the terminator; the write is by length */
  gs_status st = gs_write_file_durable(path, text, len + 1);
  cJSON_free(text);
  return st;
}
