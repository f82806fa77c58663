/* hpcimg pull: manifest (or index, then the platform's manifest), config
 * and layers from a registry into the content-addressed blob cache, then
 * the same conversion as an OCI layout. */
#ifndef HR_PULL_H
#define HR_PULL_H

#include "image/convert.h"
#include "registry/registry.h"

struct hr_pull_opts {
    const char *registry; /* for references without one, or NULL: docker.io */
    const char *platform; /* "os/arch[/variant]", or NULL: this host's */
    unsigned parallel;    /* blobs downloaded at a time */
    struct hr_registry_opts reg;
    struct hr_convert_opts conv;
};

/* dest NULL: hr_pull_default_output() in the current directory. Nothing is
 * written to dest unless the whole pull and conversion succeed. Returns 0
 * or -1 (logged as "REF: problem"). */
int hr_pull(const char *ref, const char *dest, const struct hr_pull_opts *o);

/* "REPO-LAST-COMPONENT_TAG.sqfs", or "..._<12 hex digits>.sqfs" when pulled
 * by digest only. */
char *hr_pull_default_output(const struct hr_ref *ref);

/* The blob cache: $XDG_CACHE_HOME/hpcrun, or ~/.cache/hpcrun; blobs lie in
 * its blobs/sha256/. Created when missing (directories 0700); one found
 * readable by others is made 0700, its blobs 0600. NULL (logged) if neither
 * variable is set, or the cache cannot be created, belongs to another user
 * or cannot be made private. */
char *hr_blob_cache_dir(void);

#endif
