/* The in-memory image tree and the layer-stack rules (see fstree.h). */
#include "autoconfig.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/fstree.h"
#include "common/util.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

const char *hr_verdict_name(enum hr_verdict v)
{
    switch (v) {
    case HR_ADD:
        return "add";
    case HR_UPDATE_DIR:
        return "update-dir";
    case HR_SKIP_PROVIDED:
        return "provided";
    case HR_SKIP_HIDDEN:
        return "hidden";
    case HR_SKIP_HOSTILE:
        return "hostile";
    case HR_WHITEOUT:
        return "whiteout";
    case HR_OPAQUE:
        return "opaque";
    }
    return "?";
}

char *hr_tar_path_clean(const char *raw)
{
    hr_autofree char *abs = NULL;
    char *clean;

    /* tar(1) refuses these too; dropping ".." lexically would put the entry
     * somewhere its author did not name. */
    if (hr_path_has_dotdot(raw))
        return NULL;
    abs = hr_xasprintf("/%s", raw);
    clean = hr_path_normalize(abs);
    memmove(clean, clean + 1, strlen(clean)); /* relative to the image's root */
    return clean;
}

enum hr_whiteout_kind hr_whiteout_kind(const char *name)
{
    const char *target;

    if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) != 0)
        return HR_WH_NONE;
    if (strcmp(name, WH_OPAQUE) == 0)
        return HR_WH_OPAQUE;
    if (strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
        return HR_WH_META;
    target = name + strlen(WH_PREFIX);
    if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
        return HR_WH_BAD;
    return HR_WH_FILE;
}

/* ---- the path hash ---------------------------------------------------------- */

static size_t path_hash(const char *s)
{
    return (size_t)hr_hash_str(HR_HASH_INIT, s);
}

static void hash_insert(struct hr_fstree *t, struct hr_node *n);

static void hash_grow(struct hr_fstree *t)
{
    struct hr_node **old = t->slots;
    size_t n_old = t->n_slots;

    t->n_slots = n_old ? n_old * 2 : 1024;
    t->slots = hr_xmalloc(t->n_slots * sizeof(*t->slots));
    memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
    t->n_nodes = 0;
    for (size_t i = 0; i < n_old; i++)
        if (old[i])
            hash_insert(t, old[i]);
    free(old);
}

static void hash_insert(struct hr_fstree *t, struct hr_node *n)
{
    size_t i;

    if ((t->n_nodes + 1) * 4 > t->n_slots * 3)
        hash_grow(t);
    i = path_hash(n->path) & (t->n_slots - 1);
    while (t->slots[i])
        i = (i + 1) & (t->n_slots - 1);
    t->slots[i] = n;
    t->n_nodes++;
}

struct hr_node *hr_fstree_lookup(const struct hr_fstree *t, const char *path)
{
    size_t i;

    if (!t->n_slots)
        return NULL;
    i = path_hash(path) & (t->n_slots - 1);
    while (t->slots[i]) {
        if (strcmp(t->slots[i]->path, path) == 0)
            return t->slots[i];
        i = (i + 1) & (t->n_slots - 1);
    }
    return NULL;
}

/* ---- nodes ----------------------------------------------------------------- */

/* A node for clean path path (its whole text: create_path cuts the path at a
 * component with a NUL before it makes a parent), under parent. */
static struct hr_node *node_new(struct hr_fstree *t, struct hr_node *parent,
                                const char *path, int layer, uint32_t mode)
{
    struct hr_node *n = hr_xmalloc(sizeof(*n));
    const char *slash;

    memset(n, 0, sizeof(*n));
    n->path = hr_xstrdup(path);
    slash = strrchr(n->path, '/');
    n->name = slash ? slash + 1 : n->path;
    n->parent = parent;
    n->mode = mode;
    n->mtime = t->default_mtime;
    n->xattr_idx = HR_NO_XATTR;
    n->layer = layer;
    n->opaque_layer = INT_MAX;
    n->nlink = 1;
    if (parent) {
        if (parent->n_children == parent->cap_children) {
            parent->cap_children = parent->cap_children ? parent->cap_children * 2 : 4;
            parent->children = hr_xrealloc(
                parent->children, parent->cap_children * sizeof(*parent->children));
        }
        parent->children[parent->n_children++] = n;
    }
    hash_insert(t, n);
    return n;
}

void hr_fstree_init(struct hr_fstree *t, uint32_t default_mtime)
{
    memset(t, 0, sizeof(*t));
    t->default_mtime = default_mtime;
    t->root = node_new(t, NULL, "", INT_MAX, S_IFDIR | 0755);
    t->root->is_implicit = true;
}

static void node_free(struct hr_node *n)
{
    for (size_t i = 0; i < n->n_children; i++)
        node_free(n->children[i]);
    free(n->children);
    free(n->inode);
    free(n->target);
    free(n->path);
    free(n);
}

void hr_fstree_free(struct hr_fstree *t)
{
    if (t->root)
        node_free(t->root);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* Make a whiteout marker of this layer into an (implicit) directory that
 * hides everything lower layers have below it: a layer that removes a path
 * and then creates entries under it replaces the whole directory. */
static void whiteout_to_dir(struct hr_node *n, int layer)
{
    n->is_whiteout = false;
    n->is_implicit = true;
    n->mode = S_IFDIR | 0755;
    n->opaque_layer = layer;
}

/* Check the ancestors of clean path p (not p itself) for an entry of layer.
 * Returns HR_ADD if the entry may go below them, or why not. */
static enum hr_verdict check_ancestors(struct hr_fstree *t, int layer, char *p)
{
    struct hr_node *n = t->root;

    if (n->opaque_layer < layer)
        return HR_SKIP_HIDDEN;
    for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        n = hr_fstree_lookup(t, p);
        *s = '/';
        if (!n)
            return HR_ADD; /* nothing deeper can exist either */
        if (n->is_whiteout) {
            if (n->layer < layer)
                return HR_SKIP_HIDDEN;
            whiteout_to_dir(n, layer);
        }
        if (!S_ISDIR(n->mode))
            /* An upper layer replaced the directory with a non-directory; in
             * the same layer this is an entry beneath a symlink or a file,
             * which extraction would follow: never followed here. */
            return n->layer < layer ? HR_SKIP_HIDDEN : HR_SKIP_HOSTILE;
        if (n->opaque_layer < layer)
            return HR_SKIP_HIDDEN;
    }
    return HR_ADD;
}

/* Create clean path p and its missing parents; parents are implicit
 * directories of this layer. Once one is missing, so are those below it. */
static struct hr_node *create_path(struct hr_fstree *t, int layer, char *p, uint32_t mode)
{
    struct hr_node *parent = t->root, *d = parent;

    for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (d)
            d = hr_fstree_lookup(t, p);
        if (!d) {
            parent = node_new(t, parent, p, layer, S_IFDIR | 0755);
            parent->is_implicit = true;
        } else {
            parent = d;
        }
        *s = '/';
    }
    return node_new(t, parent, p, layer, mode);
}

static enum hr_verdict place_whiteout(struct hr_fstree *t, int layer, char *p, char *base,
                                      enum hr_whiteout_kind kind)
{
    struct hr_node *n;
    enum hr_verdict v;

    if (kind == HR_WH_OPAQUE) {
        /* p is DIR/.wh..wh..opq: make DIR opaque for lower layers. */
        if (base == p) {
            n = t->root;
        } else {
            base[-1] = '\0';
            v = check_ancestors(t, layer, p);
            if (v != HR_ADD)
                return v;
            n = hr_fstree_lookup(t, p);
            if (!n) {
                n = create_path(t, layer, p, S_IFDIR | 0755);
                n->is_implicit = true;
            } else if (n->is_whiteout) {
                if (n->layer < layer)
                    return HR_SKIP_HIDDEN;
                whiteout_to_dir(n, layer);
            } else if (!S_ISDIR(n->mode)) {
                return n->layer < layer ? HR_SKIP_HIDDEN : HR_SKIP_HOSTILE;
            }
        }
        if (n->opaque_layer > layer)
            n->opaque_layer = layer;
        return HR_OPAQUE;
    }
    /* p is DIR/.wh.NAME: drop the prefix to get DIR/NAME. */
    memmove(base, base + strlen(WH_PREFIX), strlen(base + strlen(WH_PREFIX)) + 1);
    v = check_ancestors(t, layer, p);
    if (v != HR_ADD)
        return v;
    n = hr_fstree_lookup(t, p);
    if (n) {
        /* Already provided by an upper layer, or earlier in this one: the
         * whiteout only removes what lower layers have. */
        if (S_ISDIR(n->mode) && !n->is_whiteout && n->opaque_layer > layer)
            n->opaque_layer = layer;
        return HR_WHITEOUT;
    }
    n = create_path(t, layer, p, 0);
    n->is_whiteout = true;
    return HR_WHITEOUT;
}

enum hr_verdict hr_fstree_place(struct hr_fstree *t, int layer, const char *raw,
                                uint32_t type, struct hr_node **out)
{
    hr_autofree char *p = hr_tar_path_clean(raw);
    struct hr_node *n;
    enum hr_whiteout_kind kind;
    enum hr_verdict v;
    char *base;

    *out = NULL;
    if (!p)
        return HR_SKIP_HOSTILE;
    base = strrchr(p, '/');
    base = base ? base + 1 : p;
    kind = hr_whiteout_kind(base);
    if (kind == HR_WH_BAD)
        return HR_SKIP_HOSTILE;
    if (kind == HR_WH_META ||
        (base != p && (strncmp(p, WH_META_PREFIX, 8) == 0 ||
                       memmem(p, (size_t)(base - p), "/" WH_META_PREFIX, 9))))
        return HR_SKIP_HIDDEN; /* aufs bookkeeping (.wh..wh.plnk/...) */
    if (kind != HR_WH_NONE)
        return place_whiteout(t, layer, p, base, kind);

    if (!*p) {
        /* The root: only its metadata can come from a layer. */
        if (!S_ISDIR(type))
            return HR_SKIP_HOSTILE;
        if (!t->root->is_implicit && t->root->layer < layer)
            return HR_SKIP_PROVIDED;
        t->root->is_implicit = false;
        t->root->layer = layer;
        *out = t->root;
        return HR_UPDATE_DIR;
    }
    v = check_ancestors(t, layer, p);
    if (v != HR_ADD)
        return v;
    n = hr_fstree_lookup(t, p);
    if (!n) {
        *out = create_path(t, layer, p, type);
        return HR_ADD;
    }
    if (n->is_whiteout) {
        if (n->layer < layer)
            return HR_SKIP_HIDDEN;
        /* Whiteout and entry in one layer: the entry replaces what lower
         * layers had, a directory without their contents. */
        n->is_whiteout = false;
        n->mode = type;
        if (S_ISDIR(type))
            n->opaque_layer = layer;
        *out = n;
        return HR_ADD;
    }
    if (S_ISDIR(n->mode) && S_ISDIR(type) && (n->is_implicit || n->layer == layer)) {
        /* A directory made up for an upper layer's entries takes its metadata
         * from the first layer that describes it; within one layer the last
         * entry wins, as in extraction. */
        n->is_implicit = false;
        *out = n;
        return HR_UPDATE_DIR;
    }
    return HR_SKIP_PROVIDED;
}

/* ---- sorting ---------------------------------------------------------------- */

static int cmp_nodes(const void *a, const void *b)
{
    const struct hr_node *x = *(struct hr_node *const *)a;
    const struct hr_node *y = *(struct hr_node *const *)b;
    return strcmp(x->name, y->name);
}

static void sort_node(struct hr_node *n)
{
    if (n->n_children > 1)
        qsort(n->children, n->n_children, sizeof(*n->children), cmp_nodes);
    for (size_t i = 0; i < n->n_children; i++)
        sort_node(n->children[i]);
}

void hr_fstree_sort(struct hr_fstree *t)
{
    sort_node(t->root);
}
