/* The physical floors under a durable write on this disk, for the single-client figure of
 * `make bench` (Tools/bench.sh compiles this at bench time: cc -O2 -o probe commit_probe.c -llmdb).
 *
 *   lmdb:   one synced LMDB commit of one page: begin a write txn, put one 8-byte key (64-byte
 *           value) with MDB_APPEND, commit (LMDB's default: data pages fdatasync'd, then the meta page).
 *   fsync:  one 4 KiB pwrite at the end of a file + fdatasync.
 *   wakeup: the CPU time (getrusage) one 100 us nanosleep costs this process: what every sleep and
 *           wake-up of a server or load-tool thread adds to its CPU per request (large on a VM).
 *
 * Prints one line per floor: the name, then the median and p99 in microseconds over ROUNDS rounds
 * (after 20 unmeasured warm-up rounds); for wakeup, the mean CPU microseconds per sleep.
 * Usage: commit_probe FOLDER [ROUNDS]. FOLDER is created if missing and should be on the same
 * filesystem as the data folder under test. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *samples, int rounds) {
    qsort(samples, rounds, sizeof(double), compare);
    printf("%s %.0f %.0f\n", name, samples[rounds / 2], samples[(rounds * 99) / 100]);
}

#define CHECK(call) do { int rc_ = (call); if (rc_) { fprintf(stderr, "%s: %s\n", #call, mdb_strerror(rc_)); exit(1); } } while (0)

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FOLDER [ROUNDS]\n", argv[0]); return 2; }
    const char *folder = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 500;
    if (rounds < 10) rounds = 10;
    const int warmup = 20;
    if (mkdir(folder, 0700) != 0 && errno != EEXIST) { perror(folder); return 1; }
    double *samples = calloc(rounds, sizeof(double));

    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    CHECK(mdb_env_create(&env));
    CHECK(mdb_env_set_mapsize(env, (size_t)256 << 20));
    CHECK(mdb_env_open(env, folder, 0, 0600)); /* no MDB_NOSYNC / NOMETASYNC: every commit syncs */
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, NULL, 0, &dbi));
    CHECK(mdb_txn_commit(txn));
    char value[64];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < warmup + rounds; i++) {
        uint64_t key = __builtin_bswap64((uint64_t)i + 1); /* big-endian: keys sort in append order */
        MDB_val k = { sizeof key, &key }, v = { sizeof value, value };
        double start = now_us();
        CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        CHECK(mdb_put(txn, dbi, &k, &v, MDB_APPEND));
        CHECK(mdb_txn_commit(txn));
        if (i >= warmup) samples[i - warmup] = now_us() - start;
    }
    mdb_env_close(env);
    report("lmdb_commit_us", samples, rounds);

    char path[4096];
    snprintf(path, sizeof path, "%s/fdatasync.probe", folder);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); return 1; }
    static char page[4096];
    memset(page, 'x', sizeof page);
    for (int i = 0; i < warmup + rounds; i++) {
        double start = now_us();
        if (pwrite(fd, page, sizeof page, (off_t)i * 4096) != (ssize_t)sizeof page) { perror("pwrite"); return 1; }
        if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
        if (i >= warmup) samples[i - warmup] = now_us() - start;
    }
    close(fd);
    unlink(path);
    report("pwrite_fdatasync_us", samples, rounds);

    struct rusage before, after;
    struct timespec nap = { 0, 100000 };
    getrusage(RUSAGE_SELF, &before);
    for (int i = 0; i < 2000; i++) nanosleep(&nap, NULL);
    getrusage(RUSAGE_SELF, &after);
    double cpu = (after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1e6
        + (after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec - before.ru_stime.tv_usec);
    printf("wakeup_cpu_us %.1f\n", cpu / 2000);
    return 0;
}
