/*
 * jp_log.c - the log line writer (see jp_log.h). Formats into one buffer and writes it
 * with a single write(2) so lines from several processes do not interleave.
 */
#include "jp_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jp_time.h"

enum jp_log_level jp_log_threshold = JP_LOG_INFO;

void jp_log_set_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0)
            jp_log_threshold = (enum jp_log_level)i;
}

void jp_log_write(enum jp_log_level lvl, const char *module, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[2048], ts[JP_TIME_LEN];
    va_list ap;
    jp_time_format(jp_time_now_us(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s %s ", ts, names[lvl], module);
    if (n < 0)
        return;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}
