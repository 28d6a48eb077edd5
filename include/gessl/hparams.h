/* gessl — declared hyperparameters of method and meta-optimizer plugins.
 *
 * A plugin declares a static array of gs_hparam_decl; the host validates user values against it
 * (`--set name=value`, config files), lists it in `gessl methods`, and hands the plugin a double
 * per declaration, in declaration order (a CHOICE as the index of the chosen word, a BOOL as 0/1).
 */
#ifndef GESSL_HPARAMS_H
#define GESSL_HPARAMS_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gs_hp_type {
  GS_HP_FLOAT = 0,
  GS_HP_INT = 1,
  GS_HP_BOOL = 2,
  GS_HP_CHOICE = 3
} gs_hp_type;

typedef struct gs_hparam_decl {
  const char *name; /* "temperature" */
  gs_hp_type type;
  double def;          /* default (CHOICE: index into choices) */
  double min, max;     /* inclusive range (FLOAT, INT) */
  const char *choices; /* CHOICE: words separated by '|', e.g. "aid-fd|first-order" */
  const char *help;    /* one line */
} gs_hparam_decl;

/* Parses `text` for decl into *out (validating type and range). The message names the
 * hyperparameter, the value and the accepted range or words. */
GS_API gs_status gs_hparam_parse(const gs_hparam_decl *decl, const char *text, double *out);
/* Formats a value for display ("0.2", "4096", "true", "aid-fd"). */
GS_API const char *gs_hparam_format(const gs_hparam_decl *decl, double v, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
