/*
 * report.h - how the format room (and everything above it) reports a
 * failure: one line, "mobilesam: <file>: <message>" or
 * "mobilesam <cmd>: <message>", on stderr, control characters shown as '?'.
 *
 * A server cannot print a client's error on its own stderr: it captures
 * instead. Between report_capture_begin() and report_capture_end() the
 * first message of the calling thread (without the "mobilesam: <file>: "
 * prefix) goes into the caller's buffer and nothing is printed. Other
 * threads are not affected.
 */
#ifndef MOBILESAM_FORMAT_REPORT_H
#define MOBILESAM_FORMAT_REPORT_H

#include <stdarg.h>
#include <stddef.h>

/* "<lead><name>: <message>" (name NULL: "<lead><message>"). */
void report_vline(const char *lead, const char *name, const char *fmt,
                  va_list ap);

/* "mobilesam: <file>: <message>". */
void report_file_error(const char *file, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "mobilesam <cmd>: <message>". */
void report_cmd_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Called before each printed line (NULL: none), so that a progress line on
 * a terminal can be cleared first. */
void report_set_hook(void (*hook)(void));

/* Starts capturing this thread's first message into buf[0..size) (set to
 * "" now). */
void report_capture_begin(char *buf, size_t size);
/* Stops capturing; returns 1 when a message was captured. */
int report_capture_end(void);

#endif
