/* hr-probe: a static program the integration tests run inside containers to
 * report what a process there sees. One command per call; output is plain
 * "key=value" lines so shell tests can grep it.
 *
 *   hr-probe ids            uid, gid, euid, egid, user and group names
 *   hr-probe ns             inode of each namespace of the process
 *   hr-probe caps           CapEff, CapPrm, CapBnd, NoNewPrivs
 *   hr-probe cwd            the working directory
 *   hr-probe env [NAME]     the environment, or one variable
 *   hr-probe fds            open file descriptors and what they are
 *   hr-probe mountopts PATH the options of the mount holding PATH
 *   hr-probe mounts         every mount: point and options
 *   hr-probe write PATH     try to create PATH: "write=ok" or "write=ERRNO-NAME"
 *   hr-probe getxattr PATH NAME   the value of an extended attribute
 *   hr-probe trap SECONDS   print "ready", wait for TERM/INT/HUP/USR1/USR2 and
 *                           print "caught=N", or "timeout" after SECONDS
 *   hr-probe hold SECONDS   print "pid=N addr=0x..." of a buffer holding
 *                           "hpcrun!" and the mount namespace, then wait
 *   hr-probe pvr PID ADDR   read 8 bytes at ADDR of process PID with
 *                           process_vm_readv(2): "pvr=TEXT" or "pvr=ERRNO"
 *   hr-probe resident PATH  read the page at 64 KiB of PATH, then print how
 *                           many of its first 128 KiB of pages are in the
 *                           page cache (mincore(2)) after up to 2 seconds:
 *                           "resident=N/M"
 *   hr-probe mapread PATH   map PATH and read every page of it, as a program
 *                           reads its own code: "sum=N" (a page the file
 *                           system cannot read kills it with SIGBUS)
 *   hr-probe exit N         exit with status N
 *   hr-probe kill N         die by signal N
 *   hr-probe sleep SECONDS  sleep (for lifecycle tests)
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

extern char **environ;

/* The name for an id from the container's /etc/passwd or /etc/group (field
 * 3 is the id). Parsed by hand: a static glibc's getpwuid needs NSS modules. */
static void name_for_id(const char *file, unsigned id, char *out, size_t len)
{
    FILE *f = fopen(file, "r");
    char line[1024];
    snprintf(out, len, "?");
    while (f && fgets(line, sizeof(line), f)) {
        char name[256];
        unsigned lid;
        if (sscanf(line, "%255[^:]:%*[^:]:%u:", name, &lid) == 2 && lid == id) {
            snprintf(out, len, "%s", name);
            break;
        }
    }
    if (f)
        fclose(f);
}

static int cmd_ids(void)
{
    char user[256], group[256];
    name_for_id("/etc/passwd", getuid(), user, sizeof(user));
    name_for_id("/etc/group", getgid(), group, sizeof(group));
    printf("uid=%u\ngid=%u\neuid=%u\negid=%u\n", getuid(), getgid(), geteuid(),
           getegid());
    printf("user=%s\ngroup=%s\n", user, group);
    return 0;
}

static int cmd_ns(void)
{
    const char *names[] = {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
        if (stat(path, &st) == 0)
            printf("%s=%lu\n", names[i], (unsigned long)st.st_ino);
    }
    return 0;
}

static int cmd_status_fields(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (!f)
        return 1;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7) ||
            !strncmp(line, "CapBnd:", 7) || !strncmp(line, "NoNewPrivs:", 11)) {
            char *colon = strchr(line, ':');
            *colon = '=';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                memmove(v, v + 1, strlen(v));
            fputs(line, stdout);
        }
    }
    fclose(f);
    return 0;
}

static int cmd_fds(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[PATH_MAX];
        ssize_t n;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        printf("fd%d=%s\n", fd, target);
    }
    return 0;
}

/* mountinfo(5): ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS] - TYPE SRC SUPEROPTS */
static int cmd_mounts(const char *want)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], best[4096] = "", best_opts[1024] = "";
    size_t best_len = 0;
    if (!f)
        return 1;
    while (fgets(line, sizeof(line), f)) {
        char point[PATH_MAX], opts[1024], type[128];
        char *dash = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %s %s", point, opts) != 2 || !dash ||
            sscanf(dash + 3, "%127s", type) != 1)
            continue;
        if (!want) {
            printf("%s %s %s\n", point, type, opts);
            continue;
        }
        size_t n = strlen(point);
        if (strncmp(want, point, n) == 0 &&
            (want[n] == '/' || want[n] == '\0' || strcmp(point, "/") == 0) &&
            n >= best_len) {
            best_len = n;
            snprintf(best, sizeof(best), "%s", point);
            snprintf(best_opts, sizeof(best_opts), "%s", opts);
        }
    }
    fclose(f);
    if (want)
        printf("mount=%s\nopts=%s\n", best, best_opts);
    return 0;
}

static int cmd_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("write=%s\n", strerrorname_np(errno));
        return 1;
    }
    if (write(fd, "x\n", 2) != 2) {
        printf("write=%s\n", strerrorname_np(errno));
        return 1;
    }
    close(fd);
    printf("write=ok\n");
    return 0;
}

static volatile sig_atomic_t caught;
static void on_signal(int sig)
{
    caught = sig;
}

static int cmd_trap(int seconds)
{
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
    struct sigaction sa = {.sa_handler = on_signal};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < seconds * 10 && !caught; i++)
        usleep(100000);
    if (!caught) {
        printf("timeout\n");
        return 1;
    }
    printf("caught=%d\n", (int)caught);
    return 0;
}

static char held[8] = "hpcrun!";

static int cmd_hold(int seconds)
{
    struct stat st;
    stat("/proc/self/ns/mnt", &st);
    printf("pid=%d addr=%p mnt=%lu\n", (int)getpid(), (void *)held,
           (unsigned long)st.st_ino);
    fflush(stdout);
    sleep((unsigned)seconds);
    return 0;
}

static int cmd_pvr(const char *pid, const char *addr)
{
    char buf[9] = {0};
    struct iovec local = {.iov_base = buf, .iov_len = 8};
    struct iovec remote = {.iov_base = (void *)strtoull(addr, NULL, 16), .iov_len = 8};
    if (process_vm_readv(atoi(pid), &local, 1, &remote, 1, 0) != 8) {
        printf("pvr=%s\n", strerrorname_np(errno));
        return 1;
    }
    printf("pvr=%s\n", buf);
    return 0;
}

/* Pages of the file's first SquashFS block (128 KiB) in the page cache,
 * once a page in its middle was read: the FUSE server stores the whole
 * block. The kernel's readahead never reads backwards, but a kernel that
 * caches FUSE files in large folios may read the whole block by itself. */
static int cmd_resident(const char *path)
{
    enum { SPAN = 128 << 10, PAGE = 4096, N = SPAN / PAGE };
    unsigned char vec[N];
    char page[PAGE];
    int fd = open(path, O_RDONLY), n = 0;
    void *map;

    if (fd < 0 || pread(fd, page, PAGE, SPAN / 2) != PAGE ||
        (map = mmap(NULL, SPAN, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        printf("resident=%s\n", strerrorname_np(errno));
        return 1;
    }
    for (int tries = 0; tries < 20 && n < N; tries++) { /* the store is async */
        if (tries)
            usleep(100000);
        n = 0;
        if (mincore(map, SPAN, vec) == 0)
            for (int i = 0; i < N; i++)
                n += vec[i] & 1;
    }
    printf("resident=%d/%d\n", n, N);
    return 0;
}

static int cmd_mapread(const char *path)
{
    struct stat st;
    unsigned long sum = 0;
    const volatile unsigned char *p = MAP_FAILED;
    int fd;

    errno = 0;
    fd = open(path, O_RDONLY);
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        /* (an empty file maps nothing: EINVAL, as mmap(2) would say) */
        if (!errno)
            errno = EINVAL;
        printf("mapread=%s\n", strerrorname_np(errno));
        return 1;
    }
    for (off_t i = 0; i < st.st_size; i++)
        sum += p[i];
    printf("sum=%lu\n", sum);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(cmd, "ids"))
        return cmd_ids();
    if (!strcmp(cmd, "ns"))
        return cmd_ns();
    if (!strcmp(cmd, "caps"))
        return cmd_status_fields();
    if (!strcmp(cmd, "cwd")) {
        char buf[PATH_MAX];
        if (!getcwd(buf, sizeof(buf)))
            return 1;
        printf("cwd=%s\n", buf);
        return 0;
    }
    if (!strcmp(cmd, "env")) {
        if (arg) {
            const char *v = getenv(arg);
            printf("%s=%s\n", arg, v ? v : "(unset)");
            return v ? 0 : 1;
        }
        for (char **e = environ; *e; e++)
            puts(*e);
        return 0;
    }
    if (!strcmp(cmd, "fds"))
        return cmd_fds();
    if (!strcmp(cmd, "mountopts") && arg)
        return cmd_mounts(arg);
    if (!strcmp(cmd, "mounts"))
        return cmd_mounts(NULL);
    if (!strcmp(cmd, "write") && arg)
        return cmd_write(arg);
    if (!strcmp(cmd, "getxattr") && arg && argc > 3) {
        char value[256];
        ssize_t n = getxattr(arg, argv[3], value, sizeof(value) - 1);
        if (n < 0) {
            printf("xattr=%s\n", strerrorname_np(errno));
            return 1;
        }
        value[n] = '\0';
        printf("xattr=%s\n", value);
        return 0;
    }
    if (!strcmp(cmd, "trap"))
        return cmd_trap(arg ? atoi(arg) : 10);
    if (!strcmp(cmd, "hold"))
        return cmd_hold(arg ? atoi(arg) : 2);
    if (!strcmp(cmd, "pvr") && arg && argc > 3)
        return cmd_pvr(arg, argv[3]);
    if (!strcmp(cmd, "resident") && arg)
        return cmd_resident(arg);
    if (!strcmp(cmd, "mapread") && arg)
        return cmd_mapread(arg);
    if (!strcmp(cmd, "exit"))
        return arg ? atoi(arg) : 0;
    if (!strcmp(cmd, "kill")) {
        int sig = arg ? atoi(arg) : SIGKILL;
        signal(sig, SIG_DFL);
        raise(sig);
        return 1;
    }
    if (!strcmp(cmd, "sleep")) {
        sleep(arg ? (unsigned)atoi(arg) : 1);
        return 0;
    }
    fprintf(stderr, "hr-probe: unknown command '%s' (see the comment in hr-probe.c)\n",
            cmd);
    return 2;
}
