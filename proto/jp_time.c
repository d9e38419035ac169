/*
 * jp_time.c - wall-clock and monotonic time, and ISO 8601 timestamps for header.date
 * (messaging spec 5.1+: "date" is mandatory, ISO 8601; jupyter_client writes UTC with six
 * fraction digits and "Z").
 *
 * Formatting and parsing use proleptic Gregorian day arithmetic, not the C library's time
 * zone machinery, so they never depend on TZ or locale. Does not parse dates without a time,
 * week dates, or leap seconds. Called by jp_msg.c for new headers and by the server for
 * model timestamps (last_activity).
 */
#include "jp_time.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "jp_err.h"

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

int64_t jp_time_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t jp_time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm, valid for all int64 years we
 * accept here). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

static void put_digits(char *p, int n, unsigned v)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int jp_time_format(int64_t us, char *out, size_t outlen)
{
    int64_t secs, frac, days, rem, year;
    unsigned mon, day;
    int rc;

    if (!out || outlen < JP_TIME_LEN) {
        rc = JP_EINVAL;
        goto out;
    }
    /* floor division, so times before 1970 get a positive fraction */
    secs = us / US_PER_SEC;
    frac = us % US_PER_SEC;
    if (frac < 0) {
        frac += US_PER_SEC;
        secs--;
    }
    days = secs / SEC_PER_DAY;
    rem = secs % SEC_PER_DAY;
    if (rem < 0) {
        rem += SEC_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &mon, &day);
    if (year < 0 || year > 9999) {
        rc = JP_EINVAL;
        goto out;
    }
    /* by hand, not snprintf: this is on the hot path of GET /api/kernels */
    put_digits(out, 4, (unsigned)year);
    out[4] = '-';
    put_digits(out + 5, 2, mon);
    out[7] = '-';
    put_digits(out + 8, 2, day);
    out[10] = 'T';
    put_digits(out + 11, 2, (unsigned)(rem / 3600));
    out[13] = ':';
    put_digits(out + 14, 2, (unsigned)(rem / 60 % 60));
    out[16] = ':';
    put_digits(out + 17, 2, (unsigned)(rem % 60));
    out[19] = '.';
    put_digits(out + 20, 6, (unsigned)frac);
    out[26] = 'Z';
    out[27] = '\0';
    rc = 0;
out:
    return rc;
}

/* Read exactly n decimal digits. */
static int digits(const char **p, int n, unsigned *val)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *val = v;
    return 0;
}

int jp_time_parse(const char *s, int64_t *us)
{
    const char *p = s;
    unsigned year, mon, day, hh, mm, ss, oh, om, d;
    int64_t frac_us = 0, off_s = 0, scale = 100000, t;
    int ndig = 0, sign;

    if (!s || !us)
        return JP_EINVAL;
    if (digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) || *p++ != '-' ||
        digits(&p, 2, &day))
        return JP_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return JP_EINVAL;
    p++;
    if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mm) || *p++ != ':' ||
        digits(&p, 2, &ss))
        return JP_EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hh > 23 || mm > 59 ||
        ss > 59)
        return JP_EINVAL;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++ndig > 9)
                return JP_EINVAL;
            /* digits past the sixth are below a microsecond: truncated */
            frac_us += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
        if (ndig == 0)
            return JP_EINVAL;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh))
            return JP_EINVAL;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) || oh > 23 || om > 59)
            return JP_EINVAL;
        off_s = sign * (int64_t)(oh * 3600 + om * 60);
    }
    if (*p != '\0')
        return JP_EINVAL;
    d = hh * 3600 + mm * 60 + ss;
    t = days_from_civil(year, mon, day) * SEC_PER_DAY + d - off_s;
    *us = t * US_PER_SEC + frac_us;
    return 0;
}
