/* Messages: one line each, "PROGRAM: what: problem". */
#ifndef HR_LOG_H
#define HR_LOG_H

#include <stdarg.h>

enum hr_log_level {
    HR_LOG_QUIET = -1, /* errors only */
    HR_LOG_WARN = 0,   /* default: errors and warnings */
    HR_LOG_INFO = 1,   /* -v */
    HR_LOG_DEBUG = 2,  /* -vv */
};

void hr_log_init(const char *progname, int level);
int hr_log_level(void);
const char *hr_progname(void);

void hr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
