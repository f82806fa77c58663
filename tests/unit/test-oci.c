/* hpcimg's small pure helpers: RFC 3339 times, digest syntax, SHA-256. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "oci.h"
#include "unit.h"

static int64_t t(const char *s)
{
    int64_t v = -42;
    return hr_rfc3339_parse(s, &v) < 0 ? -1 : v;
}

int main(void)
{
    char d[HR_DIGEST_LEN + 1];

    CHECK(t("1970-01-01T00:00:00Z") == 0);
    CHECK(t("2024-03-01T12:00:00Z") == 1709294400);
    CHECK(t("2024-03-01T12:00:00.123456789Z") == 1709294400);
    CHECK(t("2024-03-01T14:00:00+02:00") == 1709294400);
    CHECK(t("2024-03-01T07:30:00-04:30") == 1709294400);
    CHECK(t("2024-03-01 12:00:00Z") == -1);
    CHECK(t("2024-03-01T12:00:00") == -1);
    CHECK(t("2024-03-01T12:00:00Zjunk") == -1);
    CHECK(t("") == -1);

    CHECK(hr_digest_valid(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(!hr_digest_valid(
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    CHECK(!hr_digest_valid(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    CHECK(!hr_digest_valid(
        "sha256:../../../../etc/passwd0000000000000000000000000000000000000000"));
    CHECK(!hr_digest_valid(
        "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(!hr_digest_valid(NULL));

    hr_sha256_buf("", 0, d);
    CHECK(
        strcmp(
            d,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
        0);
    hr_sha256_buf("abc", 3, d);
    CHECK(
        strcmp(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
        0);

    CHECK(strncmp(hr_host_platform(), "linux/", 6) == 0);

    return unit_done();
}
