#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pathres.h"
#include "common/util.h"

#define MAX_SYMLINKS 40 /* as the kernel's MAXSYMLINKS, see path_resolution(7) */

/* Components still to walk, kept as a stack of strings: symlink targets are
 * pushed in front of what remains. */
struct comp_queue {
    struct hr_strv items; /* in reverse: the next component is the last item */
};

static void queue_push_path(struct comp_queue *q, const char *path)
{
    /* push components right to left so the first one ends on top */
    char *copy = hr_xstrdup(path);
    struct hr_strv parts = {0};
    char *save = NULL;

    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
        hr_strv_push(&parts, c);
    for (size_t i = parts.n; i > 0; i--)
        hr_strv_push(&q->items, parts.v[i - 1]);
    hr_strv_free(&parts);
    free(copy);
}

static char *queue_pop(struct comp_queue *q)
{
    if (q->items.n == 0)
        return NULL;
    char *c = q->items.v[--q->items.n];
    q->items.v[q->items.n] = NULL;
    return c;
}

/* The walked path, as components with the index of the first missing one. */
struct walked {
    struct hr_strv comps;
    size_t first_missing; /* == comps.n while everything exists */
};

static char *walked_join(const struct walked *w, size_t upto)
{
    size_t len = 1;
    char *s, *p;

    for (size_t i = 0; i < upto; i++)
        len += strlen(w->comps.v[i]) + 1;
    s = hr_xmalloc(len + 1);
    p = s;
    *p = '\0';
    if (upto == 0) {
        strcpy(s, "/");
        return s;
    }
    for (size_t i = 0; i < upto; i++) {
        *p++ = '/';
        strcpy(p, w->comps.v[i]);
        p += strlen(p);
    }
    return s;
}

static void walked_pop(struct walked *w)
{
    if (w->comps.n == 0)
        return; /* ".." at the root stays at the root */
    free(w->comps.v[--w->comps.n]);
    w->comps.v[w->comps.n] = NULL;
    if (w->first_missing > w->comps.n)
        w->first_missing = w->comps.n;
}

int hr_resolve_in_root(const char *path, hr_lookup_fn lookup, void *ctx,
                       struct hr_resolved *out)
{
    struct comp_queue q = {0};
    struct walked w = {0};
    enum hr_node_type last = HR_NODE_DIR;
    int links = 0, rc = 0;
    char *c;

    memset(out, 0, sizeof(*out));
    if (!path || path[0] != '/')
        return -EINVAL;
    queue_push_path(&q, path);
    while ((c = queue_pop(&q))) {
        char target[4096];
        char *probe;
        int t;

        if (strcmp(c, ".") == 0) {
            free(c);
            continue;
        }
        if (strcmp(c, "..") == 0) {
            free(c);
            walked_pop(&w);
            last = w.first_missing < w.comps.n ? HR_NODE_MISSING : HR_NODE_DIR;
            continue;
        }
        if (w.first_missing < w.comps.n || last == HR_NODE_MISSING) {
            /* below a missing directory everything is missing */
            hr_strv_push_owned(&w.comps, c);
            last = HR_NODE_MISSING;
            continue;
        }
        if (last == HR_NODE_OTHER) {
            free(c);
            rc = -ENOTDIR;
            break;
        }
        hr_strv_push_owned(&w.comps, c);
        probe = walked_join(&w, w.comps.n);
        t = lookup(ctx, probe, target, sizeof(target));
        free(probe);
        if (t < 0) {
            rc = t;
            break;
        }
        if (t == HR_NODE_SYMLINK) {
            if (++links > MAX_SYMLINKS) {
                rc = -ELOOP;
                break;
            }
            walked_pop(&w);
            if (target[0] == '/') {
                while (w.comps.n)
                    walked_pop(&w);
            }
            queue_push_path(&q, target);
            last = HR_NODE_DIR;
            continue;
        }
        if (t == HR_NODE_MISSING)
            w.first_missing = w.comps.n - 1;
        last = (enum hr_node_type)t;
        if (t != HR_NODE_MISSING)
            w.first_missing = w.comps.n;
    }
    if (rc == 0) {
        out->path = walked_join(&w, w.comps.n);
        out->n_missing = w.comps.n - w.first_missing;
        out->last = w.comps.n == 0 ? HR_NODE_DIR : last;
    }
    hr_strv_free(&q.items);
    hr_strv_free(&w.comps);
    return rc;
}

int hr_lookup_host_dir(void *ctx, const char *path, char *target, size_t targetlen)
{
    char *full = hr_path_join((const char *)ctx, path);
    struct stat st;
    int rc;

    if (lstat(full, &st) < 0) {
        rc = (errno == ENOENT) ? HR_NODE_MISSING : -errno;
    } else if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(full, target, targetlen - 1);
        if (n < 0) {
            rc = -errno;
        } else {
            target[n] = '\0';
            rc = HR_NODE_SYMLINK;
        }
    } else {
        rc = S_ISDIR(st.st_mode) ? HR_NODE_DIR : HR_NODE_OTHER;
    }
    free(full);
    return rc;
}
