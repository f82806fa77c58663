/* --join's socket name: an HMAC-SHA-256 of the join key under the user's
 * secret, checked against OpenSSL's own HMAC and a vector from
 * `openssl dgst -sha256 -mac HMAC`. And the secret file: made once, read
 * back, refused when another user could know it. And what a failed leader
 * closes. */
#include "autoconfig.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "launch/join.h"
#include "unit.h"

static void hmac_hex(const uint8_t *secret, const char *key, char out[65])
{
    uint8_t mac[32];
    unsigned int n = 0;

    HMAC(EVP_sha256(), secret, HR_JOIN_SECRET_LEN, (const unsigned char *)key,
         strlen(key), mac, &n);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static void test_name(void)
{
    uint8_t secret[HR_JOIN_SECRET_LEN], other[HR_JOIN_SECRET_LEN];
    char name[HR_JOIN_NAME_MAX], name2[HR_JOIN_NAME_MAX], want[HR_JOIN_NAME_MAX], mac[65];
    char *long_key = hr_xmalloc(1001);
    const char *keys[] = {"", "a",
                          "slurm:77.3@n9|2049:77|0|fakeroot=0|writable=0|mounts=0", NULL};

    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)i;
    hr_join_name("key:rank|2049:77|0|fakeroot=0|writable=0|mounts=00000000000000ff", 1000,
                 secret, name, sizeof(name));
    CHECK_STR(
        name,
        "hpcrun/1000/33e791f4d855319f0b71818f95516e22a900c89cd70f12ea7dc9f8108ab817c0");
    hr_join_name("", 0, secret, name, sizeof(name));
    CHECK_STR(
        name,
        "hpcrun/0/d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");

    /* the same as OpenSSL's HMAC, for keys shorter and longer than a block */
    memset(long_key, 'k', 1000);
    long_key[1000] = '\0';
    keys[3] = long_key;
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof(secret); i++)
            secret[i] = (uint8_t)(i * 37 + k);
        hmac_hex(secret, keys[k], mac);
        snprintf(want, sizeof(want), "hpcrun/4294967294/%s", mac);
        hr_join_name(keys[k], 4294967294u, secret, name, sizeof(name));
        CHECK_STR(name, want);
        CHECK(strlen(name) < HR_JOIN_NAME_MAX && strlen(name) < 107); /* sun_path */
    }
    free(long_key);

    /* the same key and secret give the same name; another secret, another */
    memcpy(other, secret, sizeof(other));
    other[31] ^= 1;
    hr_join_name("key:x", 1000, secret, name, sizeof(name));
    hr_join_name("key:x", 1000, secret, name2, sizeof(name2));
    CHECK_STR(name, name2);
    hr_join_name("key:x", 1000, other, name2, sizeof(name2));
    CHECK(strcmp(name, name2) != 0);
    hr_join_name("key:y", 1000, secret, name2, sizeof(name2));
    CHECK(strcmp(name, name2) != 0);
    /* a short buffer: cut, still a string */
    hr_join_name("key:x", 1000, secret, name2, 12);
    CHECK_STR(name2, "hpcrun/1000");
}

static void test_secret(void)
{
    char tmpl[] = "/tmp/hr-test-join.XXXXXX";
    char *dir = mkdtemp(tmpl);
    char *home = NULL, *keyf = NULL, *joind = NULL;
    char *env[3] = {NULL, NULL, NULL};
    uint8_t s1[HR_JOIN_SECRET_LEN], s2[HR_JOIN_SECRET_LEN];
    struct stat st;

    CHECK(dir != NULL);
    if (!dir)
        return;
    home = hr_xasprintf("HOME=%s", dir);
    keyf = hr_xasprintf("%s/.cache/hpcrun/join/key", dir);
    joind = hr_xasprintf("%s/.cache/hpcrun/join", dir);
    env[0] = home;
    /* made on first use, then read back the same */
    CHECK(hr_join_secret(env, s1) == 0);
    CHECK(stat(keyf, &st) == 0 && st.st_size == HR_JOIN_SECRET_LEN &&
          (st.st_mode & 07777) == 0600);
    CHECK(stat(joind, &st) == 0 && (st.st_mode & 07777) == 0700);
    CHECK(hr_join_secret(env, s2) == 0 && memcmp(s1, s2, sizeof(s1)) == 0);
    /* readable by others, cut short, a symlink, a directory open to others */
    CHECK(chmod(keyf, 0640) == 0 && hr_join_secret(env, s2) < 0);
    CHECK(chmod(keyf, 0600) == 0 && truncate(keyf, 31) == 0 &&
          hr_join_secret(env, s2) < 0);
    CHECK(unlink(keyf) == 0 && symlink("/etc/hostname", keyf) == 0 &&
          hr_join_secret(env, s2) < 0);
    CHECK(unlink(keyf) == 0 && hr_join_secret(env, s2) == 0); /* a new one */
    CHECK(chmod(joind, 0750) == 0 && hr_join_secret(env, s2) < 0);
    CHECK(chmod(joind, 0700) == 0);
    /* no HOME, no XDG directory: nowhere to keep it */
    env[0] = NULL;
    CHECK(hr_join_secret(env, s2) < 0);
    unlink(keyf);
    free(home);
    free(keyf);
    free(joind);
    home = hr_xasprintf("rm -rf '%s'", dir);
    CHECK(system(home) == 0);
    free(home);
}

/* hr_join_close closes what is still open, once, and nothing else. */
static void test_close(void)
{
    int sock[2], ready[2];
    struct hr_join j;

    CHECK(pipe(ready) == 0 && pipe(sock) == 0);
    j = (struct hr_join){.listen_fd = sock[0], .ready_rd = -1, .ready_wr = ready[1]};
    hr_join_close(&j);
    CHECK(j.listen_fd == -1 && j.ready_rd == -1 && j.ready_wr == -1);
    CHECK(fcntl(sock[0], F_GETFD) < 0 && fcntl(ready[1], F_GETFD) < 0);
    /* the ones the server took were left alone */
    CHECK(fcntl(sock[1], F_GETFD) >= 0 && fcntl(ready[0], F_GETFD) >= 0);
    hr_join_close(&j); /* again: nothing left to close */
    CHECK(fcntl(sock[1], F_GETFD) >= 0 && fcntl(ready[0], F_GETFD) >= 0);
    close(sock[1]);
    close(ready[0]);
}

int main(void)
{
    test_name();
    test_secret();
    test_close();
    return unit_done();
}
