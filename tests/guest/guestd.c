/*
 * guestd: the service inside vmfabric's test guest (see README.md).
 *
 *   UDP 7000  echo: every datagram goes back to its sender unchanged. Clients put a
 *             sequence number in the first 8 bytes (big-endian) and check the replies
 *             for loss and duplicates; guestd only counts.
 *   TCP 7001  echo: every line (up to '\n') a connection sends comes back on it; nothing
 *             else is ever written, so a client can keep a connection open across a
 *             migration and check it still works.
 *   UDP 7002  control, one command per datagram, one answer datagram:
 *               dirty MB RATE [touch|fill]  start (or restart) a thread that allocates MB
 *                                  MiB and rewrites it over and over at about RATE MiB/s
 *                                  (0 = as fast as it can). touch (default) writes one
 *                                  word per 4 KiB page, fill rewrites every byte; either
 *                                  way each page written is dirty for migration.
 *                                  Answer "ok" or "error: ...".
 *               stop               stop the dirtying thread, free its memory; "ok"
 *               check              stop the dirtying thread, check that every page holds
 *                                  what the thread last wrote there, free the memory:
 *                                  "ok N pages" or "error: M of N pages stale now, K stale
 *                                  pages met while dirtying". The thread also checks each
 *                                  page before it rewrites it, so a write lost (e.g. by a
 *                                  migration that missed a dirty page) is seen even when
 *                                  the page has been rewritten since.
 *               stats              "udp_rx=N udp_tx=N tcp_conns=N tcp_bytes=N
 *                                  dirty_mib=N dirty_rate=N dirtied_mib=N passes=N
 *                                  stale_pages=N"
 *               ping               "pong"
 *
 * It prints "guestd: ready" on stdout (the serial console) once every socket is bound,
 * and creates the file given with -r (if any) at the same moment.
 *
 * Built static (gcc -static -O2 -pthread), no other dependency.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UDP_ECHO_PORT 7000
#define TCP_ECHO_PORT 7001
#define CTL_PORT 7002
#define PAGE 4096u
#define MIB (1024u * 1024u)
#define LINE_MAX_LEN 65536

static atomic_ullong udp_rx, udp_tx, tcp_conns, tcp_bytes;
static atomic_ullong dirtied_mib, dirty_passes, stale_seen;

static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("guestd: ", stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

static int bound_socket(int type, uint16_t port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		/* Past net.core.rmem_max (guestd runs as root): a TCG guest stalls for tens of
		 * milliseconds at times, and a held queue is released in one burst; both must
		 * fit in the socket rather than be dropped by the guest's kernel. */
		int buf = 16 << 20;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- UDP echo ---- */

static void *udp_echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[65536];
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("udp echo: recvfrom: %s", strerror(errno));
			sleep_s(0.1);
			continue;
		}
		atomic_fetch_add(&udp_rx, 1);
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) == n)
			atomic_fetch_add(&udp_tx, 1);
	}
	return NULL;
}

/* ---- TCP line echo ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *tcp_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *line = malloc(LINE_MAX_LEN);
	size_t len = 0;
	char buf[4096];
	if (!line)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		atomic_fetch_add(&tcp_bytes, (unsigned long long)n);
		for (ssize_t i = 0; i < n; i++) {
			line[len++] = buf[i];
			/* A line longer than the buffer goes back in pieces. */
			if (buf[i] == '\n' || len == LINE_MAX_LEN) {
				if (write_all(fd, line, len) < 0)
					goto out;
				len = 0;
			}
		}
	}
	/* What is left without a newline when the peer closes goes back too. */
	if (len > 0)
		write_all(fd, line, len);
out:
	free(line);
	close(fd);
	return NULL;
}

static void *tcp_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				sleep_s(0.05);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_fetch_add(&tcp_conns, 1);
		pthread_t t;
		if (pthread_create(&t, &attr, tcp_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
	return NULL;
}

/* ---- memory dirtying ---- */

struct dirty_job {
	unsigned char *mem;
	size_t bytes;
	double rate_mib; /* 0: unpaced */
	int fill;
	atomic_int stop;
	uint64_t stamp;	  /* the pass being written (1, 2, ...) */
	size_t pass_done; /* bytes of the current pass written */
};

static pthread_mutex_t dirty_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dirty_job *dirty_cur;
static pthread_t dirty_thread;
static unsigned dirty_mib_cur, dirty_rate_cur;

/* Each pass writes its number (stamp) into every page: touch mode as the first word of
 * the page, fill mode into every byte (its low 8 bits). Before overwriting a page the
 * thread checks that it still holds the previous pass's stamp: a page that does not has
 * lost a write (stale_seen), e.g. to a migration that missed a dirty page. */
static void *dirty_run(void *arg)
{
	struct dirty_job *j = arg;
	uint64_t stamp = 0;
	double start = now_s();
	uint64_t done_mib = 0;
	while (!atomic_load(&j->stop)) {
		stamp++;
		j->stamp = stamp;
		j->pass_done = 0;
		for (size_t off = 0; off < j->bytes && !atomic_load(&j->stop); off += MIB) {
			size_t end = off + MIB < j->bytes ? off + MIB : j->bytes;
			unsigned long long stale = 0;
			if (j->fill) {
				unsigned char prev = (unsigned char)((stamp - 1) & 0xff);
				for (size_t p = off; p < end; p += PAGE)
					if (((volatile unsigned char *)j->mem)[p] != prev ||
					    ((volatile unsigned char *)j->mem)[p + PAGE - 1] != prev)
						stale++;
				memset(j->mem + off, (int)(stamp & 0xff), end - off);
			} else {
				for (size_t p = off; p < end; p += PAGE) {
					volatile uint64_t *w = (volatile uint64_t *)(j->mem + p);
					if (*w != stamp - 1)
						stale++;
					*w = stamp;
				}
			}
			if (stale)
				atomic_fetch_add(&stale_seen, stale);
			j->pass_done = end;
			done_mib++;
			atomic_fetch_add(&dirtied_mib, 1);
			if (j->rate_mib > 0)
				sleep_s(start + (double)done_mib / j->rate_mib - now_s());
		}
		atomic_fetch_add(&dirty_passes, 1);
	}
	return NULL;
}

/* The stamp page p holds (0: never written). */
static uint64_t page_stamp(const struct dirty_job *j, size_t p, int *torn)
{
	const unsigned char *m = j->mem + p;
	if (!j->fill)
		return *(const volatile uint64_t *)m;
	for (size_t i = 1; i < PAGE; i++)
		if (m[i] != m[0])
			*torn = 1;
	return m[0];
}

/* After the thread stopped: pages before pass_done hold the current pass's stamp, the
 * rest the previous one's. Returns the number of pages that do not. */
static size_t dirty_verify(const struct dirty_job *j, size_t *pages)
{
	size_t bad = 0;
	*pages = j->bytes / PAGE;
	for (size_t p = 0; p < j->bytes; p += PAGE) {
		uint64_t want = p < j->pass_done ? j->stamp : j->stamp - 1;
		if (j->fill)
			want &= 0xff;
		int torn = 0;
		if (page_stamp(j, p, &torn) != want || torn)
			bad++;
	}
	return bad;
}

static void dirty_stop_locked(int verify, char *answer, size_t alen)
{
	if (!dirty_cur) {
		if (verify)
			snprintf(answer, alen, "error: not dirtying");
		return;
	}
	atomic_store(&dirty_cur->stop, 1);
	pthread_join(dirty_thread, NULL);
	if (verify) {
		size_t pages, bad = dirty_verify(dirty_cur, &pages);
		unsigned long long seen = atomic_exchange(&stale_seen, 0);
		if (bad || seen)
			snprintf(answer, alen, "error: %zu of %zu pages stale now, %llu stale pages met while dirtying",
				 bad, pages, seen);
		else
			snprintf(answer, alen, "ok %zu pages", pages);
		logmsg("check: %zu of %zu pages stale now, %llu met while dirtying", bad, pages, seen);
	}
	munmap(dirty_cur->mem, dirty_cur->bytes);
	free(dirty_cur);
	dirty_cur = NULL;
	dirty_mib_cur = dirty_rate_cur = 0;
}

static void dirty_start(unsigned mib, unsigned rate, int fill, char *answer, size_t alen)
{
	pthread_mutex_lock(&dirty_lock);
	dirty_stop_locked(0, NULL, 0);
	struct dirty_job *j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(answer, alen, "error: out of memory");
		goto out;
	}
	j->bytes = (size_t)mib * MIB;
	j->rate_mib = rate;
	j->fill = fill;
	/* MAP_POPULATE: the memory is really there (and counted) before the answer. */
	j->mem = mmap(NULL, j->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		      -1, 0);
	if (j->mem == MAP_FAILED) {
		snprintf(answer, alen, "error: cannot allocate %u MiB: %s", mib, strerror(errno));
		free(j);
		goto out;
	}
	if (pthread_create(&dirty_thread, NULL, dirty_run, j) != 0) {
		snprintf(answer, alen, "error: cannot start the thread");
		munmap(j->mem, j->bytes);
		free(j);
		goto out;
	}
	dirty_cur = j;
	dirty_mib_cur = mib;
	dirty_rate_cur = rate;
	snprintf(answer, alen, "ok");
	if (rate)
		logmsg("dirtying %u MiB at %u MiB/s (%s)", mib, rate, fill ? "fill" : "touch");
	else
		logmsg("dirtying %u MiB as fast as it can (%s)", mib, fill ? "fill" : "touch");
out:
	pthread_mutex_unlock(&dirty_lock);
}

static void control(const char *cmd, char *answer, size_t alen)
{
	unsigned mib, rate;
	char mode[16] = "touch";
	int n;
	if (sscanf(cmd, "dirty %u %u %15s", &mib, &rate, mode) >= 2) {
		if (mib == 0 || mib > 65536)
			snprintf(answer, alen, "error: MB must be 1..65536");
		else if (strcmp(mode, "touch") != 0 && strcmp(mode, "fill") != 0)
			snprintf(answer, alen, "error: mode is touch or fill");
		else
			dirty_start(mib, rate, strcmp(mode, "fill") == 0, answer, alen);
	} else if (strcmp(cmd, "stop") == 0) {
		pthread_mutex_lock(&dirty_lock);
		int was = dirty_cur != NULL;
		dirty_stop_locked(0, NULL, 0);
		pthread_mutex_unlock(&dirty_lock);
		if (was)
			logmsg("dirtying stopped");
		snprintf(answer, alen, "ok");
	} else if (strcmp(cmd, "check") == 0) {
		pthread_mutex_lock(&dirty_lock);
		dirty_stop_locked(1, answer, alen);
		pthread_mutex_unlock(&dirty_lock);
	} else if (strcmp(cmd, "stats") == 0) {
		pthread_mutex_lock(&dirty_lock);
		n = snprintf(answer, alen,
			     "udp_rx=%llu udp_tx=%llu tcp_conns=%llu tcp_bytes=%llu dirty_mib=%u dirty_rate=%u "
			     "dirtied_mib=%llu passes=%llu stale_pages=%llu",
			     atomic_load(&udp_rx), atomic_load(&udp_tx), atomic_load(&tcp_conns),
			     atomic_load(&tcp_bytes), dirty_mib_cur, dirty_rate_cur, atomic_load(&dirtied_mib),
			     atomic_load(&dirty_passes), atomic_load(&stale_seen));
		(void)n;
		pthread_mutex_unlock(&dirty_lock);
	} else if (strcmp(cmd, "ping") == 0) {
		snprintf(answer, alen, "pong");
	} else {
		snprintf(answer, alen, "error: unknown command (dirty MB RATE [touch|fill], stop, check, stats, ping)");
	}
}

static void *ctl_loop(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[512], answer[512];
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno != EINTR)
				sleep_s(0.1);
			continue;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			n--;
		buf[n] = 0;
		control(buf, answer, sizeof(answer));
		sendto(fd, answer, strlen(answer), 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *ready_file = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "r:")) != -1) {
		if (opt == 'r') {
			ready_file = optarg;
		} else {
			fprintf(stderr, "usage: guestd [-r READY_FILE]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	int ufd = bound_socket(SOCK_DGRAM, UDP_ECHO_PORT);
	int tfd = bound_socket(SOCK_STREAM, TCP_ECHO_PORT);
	int cfd = bound_socket(SOCK_DGRAM, CTL_PORT);
	if (ufd < 0 || tfd < 0 || cfd < 0) {
		logmsg("cannot bind ports %d/%d/%d: %s", UDP_ECHO_PORT, TCP_ECHO_PORT, CTL_PORT, strerror(errno));
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, udp_echo, (void *)(intptr_t)ufd) != 0 ||
	    pthread_create(&t, NULL, tcp_accept, (void *)(intptr_t)tfd) != 0) {
		logmsg("cannot start threads");
		return 1;
	}
	if (ready_file) {
		int fd = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	logmsg("ready (udp echo %d, tcp echo %d, control %d)", UDP_ECHO_PORT, TCP_ECHO_PORT, CTL_PORT);
	ctl_loop((void *)(intptr_t)cfd);
	return 0;
}
