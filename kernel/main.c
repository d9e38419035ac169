/*
 * main.c - the cnote-kernel command line.
 *
 *   cnote-kernel -f CONNECTION_FILE        run the kernel (what a Jupyter client starts)
 *   cnote-kernel install [--user | --prefix DIR | --sys-prefix]
 *                                          write the "cnote" kernelspec where Jupyter finds it
 *
 * Options can also come from the environment: CNOTE_CC, CNOTE_CFLAGS, CNOTE_MEMLIMIT,
 * CNOTE_INTERRUPT_GRACE_MS, CNOTE_LOG_LEVEL, CNOTE_EXEC, CNOTE_INCLUDE_DIR.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jp_log.h"
#include "kernel.h"

static char exe_dir[PATH_MAX];

static void find_exe_dir(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n <= 0) {
        snprintf(exe_dir, sizeof exe_dir, ".");
        return;
    }
    exe_dir[n] = '\0';
    char *slash = strrchr(exe_dir, '/');
    if (slash)
        *slash = '\0';
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    fclose(in);
    if (fclose(out))
        rc = -1;
    return rc;
}

static int install(int argc, char **argv)
{
    char dir[PATH_MAX], self[PATH_MAX + 32], logo[PATH_MAX + 64], dst[PATH_MAX + 64];
    const char *prefix = NULL;
    int user = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--user") == 0)
            user = 1;
        else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else if (strcmp(argv[i], "--sys-prefix") == 0)
            prefix = getenv("VIRTUAL_ENV") ? getenv("VIRTUAL_ENV") : "/usr/local";
        else {
            fprintf(stderr, "usage: cnote-kernel install [--user | --prefix DIR | --sys-prefix]\n");
            return 2;
        }
    }
    if (user) {
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(dir, sizeof dir, "%s/jupyter/kernels/cnote", xdg);
        else
            snprintf(dir, sizeof dir, "%s/.local/share/jupyter/kernels/cnote", home ? home : ".");
    } else {
        snprintf(dir, sizeof dir, "%s/share/jupyter/kernels/cnote", prefix ? prefix : "/usr/local");
    }
    if (mkdirs(dir)) {
        fprintf(stderr, "cnote-kernel: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(self, sizeof self, "%s/cnote-kernel", exe_dir);
    snprintf(dst, sizeof dst, "%s/kernel.json", dir);
    FILE *f = fopen(dst, "w");
    if (!f) {
        fprintf(stderr, "cnote-kernel: cannot write %s: %s\n", dst, strerror(errno));
        return 1;
    }
    fprintf(f,
            "{\n \"argv\": [\"%s\", \"-f\", \"{connection_file}\"],\n"
            " \"display_name\": \"C (cnote)\",\n \"language\": \"c\",\n"
            " \"interrupt_mode\": \"message\",\n \"kernel_protocol_version\": \"5.3\",\n"
            " \"metadata\": {\"cnote\": {\"version\": \"0.1.0\"}}\n}\n",
            self);
    if (fclose(f)) {
        fprintf(stderr, "cnote-kernel: cannot write %s\n", dst);
        return 1;
    }
    static const char *const logos[] = {"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"};
    for (int i = 0; i < 3; i++) {
        snprintf(logo, sizeof logo, "%s/../share/cnote/kernelspec/%s", exe_dir, logos[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, logos[i]);
        if (copy_file(logo, dst))
            fprintf(stderr, "cnote-kernel: warning: logo %s not installed\n", logos[i]);
    }
    printf("installed kernelspec cnote in %s\n", dir);
    return 0;
}

/* As PID 1 (a container whose command is cnote-kernel), orphans of cell code (a fork, a
 * system() in the background) would stay zombies: stay PID 1 as a tiny init that forwards
 * signals to the kernel, reaps every child and exits with the kernel's status. Returns only in
 * the kernel process (or when not PID 1). */
static volatile sig_atomic_t init_child;

static void init_forward(int sig)
{
    if (init_child > 0)
        kill(init_child, sig);
}

static void be_init_if_pid1(void)
{
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    struct sigaction sa;
    pid_t kid;
    int status = 0;

    if (getpid() != 1 || getenv("CNOTE_NO_INIT"))
        return;
    if ((kid = fork()) < 0) {
        perror("cnote-kernel: fork");
        return; /* run without an init */
    }
    if (kid == 0)
        return;
    init_child = kid;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = init_forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++)
        sigaction(fwd[i], &sa, NULL);
    for (;;) {
        int st;
        pid_t p = wait(&st);
        if (p == kid) {
            status = st; /* the rest of the container goes with its PID 1 */
            break;
        }
        if (p < 0 && errno == ECHILD)
            break;
    }
    if (WIFSIGNALED(status))
        _exit(128 + WTERMSIG(status));
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static unsigned long long default_memlimit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return 0;
    return (unsigned long long)pages * (unsigned long long)size / 10 * 8;
}

int main(int argc, char **argv)
{
    static char exec_path[PATH_MAX + 16], include_dir[PATH_MAX + 32];
    struct kernel_opts o = {0};

    find_exe_dir();
    jp_log_set_level(getenv("CNOTE_LOG_LEVEL"));
    jp_log_set_format(getenv("CNOTE_LOG_FORMAT"));
    if (argc >= 2 && strcmp(argv[1], "install") == 0)
        return install(argc, argv);
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--connection-file") == 0) &&
            i + 1 < argc)
            o.connection_file = argv[++i];
        else if (strncmp(argv[i], "--connection-file=", 18) == 0)
            o.connection_file = argv[i] + 18;
        else if (strcmp(argv[i], "--connection-env") == 0 && i + 1 < argc)
            o.connection_env = argv[++i];
        else if (strcmp(argv[i], "--ip-env") == 0 && i + 1 < argc)
            o.ip_env = argv[++i];
        else if (strcmp(argv[i], "--version") == 0) {
            printf("cnote-kernel 0.1.0\n");
            return 0;
        } else {
            fprintf(stderr,
                    "usage: cnote-kernel -f CONNECTION_FILE | --connection-env VAR [--ip-env "
                    "VAR] | install [--user | --prefix DIR | --sys-prefix]\n");
            return 2;
        }
    }
    if (!o.connection_file == !o.connection_env) {
        fprintf(stderr, "cnote-kernel: one of -f CONNECTION_FILE or --connection-env VAR is "
                        "required\n");
        return 2;
    }
    const char *e = getenv("CNOTE_EXEC");
    snprintf(exec_path, sizeof exec_path, "%s", e && *e ? e : "");
    if (!*exec_path)
        snprintf(exec_path, sizeof exec_path, "%s/cnote-exec", exe_dir);
    e = getenv("CNOTE_INCLUDE_DIR");
    if (e && *e)
        snprintf(include_dir, sizeof include_dir, "%s", e);
    else {
        snprintf(include_dir, sizeof include_dir, "%s/../share/cnote/include", exe_dir);
        if (!is_dir(include_dir))
            snprintf(include_dir, sizeof include_dir, "%s/../../kernel/include", exe_dir);
    }
    o.exec_path = exec_path;
    o.include_dir = include_dir;
    o.cc = getenv("CNOTE_CC") && *getenv("CNOTE_CC") ? getenv("CNOTE_CC") : "gcc";
    o.cflags = getenv("CNOTE_CFLAGS") ? getenv("CNOTE_CFLAGS") : "-O2";
    o.memlimit = default_memlimit();
    if (getenv("CNOTE_MEMLIMIT"))
        o.memlimit = strtoull(getenv("CNOTE_MEMLIMIT"), NULL, 10);
    o.interrupt_grace_ms = 2000;
    o.max_output = 1ull << 30;
    if (getenv("CNOTE_MAX_OUTPUT"))
        o.max_output = strtoull(getenv("CNOTE_MAX_OUTPUT"), NULL, 10);
    if (getenv("CNOTE_INTERRUPT_GRACE_MS"))
        o.interrupt_grace_ms = (int)strtol(getenv("CNOTE_INTERRUPT_GRACE_MS"), NULL, 10);
    be_init_if_pid1();
    return kloop_run(&o);
}
