/* syscalls: try the system calls a submission must not make; one line per call:
   "<name> ok" or "<name> <errno number>". */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
    if (r < 0) printf("%s %d\n", name, errno); else printf("%s ok\n", name);
    fflush(stdout);
}

/* clone(CLONE_NEWUSER) as a raw system call: the seccomp filter does not look at clone's
   flags, so this is refused (if at all) by the sandbox's user-namespace limit. */
static long clone_newuser(void) {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid;
}

static long clone3_newuser(void) {
    struct clone_args args = {0};
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid;
}

int main(void) {
    report("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("umount", umount2("/box", MNT_DETACH));
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("unshare_net", unshare(CLONE_NEWNET));
    report("unshare_mount", unshare(CLONE_NEWNS));
    report("setns", setns(0, 0));
    report("chroot", chroot("/tmp"));
    report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0, 0, 0));
    report("add_key", syscall(SYS_add_key, "user", "judge", "x", 1, -3));
    report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x1234567, NULL));
    report("sethostname", sethostname("evil", 4));
    report("clock_settime", syscall(SYS_clock_settime, 0, NULL));
    report("clone_newuser", clone_newuser());
    report("clone3_newuser", clone3_newuser());
    report("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
    report("socket_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
    report("socket_unix", socket(AF_UNIX, SOCK_STREAM, 0));
    return 0;
}
