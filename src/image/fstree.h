/* The image tree hpcimg builds in memory while it streams layers, and the
 * layer-stack rules that decide which tar entry ends up in it.
 *
 * Layers are read top layer first (layer 0 is the topmost). An entry is kept
 * only if no upper layer provides the same path, no upper layer whited it out
 * (".wh.NAME") and no ancestor directory was made opaque (".wh..wh..opq") or
 * replaced by a non-directory in an upper layer. Everything here is pure:
 * nothing touches a file system, so a hostile path can at worst produce a node
 * in this tree. Memory grows with the number of entries, not their size. */
#ifndef HR_FSTREE_H
#define HR_FSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sqfs_inode_generic_t;

#define HR_NO_XATTR 0xFFFFFFFFu

struct hr_node {
    char *path;                /* clean relative path; "" for the root */
    const char *name;          /* last component, points into path */
    struct hr_node *parent;    /* NULL for the root */
    struct hr_node **children; /* directories only; sorted by hr_fstree_sort */
    size_t n_children, cap_children;
    struct hr_node *link;               /* hardlink: the node whose inode is shared */
    struct sqfs_inode_generic_t *inode; /* regular file: filled by the writer */
    char *target;                       /* symlink target */
    uint32_t mode;                      /* type and permission bits */
    uint32_t uid, gid;
    uint32_t devno;     /* device nodes, SquashFS encoding */
    uint32_t xattr_idx; /* HR_NO_XATTR if none */
    uint32_t mtime;
    int layer;        /* the layer that provided the node */
    int opaque_layer; /* lower layers are hidden below this dir */
    bool is_whiteout; /* hides the path in lower layers; not written */
    bool is_implicit; /* parent made up for a deeper entry */
    uint32_t nlink;   /* names sharing this inode (non-dirs) */
    uint32_t inode_num;
    uint64_t inode_ref;
};

struct hr_fstree {
    struct hr_node *root;
    struct hr_node **slots; /* open-addressing hash of path -> node */
    size_t n_slots, n_nodes;
    uint32_t default_mtime; /* for directories no layer describes */
};

/* What hr_fstree_place decided for one entry. */
enum hr_verdict {
    HR_ADD,           /* a new node: the caller fills in its metadata/data */
    HR_UPDATE_DIR,    /* an existing directory takes this entry's metadata */
    HR_SKIP_PROVIDED, /* an upper layer (or an earlier entry) has this path */
    HR_SKIP_HIDDEN,   /* hidden by an upper whiteout, opaque dir or non-dir */
    HR_SKIP_HOSTILE,  /* ".." in the path, a whiteout of "..", or an entry
                         beneath a symlink or file of the same layer */
    HR_WHITEOUT,      /* ".wh.NAME" recorded */
    HR_OPAQUE,        /* ".wh..wh..opq" recorded */
};

const char *hr_verdict_name(enum hr_verdict v);

/* Turn a tar path into a clean relative path: leading "/" and "./" dropped,
 * "//" and "." collapsed, trailing "/" dropped; "" is the root. Any ".."
 * component makes the path hostile: returns NULL. */
char *hr_tar_path_clean(const char *raw);

enum hr_whiteout_kind {
    HR_WH_NONE,   /* an ordinary name */
    HR_WH_FILE,   /* ".wh.NAME": NAME is whited out */
    HR_WH_OPAQUE, /* ".wh..wh..opq" */
    HR_WH_META,   /* another ".wh..wh." name (aufs bookkeeping): ignored */
    HR_WH_BAD,    /* ".wh." with an empty, "." or ".." target */
};
enum hr_whiteout_kind hr_whiteout_kind(const char *name);

/* A time as SquashFS stores it: unsigned 32-bit seconds, clamped. */
static inline uint32_t hr_fstree_time(int64_t t)
{
    return t < 0 ? 0 : t > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

void hr_fstree_init(struct hr_fstree *t, uint32_t default_mtime);
void hr_fstree_free(struct hr_fstree *t);
struct hr_node *hr_fstree_lookup(const struct hr_fstree *t, const char *path);

/* Decide what to do with an entry of type (S_IFMT bits) at raw tar path in
 * layer, and record it: new nodes (and their missing parents) are created,
 * whiteouts and opaque markers stored. *out gets the node for HR_ADD and
 * HR_UPDATE_DIR. */
enum hr_verdict hr_fstree_place(struct hr_fstree *t, int layer, const char *raw,
                                uint32_t type, struct hr_node **out);

/* Sort every directory's children by name (byte order, as SquashFS needs). */
void hr_fstree_sort(struct hr_fstree *t);

/* The node an entry's inode lives in (follows hardlinks). */
static inline struct hr_node *hr_node_real(struct hr_node *n)
{
    return n->link ? n->link : n;
}

#endif
