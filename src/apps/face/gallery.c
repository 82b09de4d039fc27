/* The face gallery: people and their embeddings in an SQLite file (WAL, one transaction per enroll, mode 0600,
 * secure delete + vacuum on remove). Embeddings are stored as little-endian float32 blobs tagged with the
 * embedder that made them; a gallery holds one embedder's embeddings only. */
#include "apps/face/face.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ember_face_gallery {
    sqlite3 *db;
    char *path;
    char embedder[128]; /* cache for ember_face_gallery_embedder */
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('schema', '1');"
    "CREATE TABLE IF NOT EXISTS people("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS embeddings("
    "  id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,"
    "  embedder TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL, source TEXT, sha256 TEXT,"
    "  created INTEGER NOT NULL, UNIQUE(person, sha256));"
    "CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person);";

static ember_status db_fail(ember_face_gallery *g, const char *what) {
    int code = sqlite3_errcode(g->db);
    ember_status s = code == SQLITE_NOMEM ? EMBER_ERR_NOMEM
                     : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? EMBER_ERR_FORMAT
                                                                        : EMBER_ERR_IO;
    return ember_fail(s, "%s: %s: %s", g->path, what, sqlite3_errmsg(g->db));
}

/* Run statements; `what` names the step in the error message. */
static ember_status exec(ember_face_gallery *g, const char *sql, const char *what) {
    if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) == SQLITE_OK) return EMBER_OK;
    return db_fail(g, what);
}

static ember_status prepare(ember_face_gallery *g, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(g->db, sql, -1, st, NULL) == SQLITE_OK) return EMBER_OK;
    return db_fail(g, "preparing a query");
}

/* Create the file with mode 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode). */
static ember_status create_private(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) return close(fd) == 0 ? EMBER_OK : ember_fail(EMBER_ERR_IO, "%s: %s", path, strerror(errno));
    if (errno == EEXIST) return EMBER_OK;
    return ember_fail(EMBER_ERR_IO, "%s: cannot create gallery: %s", path, strerror(errno));
}

ember_status ember_face_gallery_open(const char *path, int flags, ember_face_gallery **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!(flags & EMBER_FACE_GALLERY_CREATE))
            return ember_fail(EMBER_ERR_IO, "%s: no such gallery (enroll someone first to create it)", path);
        ember_status s = create_private(path);
        if (s) return s;
    }
    ember_face_gallery *g = ember_calloc(1, sizeof *g);
    if (!g || !(g->path = ember_strdup(path))) {
        ember_free(g);
        return ember_fail(EMBER_ERR_NOMEM, "out of memory");
    }
    ember_status s = EMBER_OK;
    if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        s = db_fail(g, "cannot open gallery");
    if (!s) sqlite3_busy_timeout(g->db, 5000);
    /* WAL: an interrupted write leaves the last committed state; secure_delete: removed rows are zeroed. */
    if (!s && sqlite3_exec(g->db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
                           NULL, NULL, NULL) != SQLITE_OK)
        s = db_fail(g, "not a face gallery");
    if (!s && sqlite3_exec(g->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) s = db_fail(g, "not a face gallery");
    if (s) {
        ember_face_gallery_close(g);
        return s;
    }
    *out = g;
    return EMBER_OK;
}

void ember_face_gallery_close(ember_face_gallery *g) {
    if (!g) return;
    sqlite3_close(g->db);
    ember_free(g->path);
    ember_free(g);
}

/* The embedder of the gallery's embeddings into g->embedder ("" when empty), and its dimension (0). */
static ember_status stored_embedder(ember_face_gallery *g, int *dim) {
    sqlite3_stmt *st;
    ember_status s = prepare(g, "SELECT embedder, dim FROM embeddings LIMIT 1", &st);
    if (s) return s;
    g->embedder[0] = 0;
    *dim = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *e = sqlite3_column_text(st, 0);
        snprintf(g->embedder, sizeof g->embedder, "%s", e ? (const char *)e : "");
        *dim = sqlite3_column_int(st, 1);
    } else if (rc != SQLITE_DONE) {
        s = db_fail(g, "reading the embedder");
    }
    sqlite3_finalize(st);
    return s;
}

const char *ember_face_gallery_embedder(ember_face_gallery *g) {
    int dim;
    if (stored_embedder(g, &dim) != EMBER_OK || !g->embedder[0]) return NULL;
    return g->embedder;
}

/* Refuse an embedder (or dimension) other than the one the gallery holds. */
static ember_status check_embedder(ember_face_gallery *g, const char *embedder, int dim) {
    int have_dim;
    ember_status s = stored_embedder(g, &have_dim);
    if (s || !g->embedder[0]) return s;
    if (strcmp(g->embedder, embedder) != 0)
        return ember_fail(EMBER_ERR_ARG,
                          "%s: this gallery holds embeddings from '%s'; embeddings from '%s' cannot be compared "
                          "with them (use --embedder %s, or a new gallery)",
                          g->path, g->embedder, embedder, g->embedder);
    if (have_dim != dim)
        return ember_fail(EMBER_ERR_ARG, "%s: gallery embeddings have %d values, this one has %d", g->path,
                          have_dim, dim);
    return EMBER_OK;
}

static ember_status check_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= sizeof(((ember_face_person *)0)->name))
        return ember_fail(EMBER_ERR_ARG, "a person's name must be 1..%zu bytes",
                          sizeof(((ember_face_person *)0)->name) - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return ember_fail(EMBER_ERR_ARG, "a person's name may not contain control characters");
    return EMBER_OK;
}

/* id of the person `name`, creating them; `now` stamps created/updated. */
static ember_status person_id(ember_face_gallery *g, const char *name, int64_t now, int64_t *id) {
    sqlite3_stmt *st;
    ember_status s = prepare(g,
                             "INSERT INTO people(name, created, updated) VALUES(?1, ?2, ?2) "
                             "ON CONFLICT(name) DO UPDATE SET updated = ?2 RETURNING id",
                             &st);
    if (s) return s;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    else s = db_fail(g, "adding a person");
    sqlite3_finalize(st);
    return s;
}

static ember_status insert_samples(ember_face_gallery *g, int64_t person, const char *embedder, int dim,
                                   const ember_face_sample *smp, int n, int64_t now, int *added) {
    sqlite3_stmt *st;
    ember_status s = prepare(g,
                             "INSERT OR IGNORE INTO embeddings(person, embedder, dim, vec, source, sha256, created) "
                             "VALUES(?, ?, ?, ?, ?, ?, ?)",
                             &st);
    for (int i = 0; !s && i < n; i++) {
        char hex[65];
        if (smp[i].sha256) ember_face_sha256_hex(smp[i].sha256, hex);
        for (int k = 0; k < dim && !s; k++)
            if (!isfinite(smp[i].emb[k])) s = ember_fail(EMBER_ERR_ARG, "embedding %d holds a non-finite value", i);
        if (s) break;
        sqlite3_bind_int64(st, 1, person);
        sqlite3_bind_text(st, 2, embedder, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, dim);
        sqlite3_bind_blob(st, 4, smp[i].emb, dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_bind_text(st, 5, smp[i].source, -1, SQLITE_STATIC);
        if (smp[i].sha256) sqlite3_bind_text(st, 6, hex, 64, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, now);
        if (sqlite3_step(st) != SQLITE_DONE) s = db_fail(g, "storing an embedding");
        else *added += sqlite3_changes(g->db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return s;
}

ember_status ember_face_gallery_enroll(ember_face_gallery *g, const char *name, const char *embedder, int dim,
                                       const ember_face_sample *smp, int n, int *added) {
    int count = 0;
    if (added) *added = 0;
    ember_status s = check_name(name);
    if (s) return s;
    if (!embedder || !embedder[0] || dim <= 0 || dim > 65536 || n < 0)
        return ember_fail(EMBER_ERR_ARG, "enroll: needs an embedder name, a dimension in 1..65536 and samples");
    if ((s = exec(g, "BEGIN IMMEDIATE", "starting a transaction"))) return s;
    int64_t now = (int64_t)time(NULL), id = 0;
    s = check_embedder(g, embedder, dim);
    if (!s) s = person_id(g, name, now, &id);
    if (!s) s = insert_samples(g, id, embedder, dim, smp, n, now, &count);
    if (!s) s = exec(g, "COMMIT", "committing");
    if (s) {
        sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL); /* keeps the first error's message */
        return s;
    }
    if (added) *added = count;
    return EMBER_OK;
}

ember_status ember_face_gallery_list(ember_face_gallery *g, ember_face_person **out, int *n) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    ember_status s = prepare(g,
                             "SELECT p.name, p.created, p.updated, (SELECT count(*) FROM embeddings e "
                             "WHERE e.person = p.id) FROM people p ORDER BY p.name",
                             &st);
    if (s) return s;
    ember_face_person *v = NULL;
    int count = 0, cap = 0, rc;
    while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            ember_face_person *p = ember_realloc(v, (size_t)cap * sizeof *v);
            if (!p) {
                s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
                break;
            }
            v = p;
        }
        ember_face_person *p = &v[count++];
        snprintf(p->name, sizeof p->name, "%s", (const char *)sqlite3_column_text(st, 0));
        p->created = sqlite3_column_int64(st, 1);
        p->updated = sqlite3_column_int64(st, 2);
        p->embeddings = sqlite3_column_int(st, 3);
    }
    if (!s && rc != SQLITE_DONE) s = db_fail(g, "listing people");
    sqlite3_finalize(st);
    if (s) {
        ember_free(v);
        return s;
    }
    *out = v;
    *n = count;
    return EMBER_OK;
}

ember_status ember_face_gallery_remove(ember_face_gallery *g, const char *name) {
    sqlite3_stmt *st;
    ember_status s = prepare(g, "DELETE FROM people WHERE name = ?", &st);
    if (s) return s;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) s = db_fail(g, "removing a person");
    else if (sqlite3_changes(g->db) == 0) s = ember_fail(EMBER_ERR_ARG, "%s: no person named '%s'", g->path, name);
    sqlite3_finalize(st);
    if (s) return s;
    /* Rewrite the file without free pages, and empty the WAL, so nothing of the person stays on disk. */
    return exec(g, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", "vacuuming");
}

/* Best score per person kept in a small sorted array (k entries). */
static void offer(ember_face_match *m, int k, int *n, const char *name, float score) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(m[i].name, name)) {
            if (score <= m[i].score) return;
            for (int j = i; j + 1 < *n; j++) m[j] = m[j + 1]; /* take it out, re-insert below */
            (*n)--;
            break;
        }
    int pos = *n;
    while (pos > 0 && m[pos - 1].score < score) pos--;
    if (pos >= k) return;
    int last = *n < k ? *n : k - 1;
    for (int j = last; j > pos; j--) m[j] = m[j - 1];
    snprintf(m[pos].name, sizeof m[pos].name, "%s", name);
    m[pos].score = score;
    if (*n < k) (*n)++;
}

ember_status ember_face_gallery_search(ember_face_gallery *g, const char *embedder, const float *emb, int dim,
                                       ember_face_match *out, int k, int *n) {
    *n = 0;
    if (k <= 0) return ember_fail(EMBER_ERR_ARG, "search: k must be positive");
    ember_status s = check_embedder(g, embedder, dim);
    if (s) return s;
    sqlite3_stmt *st;
    if ((s = prepare(g, "SELECT p.name, e.vec FROM embeddings e JOIN people p ON p.id = e.person", &st))) return s;
    float *v = ember_malloc((size_t)dim * sizeof *v);
    if (!v) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
    int rc = SQLITE_DONE;
    while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != dim * (int)sizeof(float)) {
            s = ember_fail(EMBER_ERR_FORMAT, "%s: an embedding of '%s' has %d bytes, expected %d", g->path,
                           (const char *)sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 1),
                           dim * (int)sizeof(float));
            break;
        }
        memcpy(v, sqlite3_column_blob(st, 1), (size_t)dim * sizeof *v);
        offer(out, k, n, (const char *)sqlite3_column_text(st, 0), ember_face_cosine(emb, v, dim));
    }
    if (!s && rc != SQLITE_DONE) s = db_fail(g, "searching");
    sqlite3_finalize(st);
    ember_free(v);
    if (s) *n = 0;
    return s;
}
