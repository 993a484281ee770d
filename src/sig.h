/*
 * sig.h - SIGINT/SIGTERM turned into a flag and a wake-up, so that the
 * front end's loop (not a signal handler) cancels, restores the terminal
 * and exits 130 or 143.
 */
#ifndef PULLTOP_SIG_H
#define PULLTOP_SIG_H

#include <signal.h>

/* The signal number caught (SIGINT, SIGTERM), 0 if none. */
extern volatile sig_atomic_t sig_caught;

/* Install the handlers; a caught signal also writes to wake_fd. */
void sig_install(int wake_fd);

/* 128 + signal number, for the exit status. */
int sig_exit_status(void);

#endif
