/*
 * jp_log.h - one log line per event on stderr: time, level, module, message, then
 * key=value context ("kernel_id=..."). The level is checked before any argument is
 * formatted. Secrets are never passed here. Optionally (jp_log_set_format("json")) each line
 * is one JSON object instead, for log collectors.
 */
#ifndef JP_LOG_H
#define JP_LOG_H

#include <stddef.h>

enum jp_log_level { JP_LOG_DEBUG, JP_LOG_INFO, JP_LOG_WARN, JP_LOG_ERROR };

extern enum jp_log_level jp_log_threshold;

/* Set the threshold from a name ("debug", "info", "warn", "error"); unknown names keep it. */
void jp_log_set_level(const char *name);
/* Set the line format from a name: "text" (the default: "<time> <LEVEL> <module> <message>")
 * or "json"; NULL and unknown names keep it. The programs pass getenv("CNOTE_LOG_FORMAT"). */
void jp_log_set_format(const char *name);
void jp_log_write(enum jp_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The size of a buffer that always holds a whole JSON line (jp_log_write formats at most
 * JP_LOG_MSG_MAX - 1 bytes of message). */
#define JP_LOG_MSG_MAX 2048
#define JP_LOG_JSON_MAX 16384

/*
 * The JSON form of one line, as jp_log_write writes it in the "json" format:
 * {"time":..., "level":"info", "component":<module>, "message":..., <fields>...} and '\n'.
 * The message is split in the house style "words key=value key=\"quoted value\"": each
 * key=value (key [A-Za-z_][A-Za-z0-9_.-]*) becomes a field, the words that are not one form
 * "message". A quoted value runs to the first '"' followed by a space or the end (the rest of
 * the line when there is none); an unquoted one to the next space. Unquoted values that are
 * integers of at most 15 digits without leading zeros become JSON numbers; every other value
 * is a string. A key that repeats an earlier one or is time/level/component/message stays in
 * the message text. Strings are escaped as JSON (control characters as \u00XX, each invalid
 * UTF-8 byte as \ufffd). Writes a NUL-terminated line into out (size >= JP_LOG_JSON_MAX is
 * always enough for a message shorter than JP_LOG_MSG_MAX and a module under 64 bytes; with
 * less room the line is cut short) and returns its length.
 */
size_t jp_log_json_line(char *out, size_t size, const char *time, enum jp_log_level lvl,
                        const char *module, const char *msg);

#define jp_log(lvl, module, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) >= jp_log_threshold)                                                             \
            jp_log_write((lvl), (module), __VA_ARGS__);                                            \
    } while (0)

#endif
