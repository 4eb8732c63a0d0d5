/*
 * The TA-Lib functions mercury is checked against, shared by golden.c and bench.c.
 *
 * Names follow mercury's conventions (src/lib/signals/types.ts): parameters are TA-Lib's optIn names without
 * `optIn`, first letter lower-cased; outputs are TA-Lib's out names in lower camel case, and a single output
 * is named like the indicator (lower-case TA name). MA-type parameters stay at TA-Lib's default (SMA), so
 * they are not listed.
 */
#ifndef MERCURY_TALIB_FUNCS_H
#define MERCURY_TALIB_FUNCS_H

#include <string.h>
#include "ta_libc.h"

#define MAX_PARAMS 4
#define MAX_OUTPUTS 3

typedef struct {
  const double *open, *high, *low, *close, *volume;
  int n;
} Bars;

typedef struct {
  const char *name;
  int nparams;
  const char *params[MAX_PARAMS];
  double defaults[MAX_PARAMS];
  int noutputs;
  const char *outputs[MAX_OUTPUTS];
} FuncSpec;

static const FuncSpec FUNCS[] = {
  {"SMA", 1, {"timePeriod"}, {30}, 1, {"sma"}},
  {"EMA", 1, {"timePeriod"}, {30}, 1, {"ema"}},
  {"WMA", 1, {"timePeriod"}, {30}, 1, {"wma"}},
  {"DEMA", 1, {"timePeriod"}, {30}, 1, {"dema"}},
  {"TEMA", 1, {"timePeriod"}, {30}, 1, {"tema"}},
  {"TRIMA", 1, {"timePeriod"}, {30}, 1, {"trima"}},
  {"KAMA", 1, {"timePeriod"}, {30}, 1, {"kama"}},
  {"T3", 2, {"timePeriod", "vFactor"}, {5, 0.7}, 1, {"t3"}},
  {"SAR", 2, {"acceleration", "maximum"}, {0.02, 0.2}, 1, {"sar"}},
  {"ADX", 1, {"timePeriod"}, {14}, 1, {"adx"}},
  {"ADXR", 1, {"timePeriod"}, {14}, 1, {"adxr"}},
  {"PLUS_DI", 1, {"timePeriod"}, {14}, 1, {"plus_di"}},
  {"MINUS_DI", 1, {"timePeriod"}, {14}, 1, {"minus_di"}},
  {"DX", 1, {"timePeriod"}, {14}, 1, {"dx"}},
  {"AROON", 1, {"timePeriod"}, {14}, 2, {"aroonDown", "aroonUp"}},
  {"AROONOSC", 1, {"timePeriod"}, {14}, 1, {"aroonosc"}},
  {"LINEARREG", 1, {"timePeriod"}, {14}, 1, {"linearreg"}},
  {"LINEARREG_SLOPE", 1, {"timePeriod"}, {14}, 1, {"linearreg_slope"}},
  {"RSI", 1, {"timePeriod"}, {14}, 1, {"rsi"}},
  {"MACD", 3, {"fastPeriod", "slowPeriod", "signalPeriod"}, {12, 26, 9}, 3, {"macd", "macdSignal", "macdHist"}},
  {"STOCH", 3, {"fastKPeriod", "slowKPeriod", "slowDPeriod"}, {5, 3, 3}, 2, {"slowK", "slowD"}},
  {"STOCHF", 2, {"fastKPeriod", "fastDPeriod"}, {5, 3}, 2, {"fastK", "fastD"}},
  {"STOCHRSI", 3, {"timePeriod", "fastKPeriod", "fastDPeriod"}, {14, 5, 3}, 2, {"fastK", "fastD"}},
  {"CCI", 1, {"timePeriod"}, {14}, 1, {"cci"}},
  {"ROC", 1, {"timePeriod"}, {10}, 1, {"roc"}},
  {"ROCP", 1, {"timePeriod"}, {10}, 1, {"rocp"}},
  {"WILLR", 1, {"timePeriod"}, {14}, 1, {"willr"}},
  {"PPO", 2, {"fastPeriod", "slowPeriod"}, {12, 26}, 1, {"ppo"}},
  {"APO", 2, {"fastPeriod", "slowPeriod"}, {12, 26}, 1, {"apo"}},
  {"TRIX", 1, {"timePeriod"}, {30}, 1, {"trix"}},
  {"CMO", 1, {"timePeriod"}, {14}, 1, {"cmo"}},
  {"MFI", 1, {"timePeriod"}, {14}, 1, {"mfi"}},
  {"MOM", 1, {"timePeriod"}, {10}, 1, {"mom"}},
  {"ULTOSC", 3, {"timePeriod1", "timePeriod2", "timePeriod3"}, {7, 14, 28}, 1, {"ultosc"}},
  {"BOP", 0, {0}, {0}, 1, {"bop"}},
  {"ATR", 1, {"timePeriod"}, {14}, 1, {"atr"}},
  {"NATR", 1, {"timePeriod"}, {14}, 1, {"natr"}},
  {"TRANGE", 0, {0}, {0}, 1, {"trange"}},
  {"BBANDS", 3, {"timePeriod", "nbDevUp", "nbDevDn"}, {5, 2, 2}, 3, {"upperBand", "middleBand", "lowerBand"}},
  {"STDDEV", 2, {"timePeriod", "nbDev"}, {5, 1}, 1, {"stddev"}},
  {"VAR", 2, {"timePeriod", "nbDev"}, {5, 1}, 1, {"var"}},
  {"OBV", 0, {0}, {0}, 1, {"obv"}},
  {"AD", 0, {0}, {0}, 1, {"ad"}},
  {"ADOSC", 2, {"fastPeriod", "slowPeriod"}, {3, 10}, 1, {"adosc"}},
};

#define NFUNCS ((int)(sizeof(FUNCS) / sizeof(FUNCS[0])))

static inline const FuncSpec *find_func(const char *name) {
  for (int i = 0; i < NFUNCS; i++)
    if (strcmp(FUNCS[i].name, name) == 0) return &FUNCS[i];
  return 0;
}

/* Calls TA-Lib's double-precision function directly over rows 0..n-1; `out` holds noutputs arrays of n */
static inline TA_RetCode call_func(const char *f, const double *p, const Bars *b, int *beg, int *nb, double **out) {
  const int e = b->n - 1;
  const double *o = b->open, *h = b->high, *l = b->low, *c = b->close, *v = b->volume;
  const int i0 = (int)p[0], i1 = (int)p[1], i2 = (int)p[2];
#define IS(name) (strcmp(f, name) == 0)
  if (IS("SMA")) return TA_SMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("EMA")) return TA_EMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("WMA")) return TA_WMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("DEMA")) return TA_DEMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("TEMA")) return TA_TEMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("TRIMA")) return TA_TRIMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("KAMA")) return TA_KAMA(0, e, c, i0, beg, nb, out[0]);
  if (IS("T3")) return TA_T3(0, e, c, i0, p[1], beg, nb, out[0]);
  if (IS("SAR")) return TA_SAR(0, e, h, l, p[0], p[1], beg, nb, out[0]);
  if (IS("ADX")) return TA_ADX(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("ADXR")) return TA_ADXR(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("PLUS_DI")) return TA_PLUS_DI(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("MINUS_DI")) return TA_MINUS_DI(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("DX")) return TA_DX(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("AROON")) return TA_AROON(0, e, h, l, i0, beg, nb, out[0], out[1]);
  if (IS("AROONOSC")) return TA_AROONOSC(0, e, h, l, i0, beg, nb, out[0]);
  if (IS("LINEARREG")) return TA_LINEARREG(0, e, c, i0, beg, nb, out[0]);
  if (IS("LINEARREG_SLOPE")) return TA_LINEARREG_SLOPE(0, e, c, i0, beg, nb, out[0]);
  if (IS("RSI")) return TA_RSI(0, e, c, i0, beg, nb, out[0]);
  if (IS("MACD")) return TA_MACD(0, e, c, i0, i1, i2, beg, nb, out[0], out[1], out[2]);
  if (IS("STOCH")) return TA_STOCH(0, e, h, l, c, i0, i1, TA_MAType_SMA, i2, TA_MAType_SMA, beg, nb, out[0], out[1]);
  if (IS("STOCHF")) return TA_STOCHF(0, e, h, l, c, i0, i1, TA_MAType_SMA, beg, nb, out[0], out[1]);
  if (IS("STOCHRSI")) return TA_STOCHRSI(0, e, c, i0, i1, i2, TA_MAType_SMA, beg, nb, out[0], out[1]);
  if (IS("CCI")) return TA_CCI(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("ROC")) return TA_ROC(0, e, c, i0, beg, nb, out[0]);
  if (IS("ROCP")) return TA_ROCP(0, e, c, i0, beg, nb, out[0]);
  if (IS("WILLR")) return TA_WILLR(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("PPO")) return TA_PPO(0, e, c, i0, i1, TA_MAType_SMA, beg, nb, out[0]);
  if (IS("APO")) return TA_APO(0, e, c, i0, i1, TA_MAType_SMA, beg, nb, out[0]);
  if (IS("TRIX")) return TA_TRIX(0, e, c, i0, beg, nb, out[0]);
  if (IS("CMO")) return TA_CMO(0, e, c, i0, beg, nb, out[0]);
  if (IS("MFI")) return TA_MFI(0, e, h, l, c, v, i0, beg, nb, out[0]);
  if (IS("MOM")) return TA_MOM(0, e, c, i0, beg, nb, out[0]);
  if (IS("ULTOSC")) return TA_ULTOSC(0, e, h, l, c, i0, i1, i2, beg, nb, out[0]);
  if (IS("BOP")) return TA_BOP(0, e, o, h, l, c, beg, nb, out[0]);
  if (IS("ATR")) return TA_ATR(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("NATR")) return TA_NATR(0, e, h, l, c, i0, beg, nb, out[0]);
  if (IS("TRANGE")) return TA_TRANGE(0, e, h, l, c, beg, nb, out[0]);
  if (IS("BBANDS")) return TA_BBANDS(0, e, c, i0, p[1], p[2], TA_MAType_SMA, beg, nb, out[0], out[1], out[2]);
  if (IS("STDDEV")) return TA_STDDEV(0, e, c, i0, p[1], beg, nb, out[0]);
  if (IS("VAR")) return TA_VAR(0, e, c, i0, p[1], beg, nb, out[0]);
  if (IS("OBV")) return TA_OBV(0, e, c, v, beg, nb, out[0]);
  if (IS("AD")) return TA_AD(0, e, h, l, c, v, beg, nb, out[0]);
  if (IS("ADOSC")) return TA_ADOSC(0, e, h, l, c, v, i0, i1, beg, nb, out[0]);
#undef IS
  return TA_FUNC_NOT_FOUND;
}

#endif
