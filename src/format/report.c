/*
 * report.c - see report.h. Every user-facing error line of the tool goes
 * through report_vline(), so each is exactly one line whatever a file name
 * contains.
 */
#include "format/report.h"

#include <limits.h>
#include <stdio.h>

static void (*error_hook)(void);

static _Thread_local char *capture_buf;
static _Thread_local size_t capture_size;
static _Thread_local int captured;

void report_set_hook(void (*hook)(void))
{
    error_hook = hook;
}

void report_capture_begin(char *buf, size_t size)
{
    capture_buf = buf;
    capture_size = size;
    captured = 0;
    if (buf && size)
        buf[0] = 0;
}

int report_capture_end(void)
{
    int was = captured;
    capture_buf = NULL;
    capture_size = 0;
    captured = 0;
    return was;
}

static void sanitize(char *s, int keep_del)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (!keep_del && *s == 0x7f))
            *s = '?';
}

void report_vline(const char *lead, const char *name, const char *fmt,
                  va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    sanitize(msg, 0);
    if (capture_buf) {
        if (!captured && capture_size) {
            snprintf(capture_buf, capture_size, "%s", msg);
            captured = 1;
        }
        return;
    }
    char prefix[PATH_MAX + 32];
    if (name) {
        snprintf(prefix, sizeof prefix, "%s%s: ", lead, name);
        sanitize(prefix, 1);
    } else {
        snprintf(prefix, sizeof prefix, "%s", lead);
    }
    if (error_hook)
        error_hook();
    fprintf(stderr, "%s%s\n", prefix, msg);
}

void report_file_error(const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vline("mobilesam: ", file, fmt, ap);
    va_end(ap);
}

void report_cmd_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vline("mobilesam ", cmd, fmt, ap);
    va_end(ap);
}
