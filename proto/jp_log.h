/*
 * jp_log.h - one log line per event on stderr: time, level, module, message, then
 * key=value context ("kernel_id=..."). The level is checked before any argument is
 * formatted. Secrets are never passed here.
 */
#ifndef JP_LOG_H
#define JP_LOG_H

enum jp_log_level { JP_LOG_DEBUG, JP_LOG_INFO, JP_LOG_WARN, JP_LOG_ERROR };

extern enum jp_log_level jp_log_threshold;

/* Set the threshold from a name ("debug", "info", "warn", "error"); unknown names keep it. */
void jp_log_set_level(const char *name);
void jp_log_write(enum jp_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define jp_log(lvl, module, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) >= jp_log_threshold)                                                             \
            jp_log_write((lvl), (module), __VA_ARGS__);                                            \
    } while (0)

#endif
