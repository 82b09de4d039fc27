/* Face gallery (SQLite) and SHA-256: enroll, search, mixing embedders refused, atomic enroll, remove really
 * deletes, file mode 0600. */
#include "apps/face/face.h"
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_sha256(void) {
    uint8_t d[32];
    char hex[65];
    ember_face_sha256("", 0, d);
    ember_face_sha256_hex(d, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ember_face_sha256("abc", 3, d);
    ember_face_sha256_hex(d, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: padding spills */
    ember_face_sha256(two, strlen(two), d);
    ember_face_sha256_hex(d, hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    static uint8_t million[1000000];
    memset(million, 'a', sizeof million);
    ember_face_sha256(million, sizeof million, d);
    ember_face_sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static char db_path[256];

static void fresh_db(void) {
    snprintf(db_path, sizeof db_path, "/tmp/ember_face_gallery_%d.db", (int)getpid());
    char side[300];
    unlink(db_path);
    snprintf(side, sizeof side, "%s-wal", db_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db_path);
    unlink(side);
}

static void random_unit(float *v, int n) {
    for (int i = 0; i < n; i++) v[i] = check_randf(-1, 1);
    ember_face_l2_normalize(v, n);
}

/* Whether the file contains the bytes of s. */
static bool file_contains(const char *path, const char *s) {
    uint8_t *data;
    size_t n;
    if (ember_face_file_read(path, &data, &n) != EMBER_OK) return false;
    bool found = memmem(data, n, s, strlen(s)) != NULL;
    ember_free(data);
    return found;
}

static void test_enroll_search_remove(void) {
    fresh_db();
    ember_face_gallery *g = NULL;
    CHECK(ember_face_gallery_open(db_path, 0, &g) == EMBER_ERR_IO); /* absent, not created */
    CHECK(strstr(ember_last_error(), "no such gallery") != NULL);
    CHECK(ember_face_gallery_open(db_path, EMBER_FACE_GALLERY_CREATE, &g) == EMBER_OK);
    struct stat st;
    CHECK(stat(db_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(ember_face_gallery_embedder(g) == NULL);

    enum { DIM = 128, PEOPLE = 5 };
    float emb[PEOPLE][2][DIM];
    const char *names[PEOPLE] = {"amy", "bernadette", "howard", "leonard", "zz-secret-person"};
    for (int p = 0; p < PEOPLE; p++) {
        uint8_t hash[2][32];
        ember_face_sample smp[2];
        char srcs[2][64]; /* outlive the samples that point at them */
        for (int j = 0; j < 2; j++) {
            random_unit(emb[p][j], DIM);
            char *src = srcs[j];
            snprintf(src, sizeof srcs[j], "%s%d.png", names[p], j);
            ember_face_sha256(src, strlen(src), hash[j]);
            smp[j] = (ember_face_sample){emb[p][j], src, hash[j]};
        }
        int added = -1;
        CHECK(ember_face_gallery_enroll(g, names[p], "mobilefacenet", DIM, smp, 2, &added) == EMBER_OK);
        CHECK_EQ(added, 2);
        /* The same images again: skipped by their hash. */
        CHECK(ember_face_gallery_enroll(g, names[p], "mobilefacenet", DIM, smp, 2, &added) == EMBER_OK);
        CHECK_EQ(added, 0);
    }
    CHECK_STR(ember_face_gallery_embedder(g), "mobilefacenet");

    ember_face_person *people;
    int n;
    CHECK(ember_face_gallery_list(g, &people, &n) == EMBER_OK);
    CHECK_EQ(n, PEOPLE);
    if (n == PEOPLE) {
        CHECK_STR(people[0].name, "amy");
        CHECK_EQ(people[0].embeddings, 2);
        CHECK(people[0].created > 1700000000);
    }
    ember_free(people);

    /* A noisy copy of howard's second embedding finds howard first. */
    float q[DIM];
    for (int i = 0; i < DIM; i++) q[i] = emb[2][1][i] + check_randf(-0.02f, 0.02f);
    ember_face_l2_normalize(q, DIM);
    ember_face_match m[3];
    CHECK(ember_face_gallery_search(g, "mobilefacenet", q, DIM, m, 3, &n) == EMBER_OK);
    CHECK_EQ(n, 3);
    CHECK_STR(m[0].name, "howard");
    CHECK(m[0].score > 0.95f && m[1].score < m[0].score && m[2].score <= m[1].score);
    CHECK(strcmp(m[1].name, "howard") != 0 && strcmp(m[2].name, "howard") != 0); /* one entry per person */

    /* Another embedder is refused, in enroll and in search. */
    float other[512];
    random_unit(other, 512);
    ember_face_sample o = {other, "x.png", NULL};
    CHECK(ember_face_gallery_enroll(g, "raj", "fr_feature", 512, &o, 1, NULL) == EMBER_ERR_ARG);
    CHECK(strstr(ember_last_error(), "mobilefacenet") != NULL);
    CHECK(ember_face_gallery_search(g, "fr_feature", other, 512, m, 3, &n) == EMBER_ERR_ARG);

    /* A failing sample in the middle rolls the whole enroll back: raj does not exist afterwards. */
    float good[DIM], bad[DIM];
    random_unit(good, DIM);
    memcpy(bad, good, sizeof bad);
    bad[7] = NAN;
    ember_face_sample two[2] = {{good, "raj1.png", NULL}, {bad, "raj2.png", NULL}};
    CHECK(ember_face_gallery_enroll(g, "raj", "mobilefacenet", DIM, two, 2, NULL) == EMBER_ERR_ARG);
    CHECK(ember_face_gallery_list(g, &people, &n) == EMBER_OK);
    CHECK_EQ(n, PEOPLE);
    ember_free(people);
    CHECK(ember_face_gallery_enroll(g, "", "mobilefacenet", DIM, two, 1, NULL) == EMBER_ERR_ARG);
    CHECK(ember_face_gallery_enroll(g, "a\nb", "mobilefacenet", DIM, two, 1, NULL) == EMBER_ERR_ARG);

    /* Remove really deletes: the name is gone from the file (and its WAL) after remove. */
    ember_face_gallery_close(g);
    CHECK(ember_face_gallery_open(db_path, 0, &g) == EMBER_OK);
    CHECK(ember_face_gallery_remove(g, "zz-secret-person") == EMBER_OK);
    CHECK(ember_face_gallery_remove(g, "zz-secret-person") == EMBER_ERR_ARG);
    ember_face_gallery_close(g);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    CHECK(!file_contains(db_path, "zz-secret-person"));
    CHECK(!file_contains(wal, "zz-secret-person"));
    CHECK(file_contains(db_path, "leonard"));
    CHECK(ember_face_gallery_open(db_path, 0, &g) == EMBER_OK);
    CHECK(ember_face_gallery_list(g, &people, &n) == EMBER_OK);
    CHECK_EQ(n, PEOPLE - 1);
    ember_free(people);
    ember_face_gallery_close(g);
    fresh_db();
}

static void test_not_a_gallery(void) {
    fresh_db();
    FILE *f = fopen(db_path, "wb");
    fputs("this is not a database, just some text that is long enough to look like a header.....", f);
    fclose(f);
    ember_face_gallery *g = NULL;
    CHECK(ember_face_gallery_open(db_path, 0, &g) != EMBER_OK);
    CHECK(g == NULL);
    CHECK(strstr(ember_last_error(), db_path) != NULL);
    fresh_db();
}

int main(void) {
    RUN(test_sha256);
    RUN(test_enroll_search_remove);
    RUN(test_not_a_gallery);
    return check_done();
}
