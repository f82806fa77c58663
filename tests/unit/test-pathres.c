/* Path safety: resolution inside a root, over a fake tree and a real one. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pathres.h"
#include "common/util.h"
#include "unit.h"

/* A fake image tree: path -> type (and target for links). */
struct node {
    const char *path;
    int type;
    const char *target;
};
static const struct node tree[] = {
    {"/etc", HR_NODE_DIR, NULL},
    {"/etc/passwd", HR_NODE_OTHER, NULL},
    {"/mnt", HR_NODE_DIR, NULL},
    {"/mnt/abs", HR_NODE_SYMLINK, "/etc"},
    {"/mnt/up", HR_NODE_SYMLINK, "../../../../etc"},
    {"/mnt/loop", HR_NODE_SYMLINK, "/mnt/loop"},
    {"/mnt/dangling", HR_NODE_SYMLINK, "/nonexistent/deep"},
    {"/mnt/file", HR_NODE_SYMLINK, "/etc/passwd"},
    {"/mnt/rel", HR_NODE_SYMLINK, "sub/x"},
    {"/mnt/sub", HR_NODE_DIR, NULL},
    {"/usr", HR_NODE_DIR, NULL},
    {"/usr/lib", HR_NODE_DIR, NULL},
    {"/lib", HR_NODE_SYMLINK, "usr/lib"},
};

static int fake_lookup(void *ctx, const char *path, char *target, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < HR_ARRAY_LEN(tree); i++) {
        if (strcmp(tree[i].path, path) == 0) {
            if (tree[i].target)
                snprintf(target, len, "%s", tree[i].target);
            return tree[i].type;
        }
    }
    return HR_NODE_MISSING;
}

static void expect(const char *in, const char *want, size_t missing, int want_rc)
{
    struct hr_resolved r;
    int rc = hr_resolve_in_root(in, fake_lookup, NULL, &r);
    CHECK(rc == want_rc);
    if (rc == 0 && want_rc == 0) {
        CHECK_STR(r.path, want);
        CHECK(r.n_missing == missing);
        if (r.n_missing != missing)
            printf("  %s: n_missing %zu, want %zu\n", in, r.n_missing, missing);
    }
    free(r.path);
}

static void test_fake_tree(void)
{
    expect("/", "/", 0, 0);
    expect("/etc/passwd", "/etc/passwd", 0, 0);
    expect("/mnt/abs", "/etc", 0, 0); /* absolute link stays inside */
    expect("/mnt/abs/passwd", "/etc/passwd", 0, 0);
    expect("/mnt/up", "/etc", 0, 0);         /* ".." stops at the root */
    expect("/mnt/up/x/y", "/etc/x/y", 2, 0); /* missing below a link */
    expect("/mnt/dangling", "/nonexistent/deep", 2, 0);
    expect("/mnt/rel", "/mnt/sub/x", 1, 0); /* relative to the link's dir */
    expect("/lib/x", "/usr/lib/x", 1, 0);
    expect("/../../etc", "/etc", 0, 0);
    expect("/new/a/b", "/new/a/b", 3, 0);
    expect("/new/a/../b", "/new/b", 2, 0);
    expect("/mnt/loop", NULL, 0, -ELOOP);
    expect("/etc/passwd/x", NULL, 0, -ENOTDIR);
    expect("/mnt/file/x", NULL, 0, -ENOTDIR);
    expect("relative", NULL, 0, -EINVAL);
}

/* The same over a real directory with hostile links. */
static void test_real_dir(void)
{
    char root[] = "/tmp/hr-pathres-XXXXXX";
    struct hr_resolved r;
    char *p;

    if (!mkdtemp(root)) {
        CHECK(!"mkdtemp");
        return;
    }
    p = hr_path_join(root, "etc");
    CHECK(mkdir(p, 0755) == 0);
    free(p);
    p = hr_path_join(root, "escape");
    CHECK(symlink("/etc", p) == 0); /* would be the host's /etc outside a root */
    free(p);
    CHECK(hr_resolve_in_root("/escape/shadow", hr_lookup_host_dir, root, &r) == 0);
    CHECK_STR(r.path, "/etc/shadow");
    CHECK(r.n_missing == 1); /* the root's etc has no shadow: not the host's */
    free(r.path);
    p = hr_xasprintf("rm -rf '%s'", root);
    CHECK(system(p) == 0);
    free(p);
}

static void test_path_helpers(void)
{
    CHECK(hr_path_has_dotdot(".."));
    CHECK(hr_path_has_dotdot("a/../b"));
    CHECK(hr_path_has_dotdot("/a/.."));
    CHECK(!hr_path_has_dotdot("a/..b/c..d/..."));
    char *n;
    n = hr_path_normalize("//a/./b/../c/");
    CHECK_STR(n, "/a/c");
    free(n);
    n = hr_path_normalize("/../..");
    CHECK_STR(n, "/");
    free(n);
    CHECK(hr_path_normalize("a/b") == NULL);
    CHECK(hr_path_is_under("/home/u/x", "/home/u"));
    CHECK(hr_path_is_under("/home/u", "/home/u"));
    CHECK(!hr_path_is_under("/home/uu", "/home/u"));
    CHECK(hr_path_is_under("/x", "/"));
    n = hr_path_join("/a/", "/b");
    CHECK_STR(n, "/a/b");
    free(n);
}

/* A file read whole however its length compares with the buffer's first
 * size, and cut at max. */
static void test_read_file(void)
{
    char path[] = "/tmp/hr-test-read.XXXXXX";
    int fd = mkstemp(path);
    size_t n = 200000, len = 0;
    char *data = hr_xmalloc(n), *got;

    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    CHECK(fd >= 0 && hr_write_all(fd, data, n) == 0);
    got = hr_read_file(path, 1 << 20, &len);
    CHECK(got && len == n && memcmp(got, data, n) == 0 && got[n] == '\0');
    free(got);
    got = hr_read_file(path, 70000, &len);
    CHECK(got && len == 70000 && memcmp(got, data, len) == 0 && got[len] == '\0');
    free(got);
    got = hr_read_file(path, 65536, &len);
    CHECK(got && len == 65536 && got[len] == '\0');
    free(got);
    close(fd);
    unlink(path);
    free(data);
}

int main(void)
{
    test_fake_tree();
    test_real_dir();
    test_path_helpers();
    test_read_file();
    return unit_done();
}
