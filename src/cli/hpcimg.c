/* hpcimg: OCI images to single SquashFS files. A thin command line over the
 * conversion library (convert.c); messages and exit codes as in hpcrun. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/exitcodes.h"
#include "common/log.h"
#include "common/util.h"
#include "image/convert.h"
#include "image/sqfsreader.h"
#include "image/sqfswriter.h"
#ifdef HAVE_LIBCURL
#include "registry/pull.h"
#endif

static const char usage[] =
    "Usage: hpcimg [OPTIONS] COMMAND ARGS...\n"
    "\n"
    "Commands:\n"
    "  convert SRC FILE   convert an image to the SquashFS file FILE; SRC is\n"
    "                     oci:DIR[:TAG]        an OCI image layout\n"
    "                     docker-archive:FILE  the output of `docker save`, as it is\n"
    "                                          or compressed (gzip, zstd, xz, ...)\n"
    "                     dir:DIR              a directory tree\n"
    "  inspect IMAGE      print the image's /.hpcrun/source.json and config.json\n"
    "  pull REF [-o FILE] fetch an image from a registry and convert it; REF is\n"
    "                     [docker://]HOST[:PORT]/REPO[:TAG][@sha256:DIGEST], or\n"
    "                     REPO[:TAG] on the default registry; FILE defaults to\n"
    "                     NAME_TAG.sqfs in the current directory\n"
    "\n"
    "Options:\n"
    "  --comp ALG[:LEVEL]\n"
    "               compression: zstd (default, level 6), gzip, xz, lz4; LEVEL as the\n"
    "               compressor knows it (zstd 1-22, gzip 1-9, xz 1-9; lz4 takes\n"
    "               none; 0: the compressor's default)\n"
    "  --block-size SIZE\n"
    "               data block size, a power of two from 4K to 1M (default 128K)\n"
    "  --platform OS/ARCH[/VARIANT]\n"
    "               the image to take from a multi-platform index (default: this "
    "host's)\n"
    "  -j N         compression threads (default: the CPUs available, plus one)\n"
    "  --json       inspect: print one JSON object\n"
    "  -o FILE      pull: output file\n"
    "  --registry HOST[:PORT]\n"
    "               pull: registry of references without one (default:\n"
    "               $HPCIMG_REGISTRY, else docker.io)\n"
    "  --creds USER:PASS\n"
    "               pull: credentials (default: $REGISTRY_AUTH_FILE or\n"
    "               ~/.docker/config.json)\n"
    "  --ca-cert FILE  pull: trust the CA certificates in FILE\n"
    "  --insecure   pull: allow plain HTTP and TLS without verification\n"
    "  --parallel N pull: blobs downloaded at a time (default 4)\n"
    "  -q, --quiet  errors only\n"
    "  -v, --verbose\n"
    "               more detail (-vv: debug)\n"
    "  -h, --help   this help\n"
    "  -V, --version\n";

struct cli {
    const char *comp;
    unsigned level;
    size_t block_size;
    const char *platform;
    unsigned threads;
    bool want_json;
    const char *output;
    const char *registry, *creds, *ca_cert;
    bool is_insecure;
    unsigned parallel;
    int verbosity;
    int argc;
    char **argv;
};

enum {
    OPT_COMP = 256,
    OPT_JSON,
    OPT_PLATFORM,
    OPT_BLOCK_SIZE,
    OPT_REGISTRY,
    OPT_CREDS,
    OPT_CA_CERT,
    OPT_INSECURE,
    OPT_PARALLEL,
};

/* "ALG" or "ALG:LEVEL" */
static int parse_comp(struct cli *c, char *arg)
{
    char *colon = strchr(arg, ':'), *end;
    long level;

    c->comp = arg;
    c->level = 0;
    if (!colon)
        return 0;
    *colon = '\0';
    level = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || level < 0 || level > 22) {
        hr_err("--comp %s:%s: expected ALG:LEVEL with a level from 0 to 22", arg,
               colon + 1);
        return -1;
    }
    c->level = (unsigned)level;
    return 0;
}

/* "131072", "128K", "1M": a power of two from 4 KiB to 1 MiB (SquashFS's range) */
static int parse_block_size(struct cli *c, const char *arg)
{
    char *end;
    unsigned long long n = strtoull(arg, &end, 10);

    if (*end == 'K' || *end == 'k')
        n <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        n <<= 20, end++;
    if (*end || arg[0] == '-' || n < 4096 || n > (1 << 20) || (n & (n - 1))) {
        hr_err("--block-size %s: expected a power of two from 4K to 1M", arg);
        return -1;
    }
    c->block_size = (size_t)n;
    return 0;
}

/* One compression worker per CPU this process may run on (a batch job's
 * allocation, not the whole node), plus one: the main thread reads and
 * parses the layers and mostly waits for the workers, and without the extra
 * worker a core idles while it does (measured: 1.1 GiB tree, 2 CPUs, zstd,
 * 102 s with 2 workers, 86 s with 3, as fast as mksquashfs). */
static unsigned default_threads(void)
{
    cpu_set_t set;
    long n = 0;

    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n + 1 : 2;
}

/* The options only pull uses. */
static int parse_pull_opt(struct cli *c, int opt, const char *arg)
{
    char *end;
    long n;

    switch (opt) {
    case OPT_REGISTRY:
        c->registry = arg;
        break;
    case OPT_CREDS:
        if (!strchr(arg, ':')) { /* the value is a secret: not echoed */
            hr_err("--creds: expected USER:PASS");
            return -1;
        }
        c->creds = arg;
        break;
    case OPT_CA_CERT:
        c->ca_cert = arg;
        break;
    case OPT_INSECURE:
        c->is_insecure = true;
        break;
    case OPT_PARALLEL:
        n = strtol(arg, &end, 10);
        if (*end || n < 1 || n > 64) {
            hr_err("--parallel %s: not a count (1 to 64)", arg);
            return -1;
        }
        c->parallel = (unsigned)n;
        break;
    }
    return 0;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"comp", required_argument, NULL, OPT_COMP},
        {"block-size", required_argument, NULL, OPT_BLOCK_SIZE},
        {"json", no_argument, NULL, OPT_JSON},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"registry", required_argument, NULL, OPT_REGISTRY},
        {"creds", required_argument, NULL, OPT_CREDS},
        {"ca-cert", required_argument, NULL, OPT_CA_CERT},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(c, 0, sizeof(*c));
    c->comp = "zstd";
    c->threads = default_threads();
    c->parallel = 4;
    c->registry = getenv("HPCIMG_REGISTRY");
    while ((opt = getopt_long(argc, argv, "hVqvj:o:", longopts, NULL)) != -1) {
        char *end;
        long n;
        switch (opt) {
        case OPT_COMP:
            if (parse_comp(c, optarg) < 0)
                return -1;
            break;
        case OPT_BLOCK_SIZE:
            if (parse_block_size(c, optarg) < 0)
                return -1;
            break;
        case OPT_PLATFORM:
            if (!strchr(optarg, '/') || optarg[0] == '/' || strstr(optarg, "//")) {
                hr_err("--platform %s: expected OS/ARCH[/VARIANT], e.g. linux/arm64",
                       optarg);
                return -1;
            }
            c->platform = optarg;
            break;
        case OPT_JSON:
            c->want_json = true;
            break;
        case OPT_REGISTRY:
        case OPT_CREDS:
        case OPT_CA_CERT:
        case OPT_INSECURE:
        case OPT_PARALLEL:
            if (parse_pull_opt(c, opt, optarg) < 0)
                return -1;
            break;
        case 'j':
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1024) {
                hr_err("-j %s: not a thread count (1 to 1024)", optarg);
                return -1;
            }
            c->threads = (unsigned)n;
            break;
        case 'o':
            c->output = optarg;
            break;
        case 'q':
            c->verbosity = -1;
            break;
        case 'v':
            if (c->verbosity >= 0)
                c->verbosity++;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(HR_EXIT_OK);
        case 'V':
            printf("hpcimg %s (features: %s)\n", PACKAGE_VERSION, HR_FEATURES);
            exit(HR_EXIT_OK);
        default:
            fputs("Try 'hpcimg --help'.\n", stderr);
            return -1;
        }
    }
    c->argc = argc - optind;
    c->argv = argv + optind;
    return 0;
}

/* The conversion options, the same for convert and pull. */
static int convert_opts(const struct cli *c, struct hr_convert_opts *o)
{
    if (!hr_sqfs_comp_supported(c->comp)) {
        hr_err("--comp %s: not supported (use zstd, gzip, xz or lz4)", c->comp);
        return -1;
    }
    *o = (struct hr_convert_opts){.comp = c->comp,
                                  .level = c->level,
                                  .block_size = c->block_size,
                                  .threads = c->threads,
                                  .platform = c->platform};
    return 0;
}

static int cmd_convert(const struct cli *c)
{
    struct hr_convert_opts o;

    if (c->argc != 3) {
        hr_err("convert: needs SRC and FILE (see hpcimg --help)");
        return -1;
    }
    if (c->output) {
        hr_err("convert: -o is for pull; convert writes the FILE given after SRC");
        return -1;
    }
    if (convert_opts(c, &o) < 0)
        return -1;
    return hr_convert(c->argv[1], c->argv[2], &o);
}

static int cmd_pull(const struct cli *c)
{
    struct hr_convert_opts conv;

    if (c->argc != 2) {
        hr_err("pull: needs REF (see hpcimg --help)");
        return -1;
    }
    if (convert_opts(c, &conv) < 0)
        return -1;
#ifdef HAVE_LIBCURL
    struct hr_pull_opts o = {
        .registry = c->registry && *c->registry ? c->registry : NULL,
        .platform = c->platform,
        .parallel = c->parallel,
        .reg = {.creds = c->creds, .ca_cert = c->ca_cert, .is_insecure = c->is_insecure},
        .conv = conv,
    };
    return hr_pull(c->argv[1], c->output, &o);
#else
    hr_err("pull: this hpcimg was built without libcurl; use skopeo copy to an oci: "
           "layout, then hpcimg convert");
    return -1;
#endif
}

static json_t *parse_meta(const char *image, const char *path, const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (!j)
        hr_err("%s: %s: invalid JSON: %s", image, path, jerr.text);
    return j;
}

static int cmd_inspect(const struct cli *c)
{
    static const char *const files[] = {"/.hpcrun/source.json", "/.hpcrun/config.json"};
    static const char *const keys[] = {"source", "config"};
    const char *image;
    json_t *all = json_object();
    int rc = -1;

    if (c->argc != 2) {
        hr_err("inspect: needs IMAGE (see hpcimg --help)");
        goto out;
    }
    image = c->argv[1];
    for (size_t i = 0; i < HR_ARRAY_LEN(files); i++) {
        hr_autofree char *text = hr_sqfs_read_file(image, files[i]);
        json_t *j;
        if (!text && errno != ENOENT)
            goto out;
        if (!text) {
            if (!c->want_json)
                printf("%s: absent (not written by hpcimg)\n", files[i]);
            json_object_set_new(all, keys[i], json_null());
            continue;
        }
        if (!(j = parse_meta(image, files[i], text)))
            goto out;
        if (!c->want_json)
            printf("%s:\n%s", files[i], text);
        json_object_set_new(all, keys[i], j);
    }
    if (c->want_json) {
        char *s = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
    }
    rc = fflush(stdout) == 0 ? 0 : -1;
out:
    json_decref(all);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c;
    const char *cmd;

    hr_log_init("hpcimg", HR_LOG_WARN);
    if (parse_args(&c, argc, argv) < 0)
        return HR_EXIT_FAIL;
    hr_log_init("hpcimg", c.verbosity < 0 ? HR_LOG_QUIET : c.verbosity);
    if (c.argc < 1) {
        hr_err("no command (see hpcimg --help)");
        return HR_EXIT_FAIL;
    }
    cmd = c.argv[0];
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(&c) < 0 ? HR_EXIT_FAIL : HR_EXIT_OK;
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(&c) < 0 ? HR_EXIT_FAIL : HR_EXIT_OK;
    if (strcmp(cmd, "pull") == 0)
        return cmd_pull(&c) < 0 ? HR_EXIT_FAIL : HR_EXIT_OK;
    hr_err("%s: unknown command (see hpcimg --help)", cmd);
    return HR_EXIT_FAIL;
}
