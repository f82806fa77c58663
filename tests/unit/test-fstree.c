/* Layer-stack rules of hpcimg: path cleaning, whiteouts, opaque
 * directories, type changes between layers, hostile entries. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/fstree.h"
#include "unit.h"

static void check_clean(const char *raw, const char *want)
{
    char *got = hr_tar_path_clean(raw);
    if (want ? (got && strcmp(got, want) == 0) : !got) {
        unit_passed++;
    } else {
        unit_failed++;
        fprintf(stderr, "FAILED: clean(%s) = %s, want %s\n", raw, got ? got : "NULL",
                want ? want : "NULL");
    }
    free(got);
}

static enum hr_verdict put(struct hr_fstree *t, int layer, const char *path, mode_t type)
{
    struct hr_node *n;
    enum hr_verdict v = hr_fstree_place(t, layer, path, type, &n);
    if (v == HR_ADD)
        n->mode = type | (S_ISDIR(type) ? 0755 : 0644);
    return v;
}

static bool visible(struct hr_fstree *t, const char *path)
{
    struct hr_node *n = hr_fstree_lookup(t, path);
    return n && !n->is_whiteout;
}

static void test_paths(void)
{
    check_clean("./a/b/", "a/b");
    check_clean("/etc/passwd", "etc/passwd");
    check_clean("a//./b", "a/b");
    check_clean("///", "");
    check_clean(".", "");
    check_clean("./", "");
    check_clean("../x", NULL);
    check_clean("a/../b", NULL);
    check_clean("a/..", NULL);
    check_clean("a/..b", "a/..b");
    check_clean("ü/ñ", "ü/ñ");
}

static void test_whiteout_names(void)
{
    CHECK(hr_whiteout_kind("foo") == HR_WH_NONE);
    CHECK(hr_whiteout_kind(".whfoo") == HR_WH_NONE);
    CHECK(hr_whiteout_kind(".wh.foo") == HR_WH_FILE);
    CHECK(hr_whiteout_kind(".wh..wh..opq") == HR_WH_OPAQUE);
    CHECK(hr_whiteout_kind(".wh..wh.plnk") == HR_WH_META);
    CHECK(hr_whiteout_kind(".wh.") == HR_WH_BAD);
    CHECK(hr_whiteout_kind(".wh..") == HR_WH_BAD);
    CHECK(hr_whiteout_kind(".wh...") == HR_WH_BAD);
    CHECK(hr_whiteout_kind(".wh...x") == HR_WH_FILE);
}

static void test_upper_wins(void)
{
    struct hr_fstree t;
    hr_fstree_init(&t, 0);
    CHECK(put(&t, 1, "etc/hosts", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "etc/hosts", S_IFREG) == HR_SKIP_PROVIDED);
    CHECK(put(&t, 2, "etc/passwd", S_IFREG) == HR_ADD);
    /* etc was made up for etc/hosts; the first layer describing it wins. */
    CHECK(hr_fstree_lookup(&t, "etc")->is_implicit);
    CHECK(put(&t, 2, "etc", S_IFDIR) == HR_UPDATE_DIR);
    CHECK(put(&t, 3, "etc", S_IFDIR) == HR_SKIP_PROVIDED);
    CHECK(put(&t, 1, "./", S_IFDIR) == HR_UPDATE_DIR);
    CHECK(put(&t, 2, "./", S_IFDIR) == HR_SKIP_PROVIDED);
    hr_fstree_free(&t);
}

static void test_whiteouts(void)
{
    struct hr_fstree t;
    hr_fstree_init(&t, 0);
    CHECK(put(&t, 1, "a/.wh.b", S_IFREG) == HR_WHITEOUT);
    CHECK(put(&t, 2, "a/b", S_IFREG) == HR_SKIP_HIDDEN);
    CHECK(put(&t, 2, "a/b/c", S_IFREG) == HR_SKIP_HIDDEN);
    CHECK(put(&t, 2, "a/bc", S_IFREG) == HR_ADD);
    CHECK(!visible(&t, "a/b"));
    /* Whiteout and entry in the same layer: the entry stays. */
    CHECK(put(&t, 1, "x", S_IFREG) == HR_ADD);
    CHECK(put(&t, 1, ".wh.x", S_IFREG) == HR_WHITEOUT);
    CHECK(visible(&t, "x"));
    CHECK(put(&t, 2, "x", S_IFREG) == HR_SKIP_PROVIDED);
    /* A whiteout then a directory of that name in one layer: the lower
     * layers' contents are gone. */
    CHECK(put(&t, 1, ".wh.d", S_IFREG) == HR_WHITEOUT);
    CHECK(put(&t, 1, "d", S_IFDIR) == HR_ADD);
    CHECK(put(&t, 1, "d/new", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "d/old", S_IFREG) == HR_SKIP_HIDDEN);
    /* Whiteouts never name ".." or "." */
    CHECK(put(&t, 1, "a/.wh...", S_IFREG) == HR_SKIP_HOSTILE);
    CHECK(put(&t, 1, ".wh..", S_IFREG) == HR_SKIP_HOSTILE);
    CHECK(put(&t, 1, "../.wh.etc", S_IFREG) == HR_SKIP_HOSTILE);
    hr_fstree_free(&t);
}

static void test_opaque(void)
{
    struct hr_fstree t;
    hr_fstree_init(&t, 0);
    CHECK(put(&t, 1, "d", S_IFDIR) == HR_ADD);
    CHECK(put(&t, 1, "d/.wh..wh..opq", S_IFREG) == HR_OPAQUE);
    CHECK(put(&t, 1, "d/keep", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "d/gone", S_IFREG) == HR_SKIP_HIDDEN);
    CHECK(put(&t, 2, "d/sub/gone", S_IFREG) == HR_SKIP_HIDDEN);
    CHECK(put(&t, 2, "d", S_IFDIR) == HR_SKIP_PROVIDED);
    CHECK(put(&t, 2, "other", S_IFREG) == HR_ADD);
    /* An opaque marker for a directory no entry described yet. */
    CHECK(put(&t, 1, "e/.wh..wh..opq", S_IFREG) == HR_OPAQUE);
    CHECK(put(&t, 2, "e", S_IFDIR) == HR_UPDATE_DIR);
    CHECK(put(&t, 2, "e/x", S_IFREG) == HR_SKIP_HIDDEN);
    CHECK(put(&t, 1, ".wh..wh.plnk/1.2", S_IFREG) == HR_SKIP_HIDDEN);
    hr_fstree_free(&t);
}

static void test_type_changes(void)
{
    struct hr_fstree t;
    hr_fstree_init(&t, 0);
    /* Upper directory over a lower file. */
    CHECK(put(&t, 1, "p/f", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "p", S_IFREG) == HR_SKIP_PROVIDED);
    CHECK(S_ISDIR(hr_fstree_lookup(&t, "p")->mode));
    /* Upper file over a lower directory: its contents are hidden. */
    CHECK(put(&t, 1, "q", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "q", S_IFDIR) == HR_SKIP_PROVIDED);
    CHECK(put(&t, 2, "q/x", S_IFREG) == HR_SKIP_HIDDEN);
    /* Upper symlink over a lower directory. */
    CHECK(put(&t, 1, "lib", S_IFLNK) == HR_ADD);
    CHECK(put(&t, 2, "lib/libc.so", S_IFREG) == HR_SKIP_HIDDEN);
    hr_fstree_free(&t);
}

static void test_hostile(void)
{
    struct hr_fstree t;
    hr_fstree_init(&t, 0);
    CHECK(put(&t, 1, "../etc/passwd", S_IFREG) == HR_SKIP_HOSTILE);
    CHECK(put(&t, 1, "a/../../x", S_IFREG) == HR_SKIP_HOSTILE);
    CHECK(put(&t, 1, "/abs/file", S_IFREG) == HR_ADD);
    CHECK(visible(&t, "abs/file"));
    /* An entry beneath a symlink of its own layer is never followed. */
    CHECK(put(&t, 1, "esc", S_IFLNK) == HR_ADD);
    CHECK(put(&t, 1, "esc/passwd", S_IFREG) == HR_SKIP_HOSTILE);
    CHECK(put(&t, 1, "file", S_IFREG) == HR_ADD);
    CHECK(put(&t, 1, "file/x", S_IFREG) == HR_SKIP_HOSTILE);
    /* Beneath a symlink of a lower layer: the upper entry lives in a real
     * directory, the lower symlink is dropped. */
    CHECK(put(&t, 1, "up/passwd", S_IFREG) == HR_ADD);
    CHECK(put(&t, 2, "up", S_IFLNK) == HR_SKIP_PROVIDED);
    CHECK(S_ISDIR(hr_fstree_lookup(&t, "up")->mode));
    /* The root is a directory whatever a layer says. */
    CHECK(put(&t, 1, ".", S_IFLNK) == HR_SKIP_HOSTILE);
    hr_fstree_free(&t);
}

static void test_sort(void)
{
    struct hr_fstree t;
    const char *names[] = {"b", "a", "B", "ä", "a0", "_"};
    hr_fstree_init(&t, 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        put(&t, 1, names[i], S_IFREG);
    hr_fstree_sort(&t);
    CHECK(t.root->n_children == 6);
    for (size_t i = 1; i < t.root->n_children; i++)
        CHECK(strcmp(t.root->children[i - 1]->name, t.root->children[i]->name) < 0);
    hr_fstree_free(&t);
}

static void test_many(void)
{
    struct hr_fstree t;
    char p[64];
    hr_fstree_init(&t, 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(p, sizeof(p), "d%d/f%d", i % 100, i);
        if (put(&t, 1, p, S_IFREG) != HR_ADD)
            unit_failed++;
    }
    CHECK(visible(&t, "d42/f19942"));
    CHECK(t.n_nodes == 20000 + 100 + 1);
    hr_fstree_free(&t);
}

int main(void)
{
    test_paths();
    test_whiteout_names();
    test_upper_wins();
    test_whiteouts();
    test_opaque();
    test_type_changes();
    test_hostile();
    test_sort();
    test_many();
    return unit_done();
}
