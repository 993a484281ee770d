/*
 * sig.c - signal handlers that only set a flag and poke the wake-up fd.
 */
#include "util.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t sig_caught;
static int sig_wake_fd = -1;

static void
on_signal(int sig)
{
	uint64_t one = 1;
	int saved = 0;

	if (sig_caught == 0)
		sig_caught = sig;
	if (sig_wake_fd >= 0 && write(sig_wake_fd, &one, sizeof one) < 0)
		saved = 1;	/* nothing to do: the loop also times out */
	(void)saved;
}

void
sig_install(int wake_fd)
{
	struct sigaction sa;

	sig_wake_fd = wake_fd;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
sig_exit_status(void)
{
	return sig_caught ? 128 + sig_caught : 0;
}
