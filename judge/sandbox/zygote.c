/* judge-zygote: starts every run of one box session from inside one long-lived bubblewrap
 * sandbox, so a run costs a fork and an exec instead of a whole new sandbox (zygote.py).
 *
 * It is PID 1 of the sandbox's pid namespace (bwrap --as-pid-1): signals from the runs cannot
 * kill it, and it reaps whatever they orphan. It is not dumpable, so a run (same uid, no
 * capabilities, ptrace refused by seccomp) cannot read or write its memory through /proc.
 *
 * Protocol on fd 3, a SOCK_SEQPACKET socket to the supervisor (every message one packet):
 *   zygote -> supervisor  {'Z', 0} once, when ready
 *   supervisor -> zygote  a run request: struct request, nrl struct rlimit_req, then argc + envc
 *                         NUL-terminated strings; with SCM_RIGHTS fds stdin, stdout, stderr,
 *                         go (read end of a pipe), report (a socket whose peer has SO_PASSCRED)
 *   zygote -> supervisor  {'F', errno} the request was refused or fork failed, or
 *                         {'X', wait status} when the run's first process ended
 *   supervisor -> zygote  the 4 bytes "jzyC" (no fds): make the session new for the next
 *                         submission: every scratch directory emptied and given back its
 *                         first mode without extended attributes, SysV IPC objects removed
 *   zygote -> supervisor  {'C', 0} done
 * Its arguments are the scratch directories, the only places a run can write (bwrap.py): the
 * first is the box, kept across the runs of a submission; the others are emptied before every
 * run too, with the SysV IPC objects: what one run leaves there, the next does not see.
 * The run's process writes one byte on `report` (the kernel attaches its pid, translated into
 * the supervisor's pid namespace), then waits for the go byte, so the supervisor can put it in
 * the run's cgroup before it does anything billable.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CTL 3
#define MAGIC 0x6a7a7931u /* "jzy1" */
#define CLEAN "jzyC"
#define MAX_REQUEST 65536
#define MAX_RLIMITS 16
#define MAX_STRINGS 4096
#define NFDS 5

struct request { uint32_t magic, nrl, argc, envc; };
struct rlimit_req { uint32_t resource, pad; uint64_t soft, hard; };
struct reply { int32_t kind, value; };

extern char **environ;
static char buf[MAX_REQUEST];
static char *strings[MAX_STRINGS + 2];

static void reply(int kind, int value) {
    struct reply r = { kind, value };
    if (send(CTL, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno != EINTR) _exit(1);
}

static void reap_orphans(void) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* SysV IPC objects outlive the processes that made them; the next run must not find them
 * (nor their memory). POSIX shm lives in the size-limited /dev/shm tmpfs instead. */
static void remove_ipc_objects(void) {
    struct shm_info shm; struct shmid_ds shmds;
    int top = shmctl(0, SHM_INFO, (struct shmid_ds *)&shm);
    for (int i = 0; i <= top; i++) {
        int id = shmctl(i, SHM_STAT_ANY, &shmds);
        if (id >= 0) shmctl(id, IPC_RMID, NULL);
    }
    struct seminfo sem; struct semid_ds semds;
    top = semctl(0, 0, SEM_INFO, &sem);
    for (int i = 0; i <= top; i++) {
        int id = semctl(i, 0, SEM_STAT_ANY, &semds);
        if (id >= 0) semctl(id, 0, IPC_RMID);
    }
    struct msginfo msg; struct msqid_ds msgds;
    top = msgctl(0, MSG_INFO, (struct msqid_ds *)&msg);
    for (int i = 0; i <= top; i++) {
        int id = msgctl(i, MSG_STAT_ANY, &msgds);
        if (id >= 0) msgctl(id, IPC_RMID, NULL);
    }
}

/* Removes everything under `path` without recursion (a run can nest directories deeper than
 * any stack): a directory's subdirectories move up to the top before it is emptied and removed.
 * Every run of the session is dead by now, and all of it is the box uid's, as we are: nothing
 * changes under us and nothing here is beyond what a run could do itself. */
static void empty_dir(const char *path) {
    int top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) return;
    unsigned long serial = 0;
    for (int progress = 1; progress;) {
        progress = 0;
        DIR *d = fdopendir(dup(top));
        if (!d) break;
        rewinddir(d);  /* the dup shares the offset the last pass left at the end */
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (unlinkat(top, e->d_name, 0) == 0) { progress = 1; continue; }
            if (errno != EISDIR) continue;
            fchmodat(top, e->d_name, 0700, 0);  /* a directory (EISDIR): no link to follow */
            int sub = openat(top, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            DIR *sd = sub < 0 ? NULL : fdopendir(sub);
            struct dirent *f;
            while (sd && (f = readdir(sd))) {
                if (!strcmp(f->d_name, ".") || !strcmp(f->d_name, "..")) continue;
                if (unlinkat(sub, f->d_name, 0) == 0 || errno != EISDIR) continue;
                fchmodat(sub, f->d_name, 0700, 0);  /* moving a directory writes its ".." */
                for (int tries = 0; tries < 100; tries++) {
                    char fresh[32];
                    snprintf(fresh, sizeof fresh, ".judge-rm-%lu", serial++);
                    if (renameat(sub, f->d_name, top, fresh) == 0 ||
                        (errno != EEXIST && errno != ENOTEMPTY))
                        break;
                }
            }
            if (sd) closedir(sd);
            if (unlinkat(top, e->d_name, AT_REMOVEDIR) == 0) progress = 1;
        }
        closedir(d);
    }
    close(top);
}

/* A directory the runs may write (the arguments), and its mode when the session began. */
#define MAX_SCRATCH 8
struct scratch { const char *path; mode_t mode; };
static struct scratch scratch[MAX_SCRATCH];
static int nscratch;

static void remember_scratch(int argc, char **argv) {
    struct stat st;
    for (int i = 1; i < argc && nscratch < MAX_SCRATCH; i++, nscratch++) {
        scratch[nscratch].path = argv[i];
        scratch[nscratch].mode = stat(argv[i], &st) == 0 ? st.st_mode & 07777 : 0755;
    }
}

/* Before every run: the scratch directories but the box (the first) emptied. */
static void clean_run(void) {
    for (int i = 1; i < nscratch; i++) empty_dir(scratch[i].path);
    remove_ipc_objects();
}

/* Between submissions: nothing of the last one stays (its processes are dead already). */
static void clean_session(void) {
    for (int i = 0; i < nscratch; i++) {
        const char *path = scratch[i].path;
        chmod(path, 0700);
        empty_dir(path);
        char names[4096];
        ssize_t len = listxattr(path, names, sizeof names);
        for (ssize_t off = 0; off < len; off += strlen(names + off) + 1)
            removexattr(path, names + off);
        chmod(path, scratch[i].mode);
    }
    remove_ipc_objects();
}

/* The run's process: stdio in place, every other fd closed, default signals, its limits;
 * then report, wait for the go byte and become the program. */
static void run(char **argv, char **envp, const struct rlimit_req *rls, uint32_t nrl,
                const int *fds) {
    int high[NFDS];
    for (int i = 0; i < NFDS; i++)
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16)) < 0) _exit(126);
    if (dup2(high[0], 0) < 0 || dup2(high[1], 1) < 0 || dup2(high[2], 2) < 0 ||
        dup3(high[3], 3, O_CLOEXEC) < 0 || dup3(high[4], 4, O_CLOEXEC) < 0)
        _exit(126);
    close_range(5, ~0U, 0);  /* the control socket (3) was replaced by dup3 above */

    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    setsid();
    for (uint32_t i = 0; i < nrl; i++) {
        struct rlimit rl = { rls[i].soft, rls[i].hard };
        if (setrlimit(rls[i].resource, &rl) < 0) {
            dprintf(2, "judge-zygote: setrlimit %u: %s\n", rls[i].resource, strerror(errno));
            _exit(126);
        }
    }
    char go;
    if (write(4, "R", 1) != 1 || read(3, &go, 1) != 1) _exit(126);
    close(3);
    environ = envp;  /* execvp looks up PATH in the program's own environment */
    execvp(argv[0], argv);
    int err = errno;
    dprintf(2, "judge: %s: %s\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

/* Checks a request packet and points `strings` at its argv and envp (each NULL-terminated).
 * Returns 0, or an errno for a malformed request. */
static int parse(size_t len, struct request **req, struct rlimit_req **rls, char ***argv,
                 char ***envp) {
    if (len < sizeof(struct request)) return EINVAL;
    *req = (struct request *)buf;
    struct request *r = *req;
    if (r->magic != MAGIC || r->nrl > MAX_RLIMITS || r->argc < 1 ||
        r->argc + r->envc > MAX_STRINGS)
        return EINVAL;
    size_t off = sizeof *r + r->nrl * sizeof(struct rlimit_req);
    if (off > len) return EINVAL;
    *rls = (struct rlimit_req *)(buf + sizeof *r);
    uint32_t n = r->argc + r->envc, k = 0;
    for (uint32_t i = 0; i < n; i++) {
        char *end = memchr(buf + off, '\0', len - off);
        if (!end) return EINVAL;
        strings[k++] = buf + off;
        if (i + 1 == r->argc) strings[k++] = NULL;  /* argv's terminator */
        off = end - buf + 1;
    }
    strings[k] = NULL;
    if (off != len) return EINVAL;
    *argv = strings;
    *envp = strings + r->argc + 1;
    return 0;
}

int main(int argc, char **argv) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    remember_scratch(argc, argv);
    reply('Z', 0);
    for (;;) {
        reap_orphans();
        union { struct cmsghdr h; char space[CMSG_SPACE(sizeof(int) * NFDS)]; } control;
        struct iovec iov = { buf, sizeof buf - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = &control, .msg_controllen = sizeof control };
        ssize_t len = recvmsg(CTL, &msg, MSG_CMSG_CLOEXEC);
        if (len < 0 && errno == EINTR) continue;
        if (len <= 0) return 0;  /* the supervisor is gone: the sandbox ends with us */
        if (len == 4 && !memcmp(buf, CLEAN, 4) && !(msg.msg_flags & MSG_CTRUNC) &&
            msg.msg_controllen == 0) {
            clean_session();
            reply('C', 0);
            continue;
        }
        int fds[NFDS], nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (int i = 0; i < count; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                    if (nfds < NFDS) fds[nfds++] = fd; else close(fd);
                }
            }
        struct request *req; struct rlimit_req *rls; char **argv, **envp;
        int err = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != NFDS
                  ? EINVAL : parse((size_t)len, &req, &rls, &argv, &envp);
        if (err) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            reply('F', err);
            continue;
        }
        clean_run();
        pid_t pid = fork();
        if (pid == 0) run(argv, envp, rls, req->nrl, fds);
        int fork_errno = errno;
        for (int i = 0; i < NFDS; i++) close(fds[i]);
        if (pid < 0) {
            reply('F', fork_errno);
            continue;
        }
        int status = 0;
        for (;;) {
            pid_t done = waitpid(-1, &status, 0);
            if (done == pid) break;
            if (done < 0 && errno != EINTR) { status = 0x7f00; break; } /* cannot happen */
        }
        reply('X', status);
    }
}
