/*
 * kernel.h - the cnote-kernel front process: options from the command line and the
 * entry point of the protocol loop (kloop.c). main.c parses arguments and installs
 * kernelspecs; kloop.c owns the ZeroMQ sockets and everything that happens on them.
 */
#ifndef CK_KERNEL_H
#define CK_KERNEL_H

struct kernel_opts {
    const char *connection_file;
    const char *connection_env;    /* or: the connection file's JSON in this environment variable
                                    * (a Kubernetes Secret key handed to the pod as env) */
    const char *ip_env;            /* when set and non-empty, this variable's value replaces the
                                    * connection's ip (the pod IP, from the downward API) */
    const char *exec_path;         /* cnote-exec binary */
    const char *include_dir;       /* directory holding cnote.h */
    const char *cc;                /* compiler: "gcc" (default), "clang" or a path */
    const char *cflags;            /* default "-O2" */
    unsigned long long memlimit;   /* bytes of address space for the state process, 0 = none */
    int interrupt_grace_ms;        /* after an interrupt, how long a cell may take to stop */
    unsigned long long max_output; /* bytes of output per cell before the rest is dropped */
};

/* Run the kernel until shutdown. Returns the process exit status. */
int kloop_run(const struct kernel_opts *o);

#endif
