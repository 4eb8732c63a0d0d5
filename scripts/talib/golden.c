/*
 * Reference outputs of TA-Lib for tests/signals/talib.test.ts.
 *
 * Usage: golden BARS.csv > golden.json
 * BARS.csv has columns open,high,low,close,volume (a header line is skipped). Writes, for every function in
 * funcs.h at TA-Lib's default parameters (`NAME#0`) and for the extra parameter sets below (`NAME#1`, ...):
 *   {"NAME#k": {"params": {...}, "begIdx": n, "outputs": {"name": [values from begIdx on]}}}
 * Values are printed with %.17g so they read back as the exact doubles TA-Lib produced.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "funcs.h"

typedef struct {
  const char *name;
  double p[MAX_PARAMS];
} ParamSet;

/* Non-default parameter sets, chosen to reach code paths the defaults do not; few, since each output adds
   about 16 kB to the gzipped fixture */
static const ParamSet EXTRAS[] = {
  {"TRIMA", {11}}, /* Odd periods take TA-Lib's other TRIMA branch */
  {"RSI", {7}},
  {"MACD", {5, 35, 5}}, /* TA-Lib seeds the fast EMA late to line up with the slow one; a wide gap tests that */
  {"BBANDS", {20, 2.5, 2.5}},
};

#define NEXTRAS ((int)(sizeof(EXTRAS) / sizeof(EXTRAS[0])))

static double *col[5];
static int rows, cap;

static void read_csv(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(1);
  }
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    char *s = line;
    if (!(*s == '-' || *s == '.' || (*s >= '0' && *s <= '9'))) continue; /* Header or blank line */
    if (rows == cap) {
      cap = cap ? cap * 2 : 4096;
      for (int k = 0; k < 5; k++) col[k] = realloc(col[k], sizeof(double) * cap);
    }
    for (int k = 0; k < 5; k++) {
      char *end;
      col[k][rows] = strtod(s, &end);
      if (end == s) {
        fprintf(stderr, "%s: row %d: expected 5 numbers\n", path, rows + 1);
        exit(1);
      }
      s = *end == ',' ? end + 1 : end;
    }
    rows++;
  }
  fclose(f);
}

/* Shortest %g form that reads back to the same double, so 0.7 prints as 0.7 */
static void print_param(double v) {
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, 0) == v) break;
  }
  fputs(buf, stdout);
}

static void emit(const FuncSpec *fs, const double *p, int k, const Bars *b, int first) {
  double *out[MAX_OUTPUTS];
  for (int o = 0; o < fs->noutputs; o++) out[o] = malloc(sizeof(double) * (b->n ? b->n : 1));
  int beg = 0, nb = 0;
  TA_RetCode rc = call_func(fs->name, p, b, &beg, &nb, out);
  if (rc != TA_SUCCESS) {
    fprintf(stderr, "TA_%s failed with code %d\n", fs->name, (int)rc);
    exit(1);
  }
  printf("%s\"%s#%d\": {\"params\": {", first ? "" : ",\n", fs->name, k);
  for (int i = 0; i < fs->nparams; i++) {
    printf("%s\"%s\": ", i ? ", " : "", fs->params[i]);
    print_param(p[i]);
  }
  printf("}, \"begIdx\": %d, \"outputs\": {", beg);
  for (int o = 0; o < fs->noutputs; o++) {
    printf("%s\"%s\": [", o ? ", " : "", fs->outputs[o]);
    for (int i = 0; i < nb; i++) {
      /* JSON has no NaN; TA-Lib never emits one for finite inputs, so null would show up in the test */
      if (isfinite(out[o][i])) printf(i ? ",%.17g" : "%.17g", out[o][i]);
      else fputs(i ? ",null" : "null", stdout);
    }
    putchar(']');
    free(out[o]);
  }
  printf("}}");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s BARS.csv > golden.json\n", argv[0]);
    return 2;
  }
  read_csv(argv[1]);
  if (TA_Initialize() != TA_SUCCESS) return 1;
  Bars b = {col[0], col[1], col[2], col[3], col[4], rows};
  int first = 1;
  putchar('{');
  for (int i = 0; i < NFUNCS; i++) {
    const FuncSpec *fs = &FUNCS[i];
    emit(fs, fs->defaults, 0, &b, first);
    first = 0;
    int k = 1;
    for (int j = 0; j < NEXTRAS; j++)
      if (strcmp(EXTRAS[j].name, fs->name) == 0) emit(fs, EXTRAS[j].p, k++, &b, 0);
  }
  for (int j = 0; j < NEXTRAS; j++) {
    if (!find_func(EXTRAS[j].name)) {
      fprintf(stderr, "extra parameter set for unknown function %s\n", EXTRAS[j].name);
      return 1;
    }
  }
  puts("}");
  TA_Shutdown();
  return 0;
}
