// Test-only: an LD_PRELOAD shim for tests/it/power_loss.rs. It appends every write, truncation
// and successful sync of the files under $POWERLOSS_DIR to $POWERLOSS_JOURNAL, so that the test
// can rebuild what a power loss at any moment would have left on disk.
//
// Record (native byte order): u8 op, u16 name length, name (the file's basename),
// u64 offset (the new length for a truncation), u64 length, then `length` bytes for a write.
// SQLite's -shm file is written through mmap, so it is never complete here: the test leaves it
// out of what it rebuilds (SQLite rebuilds it from the WAL).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_WRITE = 1, OP_TRUNCATE = 2, OP_SYNC = 3 };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);

static pthread_once_t once = PTHREAD_ONCE_INIT;
// One record at a time, so that records never interleave and their order is the order of the
// operations they describe (each is recorded after it completed).
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char dir[PATH_MAX];
static size_t dir_len;
static int journal = -1;

static void init(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    const char *d = getenv("POWERLOSS_DIR"), *j = getenv("POWERLOSS_JOURNAL");
    if (d && j && strlen(d) < sizeof dir) {
        strcpy(dir, d);
        dir_len = strlen(d);
        journal = open(j, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
}

// The basename of the file `fd` is open on if it lies under $POWERLOSS_DIR, else NULL.
static const char *recorded_name(int fd, char *path, size_t size) {
    if (journal < 0 || fd == journal) return NULL;
    char link[40];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n <= (ssize_t)dir_len || memcmp(path, dir, dir_len) != 0 || path[dir_len] != '/') return NULL;
    path[n] = 0;
    return strrchr(path, '/') + 1;
}

// Appends one record with a single write() of the real libc function (never our own).
static void record(int op, const char *name, uint64_t offset, const struct iovec *iov, int iovcnt, uint64_t len) {
    uint16_t name_len = (uint16_t)strlen(name);
    size_t size = 1 + 2 + name_len + 8 + 8 + (op == OP_WRITE ? len : 0);
    uint8_t *buf = malloc(size), *p = buf;
    if (!buf) abort();
    *p++ = (uint8_t)op;
    memcpy(p, &name_len, 2), p += 2;
    memcpy(p, name, name_len), p += name_len;
    memcpy(p, &offset, 8), p += 8;
    memcpy(p, &len, 8), p += 8;
    // Only the bytes actually written: the first `len` bytes of the buffers.
    for (int i = 0; op == OP_WRITE && i < iovcnt && (size_t)(p - buf) < size; i++) {
        size_t take = iov[i].iov_len < size - (size_t)(p - buf) ? iov[i].iov_len : size - (size_t)(p - buf);
        memcpy(p, iov[i].iov_base, take), p += take;
    }
    pthread_mutex_lock(&lock);
    // A lost record would make every later check wrong: fail loudly instead.
    if (real_write(journal, buf, size) != (ssize_t)size) abort();
    pthread_mutex_unlock(&lock);
    free(buf);
}

// After a write of `done` bytes: records it. `offset` < 0 means at the file position.
static void after_write(int fd, const struct iovec *iov, int iovcnt, ssize_t done, off64_t offset) {
    char path[PATH_MAX];
    const char *name = done > 0 ? recorded_name(fd, path, sizeof path) : NULL;
    if (!name) return;
    // write(2) advanced the position by `done`: it started `done` bytes before where it is now.
    if (offset < 0) offset = lseek(fd, 0, SEEK_CUR) - done;
    record(OP_WRITE, name, (uint64_t)offset, iov, iovcnt, (uint64_t)done);
}

static void after_other(int op, int fd, int result, uint64_t offset) {
    char path[PATH_MAX];
    const char *name = result == 0 ? recorded_name(fd, path, sizeof path) : NULL;
    if (name) record(op, name, offset, NULL, 0, 0);
}

ssize_t write(int fd, const void *buf, size_t count) {
    pthread_once(&once, init);
    ssize_t done = real_write(fd, buf, count);
    after_write(fd, &(struct iovec){(void *)buf, count}, 1, done, -1);
    return done;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    pthread_once(&once, init);
    ssize_t done = real_pwrite(fd, buf, count, offset);
    after_write(fd, &(struct iovec){(void *)buf, count}, 1, done, offset);
    return done;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    pthread_once(&once, init);
    ssize_t done = real_pwrite64(fd, buf, count, offset);
    after_write(fd, &(struct iovec){(void *)buf, count}, 1, done, offset);
    return done;
}

// SQLite and Rust's std write files with pwrite64 and write; the gathering calls are covered too
// so that a store that starts using them is not silently half recorded.
ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    pthread_once(&once, init);
    ssize_t done = real_writev(fd, iov, iovcnt);
    after_write(fd, iov, iovcnt, done, -1);
    return done;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    pthread_once(&once, init);
    ssize_t done = real_pwritev(fd, iov, iovcnt, offset);
    after_write(fd, iov, iovcnt, done, offset);
    return done;
}

// A sync is recorded only once it succeeded: only then is what it covers durable.
int fsync(int fd) {
    pthread_once(&once, init);
    int result = real_fsync(fd);
    after_other(OP_SYNC, fd, result, 0);
    return result;
}

int fdatasync(int fd) {
    pthread_once(&once, init);
    int result = real_fdatasync(fd);
    after_other(OP_SYNC, fd, result, 0);
    return result;
}

int ftruncate(int fd, off_t length) {
    pthread_once(&once, init);
    int result = real_ftruncate(fd, length);
    after_other(OP_TRUNCATE, fd, result, (uint64_t)length);
    return result;
}

int ftruncate64(int fd, off64_t length) {
    pthread_once(&once, init);
    int result = real_ftruncate64(fd, length);
    after_other(OP_TRUNCATE, fd, result, (uint64_t)length);
    return result;
}
