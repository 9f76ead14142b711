/* clockprog: a long-running, multi-threaded target for the time fault tests.
 *
 * Every 50 ms it prints one line with the clocks it reads through the vDSO (and one it
 * reads with the raw syscall, which no vDSO patch can shift):
 *   pid=P real=S.N mono=S.N boot=S.N gtod=S.U time=S raw=S.N
 * while worker threads call the clock functions in a loop (so patches land while
 * threads run inside them). SIGUSR1 forks a child that does the same.
 *
 *   clockprog [-t THREADS] [-s] [-k] [-b]
 *     -t N  worker threads (default 2)
 *     -s    workers spin without pausing (load)
 *     -k    install a seccomp filter that kills the process on the clock_gettime syscall
 *     -b    print the cost of clock_gettime(CLOCK_REALTIME) in ns/call instead
 */
#define _GNU_SOURCE
#if __has_include(<linux/seccomp.h>)
#define HAVE_SECCOMP 1
#include <linux/filter.h>
#include <linux/seccomp.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int spin, filtered;
static volatile sig_atomic_t want_fork;

static void *worker(void *arg) {
	(void)arg;
	struct timespec ts, pause = {0, 1000000};
	struct timeval tv;
	for (;;) {
		for (int i = 0; i < 2000; i++) {
			clock_gettime(CLOCK_REALTIME, &ts);
			clock_gettime(CLOCK_MONOTONIC, &ts);
			gettimeofday(&tv, NULL);
			(void)time(NULL);
		}
		if (!spin)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

static void on_usr1(int sig) {
	(void)sig;
	want_fork = 1;
}

static void line(void) {
	struct timespec real, mono, boot, raw;
	struct timeval tv;
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	gettimeofday(&tv, NULL);
	time_t t = time(NULL);
	raw.tv_sec = 0, raw.tv_nsec = 0;
	if (!filtered) /* the filter would kill us for it */
		syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw);
	char buf[256];
	int n = snprintf(buf, sizeof buf,
		"pid=%d real=%lld.%09ld mono=%lld.%09ld boot=%lld.%09ld gtod=%lld.%06ld time=%lld raw=%lld.%09ld\n",
		getpid(), (long long)real.tv_sec, real.tv_nsec, (long long)mono.tv_sec, mono.tv_nsec,
		(long long)boot.tv_sec, boot.tv_nsec, (long long)tv.tv_sec, (long)tv.tv_usec, (long long)t,
		(long long)raw.tv_sec, raw.tv_nsec);
	if (write(1, buf, n) < 0)
		exit(1);
}

static void bench(void) {
	struct timespec ts, a, b;
	for (;;) {
		const int n = 200000;
		/* CPU time of this thread (user + kernel): a loaded node's waits are not counted */
		syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &a);
		for (int i = 0; i < n; i++)
			clock_gettime(CLOCK_REALTIME, &ts);
		syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &b);
		double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
		char buf[128];
		int k = snprintf(buf, sizeof buf, "pid=%d nspercall=%.1f real=%lld\n", getpid(), ns, (long long)ts.tv_sec);
		if (write(1, buf, k) < 0)
			exit(1);
		usleep(100000);
	}
}

static void kill_on_clock_syscall(void) {
#ifndef HAVE_SECCOMP
	fprintf(stderr, "built without seccomp headers\n");
	exit(2);
#else
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("seccomp");
		exit(1);
	}
#endif
}

int main(int argc, char **argv) {
	int threads = 2, opt, benchmode = 0;
	while ((opt = getopt(argc, argv, "t:skb")) != -1) {
		switch (opt) {
		case 't': threads = atoi(optarg); break;
		case 's': spin = 1; break;
		case 'k': filtered = 1; kill_on_clock_syscall(); break;
		case 'b': benchmode = 1; break;
		default: return 2;
		}
	}
	if (benchmode)
		bench();
	signal(SIGUSR1, on_usr1);
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		pthread_create(&t, NULL, worker, NULL);
	}
	struct timespec pause = {0, 50000000};
	for (;;) {
		if (want_fork) {
			want_fork = 0;
			if (fork() == 0) {
				for (int i = 0; i < threads; i++) {
					pthread_t t;
					pthread_create(&t, NULL, worker, NULL);
				}
			}
		}
		line();
		nanosleep(&pause, NULL);
	}
}
