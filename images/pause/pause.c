/* ambit-pause: the process that holds a pod's namespaces (the sandbox container).
 *
 * It does nothing but wait: it exits 0 on SIGTERM or SIGINT and, when it is PID 1 of a pod
 * that shares its PID namespace, reaps every orphan that is handed to it, so exited processes
 * do not pile up as zombies. All three signals are blocked and taken synchronously with
 * sigwaitinfo(), so there are no handlers and no races between a signal and the wait.
 * Written for ambit's test images (scripts/build-images.sh); no arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void reap_exited_children(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr, "ambit-pause takes no arguments; it waits for SIGTERM or SIGINT\n");
    return 2;
  }
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGINT);
  sigaddset(&waited, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &waited, NULL) != 0) {
    fprintf(stderr, "ambit-pause: sigprocmask: %s\n", strerror(errno));
    return 1;
  }
  for (;;) {
    int sig = sigwaitinfo(&waited, NULL);
    if (sig == SIGCHLD) {
      reap_exited_children();
    } else if (sig == SIGTERM || sig == SIGINT) {
      return 0;
    } else if (sig < 0 && errno != EINTR) {
      fprintf(stderr, "ambit-pause: sigwaitinfo: %s\n", strerror(errno));
      return 1;
    }
  }
}
