/*
 * netns-demo: start a child in a brand-new network namespace and show what it sees.
 *
 * Build:  gcc -o netns-demo netns-demo.c
 * Run:    sudo ./netns-demo [SECONDS]     (the child stays alive SECONDS, 120 by default)
 *
 * Part of nslab's "Linux namespaces" lesson. Print it with: nslab example netns-demo
 */
#define _GNU_SOURCE
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int seconds = 120;

/* Lists the interfaces of the calling process's network namespace, with their state. */
static void list_interfaces(const char *who)
{
    struct if_nameindex *ifs = if_nameindex();
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    printf("%s (pid %d) sees these interfaces:\n", who, getpid());
    for (struct if_nameindex *i = ifs; i && i->if_index != 0; i++) {
        struct ifreq req;
        memset(&req, 0, sizeof(req));
        strncpy(req.ifr_name, i->if_name, IFNAMSIZ - 1);
        int up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP);
        printf("  %u: %s, %s\n", i->if_index, i->if_name, up ? "UP" : "DOWN");
    }
    if (ifs)
        if_freenameindex(ifs);
    if (fd >= 0)
        close(fd);
}

static int child_main(void *arg)
{
    (void)arg;
    list_interfaces("the child, in its new network namespace,");
    printf("the child waits %d seconds; look at it with: lsns -t net\n", seconds);
    fflush(stdout);
    sleep(seconds);
    return 0;
}

int main(int argc, char **argv)
{
    static char stack[256 * 1024];

    if (argc > 1)
        seconds = atoi(argv[1]);
    list_interfaces("the parent, in the namespace it started in,");
    fflush(stdout);

    /* CLONE_NEWNET: the child starts in a network namespace of its own. The stack grows down
     * on x86 and arm, so clone() gets the top of the buffer. */
    pid_t pid = clone(child_main, stack + sizeof(stack), CLONE_NEWNET | SIGCHLD, NULL);
    if (pid < 0) {
        perror("clone (are you root?)");
        return 1;
    }
    printf("started child %d\n", pid);
    fflush(stdout);
    if (waitpid(pid, NULL, 0) < 0) {
        perror("waitpid");
        return 1;
    }
    return 0;
}
