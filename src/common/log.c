/* Logging: every message is one line on stderr prefixed with the program
 * name. Errors are always printed; -q hides warnings, -v/-vv add detail. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *log_progname = "hpcrun";
static int log_level_current = HR_LOG_WARN;

void hr_log_init(const char *progname, int level)
{
    log_progname = progname;
    log_level_current = level;
}

int hr_log_level(void)
{
    return log_level_current;
}

const char *hr_progname(void)
{
    return log_progname;
}

static void log_emit(int level, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void log_emit(int level, const char *prefix, const char *fmt, va_list ap)
{
    char line[4096];
    int saved = errno;

    if (level > log_level_current)
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    /* One write per message so lines from concurrent ranks do not interleave. */
    fprintf(stderr, "%s: %s%s\n", log_progname, prefix, line);
    errno = saved;
}

void hr_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(HR_LOG_QUIET, "", fmt, ap);
    va_end(ap);
}

void hr_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(HR_LOG_WARN, "warning: ", fmt, ap);
    va_end(ap);
}

void hr_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(HR_LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void hr_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(HR_LOG_DEBUG, "debug: ", fmt, ap);
    va_end(ap);
}
