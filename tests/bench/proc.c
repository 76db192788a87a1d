/*
 * proc.c - the driver's children: spawn (fork + exec), the ready/go
 * handshake, collecting reports, bounded waits, and stopping them.
 *
 * Every child is in a registry from fork to reap; proc_kill_everything()
 * (failure paths, signals, exit) SIGKILLs and reaps whatever is left, and
 * each child also asks the kernel to SIGKILL it if the driver dies
 * (PR_SET_PDEATHSIG), so no run leaves a master or a node behind.  Every
 * wait here has a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static pid_t live[BENCH_MAX_CHILDREN * 2];
static int nlive;

static void live_add(pid_t pid)
{
	if (nlive < (int)(sizeof(live) / sizeof(live[0])))
		live[nlive++] = pid;
}

static void live_del(pid_t pid)
{
	for (int i = 0; i < nlive; i++)
		if (live[i] == pid) {
			live[i] = live[--nlive];
			return;
		}
}

/*
 * SIGKILL every child still registered, with whatever it started (each
 * child leads a process group of its own), and reap them.
 * Async-signal-safe (kill, waitpid, nanosleep): the driver's signal
 * handler calls it.  A killed
 * process can still take a moment to go; give up after about 5 s.
 */
void proc_kill_everything(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < nlive; i++)
		kill(-live[i], SIGKILL);
	for (int tries = 0; nlive > 0 && tries < 500; tries++) {
		for (int i = 0; i < nlive;) {
			pid_t r = waitpid(live[i], NULL, WNOHANG);

			if (r == live[i] || (r < 0 && errno == ECHILD))
				live[i] = live[--nlive];
			else
				i++;
		}
		if (nlive > 0)
			nanosleep(&tick, NULL);
	}
}

/* Make `from` the child's fd `to`, without close-on-exec. */
static void move_fd(int from, int to)
{
	if (from == to)
		fcntl(to, F_SETFD, 0);
	else
		dup2(from, to);
}

/*
 * The child's side of proc_spawn: pipes onto fixed descriptors,
 * environment, exec.  Only async-signal-safe-ish work (the driver is
 * single-threaded, so setenv is safe here).
 */
static __attribute__((noreturn)) void spawn_child(pid_t parent, int go_rd,
						  int out_wr,
						  char *const argv[],
						  char *const env[],
						  int is_master)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	setpgid(0, 0);
	move_fd(go_rd, STDIN_FILENO);
	if (is_master) {
		move_fd(out_wr, STDOUT_FILENO);
	} else {
		move_fd(out_wr, BENCH_REPORT_FD);
		dup2(STDERR_FILENO, STDOUT_FILENO);
	}
	signal(SIGPIPE, SIG_DFL);	/* the driver ignores it */
	/* Only the variables given reach a child: no stray shim, and the
	 * segment at its default address (the shim check relies on it). */
	unsetenv("LD_PRELOAD");
	unsetenv("DSM_MASTER");
	unsetenv("DSM_SHM");
	unsetenv("DSM_BASE");
	unsetenv("DSM_FAULT");	/* the *_sigsegv metrics set it */
	for (int i = 0; env && env[i]; i++) {
		char *eq = strchr(env[i], '=');

		if (eq) {
			*eq = '\0';
			setenv(env[i], eq + 1, 1);
			*eq = '=';
		}
	}
	execv(argv[0], argv);
	fprintf(stderr, "dsm-bench: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Start argv[0] (a path) as child `name`.  A role child gets the go pipe
 * on stdin, the report pipe on fd 3 and stderr for stdout; the master gets
 * the report pipe as stdout (its ready line).  env: "NAME=VALUE" strings
 * added to the environment.  0, or -1 after a message.
 */
int proc_spawn(struct child *c, const char *name, char *const argv[],
	       char *const env[], int is_master)
{
	int go[2], out[2];
	pid_t parent = getpid(), pid;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->go_fd = c->out_fd = -1;
	if (pipe2(go, O_CLOEXEC) < 0)
		goto err;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		goto err;
	}
	pid = fork();
	if (pid < 0) {
		close(go[0]);
		close(go[1]);
		close(out[0]);
		close(out[1]);
		goto err;
	}
	if (pid == 0)
		spawn_child(parent, go[0], out[1], argv, env, is_master);
	setpgid(pid, pid);	/* also here: no window where it is not */
	live_add(pid);
	close(go[0]);
	close(out[1]);
	c->pid = pid;
	c->go_fd = go[1];
	c->out_fd = out[0];
	return 0;
err:
	fprintf(stderr, "dsm-bench: starting %s: %s\n", name, strerror(errno));
	return -1;
}

/* Append what c's pipe has; EOF is recorded.  -1 on a read error. */
static int pull(struct child *c)
{
	uint8_t tmp[65536];
	ssize_t n = read(c->out_fd, tmp, sizeof(tmp));

	if (n < 0)
		return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	if (c->len + (size_t)n > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		uint8_t *nb;

		while (cap < c->len + (size_t)n)
			cap *= 2;
		nb = realloc(c->buf, cap);
		if (!nb)
			return -1;
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, tmp, (size_t)n);
	c->len += (size_t)n;
	return 0;
}

/* Poll the children's pipes until done(c) holds for all; bounded. */
static int pump(struct child *cs, int n, double timeout_s,
		int (*done)(const struct child *), const char *what)
{
	double deadline = now_ns() + timeout_s * 1e9;

	for (;;) {
		struct pollfd pfd[BENCH_MAX_CHILDREN];
		struct child *who[BENCH_MAX_CHILDREN];
		int k = 0, r;
		double left;

		for (int i = 0; i < n; i++) {
			if (done(&cs[i]))
				continue;
			if (cs[i].eof) {
				fprintf(stderr, "dsm-bench: %s closed its pipe "
					"before %s\n", cs[i].name, what);
				return -1;
			}
			pfd[k].fd = cs[i].out_fd;
			pfd[k].events = POLLIN;
			who[k++] = &cs[i];
		}
		if (k == 0)
			return 0;
		left = (deadline - now_ns()) / 1e6;
		if (left <= 0) {
			fprintf(stderr,
				"dsm-bench: timed out after %.0f s waiting "
				"for %s of %s\n",
				timeout_s, what, who[0]->name);
			return -1;
		}
		r = poll(pfd, (nfds_t)k, left > 1000 ? 1000 : (int)left + 1);
		if (r < 0 && errno != EINTR) {
			perror("dsm-bench: poll");
			return -1;
		}
		for (int i = 0; i < k && r > 0; i++)
			if (pfd[i].revents && pull(who[i]) < 0) {
				fprintf(stderr,
					"dsm-bench: reading from %s: %s\n",
					who[i]->name, strerror(errno));
				return -1;
			}
	}
}

static int is_ready(const struct child *c)
{
	return c->len >= BENCH_READY_LEN;
}

static int is_eof(const struct child *c)
{
	return c->eof;
}

/* Wait until every child sent its ready message; sets ready_value. */
int proc_ready_all(struct child *cs, int n, double timeout_s)
{
	if (pump(cs, n, timeout_s, is_ready, "its ready message") < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (cs[i].buf[0] != 'R') {
			fprintf(stderr,
				"dsm-bench: %s sent a bad ready message\n",
				cs[i].name);
			return -1;
		}
		memcpy(&cs[i].ready_value, cs[i].buf + 1, sizeof(uint32_t));
		cs[i].ready = 1;
	}
	return 0;
}

/* Release every child at (nearly) the same moment. */
int proc_go_all(struct child *cs, int n)
{
	for (int i = 0; i < n; i++)
		if (write_full(cs[i].go_fd, "G", 1) < 0) {
			fprintf(stderr, "dsm-bench: go to %s: %s\n", cs[i].name,
				strerror(errno));
			return -1;
		}
	return 0;
}

/* Read every child's report until its pipe closes. */
int proc_collect_all(struct child *cs, int n, double timeout_s)
{
	return pump(cs, n, timeout_s, is_eof, "its report");
}

static void describe_status(const struct child *c, char *out, size_t len)
{
	if (WIFEXITED(c->status))
		snprintf(out, len, "exit status %d", WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(out, len, "signal %d (%s)", WTERMSIG(c->status),
			 strsignal(WTERMSIG(c->status)));
	else
		snprintf(out, len, "status 0x%x", (unsigned)c->status);
}

static void close_fds(struct child *c)
{
	if (c->go_fd >= 0)
		close(c->go_fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->go_fd = c->out_fd = -1;
}

/* waitpid with a deadline; 1 reaped, 0 still running. */
static int reap_until(struct child *c, double deadline)
{
	struct timespec tick = { 0, 2 * 1000 * 1000 };

	while (c->pid > 0) {
		struct rusage ru;
		pid_t r = wait4(c->pid, &c->status, WNOHANG, &ru);

		if (r == c->pid)
			c->cpu_s = (double)ru.ru_utime.tv_sec +
				   ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec +
				   ru.ru_stime.tv_usec / 1e6;
		if (r == c->pid || (r < 0 && errno == ECHILD)) {
			live_del(c->pid);
			c->pid = 0;
			return 1;
		}
		if (now_ns() >= deadline)
			return 0;
		nanosleep(&tick, NULL);
	}
	return 1;
}

/*
 * Wait for every child to exit (they have reported), bounded.  -1 if one
 * did not exit in time (it is killed) or exited with a failure.
 */
int proc_reap_all(struct child *cs, int n, double timeout_s)
{
	double deadline = now_ns() + timeout_s * 1e9;
	int rc = 0;

	for (int i = 0; i < n; i++) {
		char st[64];

		close_fds(&cs[i]);
		if (!reap_until(&cs[i], deadline)) {
			fprintf(stderr,
				"dsm-bench: %s did not exit within %.0f s "
				"after reporting; killing it\n",
				cs[i].name, timeout_s);
			proc_stop(&cs[i], 1);
			rc = -1;
			continue;
		}
		if (!WIFEXITED(cs[i].status) ||
		    WEXITSTATUS(cs[i].status) != 0) {
			describe_status(&cs[i], st, sizeof(st));
			fprintf(stderr, "dsm-bench: %s failed (%s)\n",
				cs[i].name, st);
			rc = -1;
		}
	}
	return rc;
}

/*
 * Stop one child: close its stdin (servers exit on that), SIGTERM, then
 * SIGKILL once timeout_s passed; always reaped.  Whatever it started in its
 * process group is killed too.
 */
void proc_stop(struct child *c, double timeout_s)
{
	pid_t pgid;

	if (c->pid <= 0) {
		close_fds(c);
		return;
	}
	if (c->go_fd >= 0) {
		close(c->go_fd);
		c->go_fd = -1;
	}
	pgid = c->pid;
	kill(pgid, SIGTERM);
	if (!reap_until(c, now_ns() + timeout_s * 1e9)) {
		kill(-pgid, SIGKILL);
		if (!reap_until(c, now_ns() + 5e9))
			fprintf(stderr,
				"dsm-bench: %s (pid %d) survives SIGKILL\n",
				c->name, (int)c->pid);
	}
	kill(-pgid, SIGKILL);	/* anything it left behind in its group */
	close_fds(c);
}

static void stop_all(struct child *cs, int n)
{
	for (int i = 0; i < n; i++)
		proc_stop(&cs[i], 2);
}

/* The report in c's bytes (after the ready message), checked. */
int proc_result(const struct child *c, struct result *r)
{
	const uint8_t *p = c->buf + BENCH_READY_LEN;
	size_t len = c->len - BENCH_READY_LEN;

	memset(r, 0, sizeof(*r));
	if (c->len < BENCH_READY_LEN || len < sizeof(r->h)) {
		fprintf(stderr, "dsm-bench: %s sent no report\n", c->name);
		return -1;
	}
	memcpy(&r->h, p, sizeof(r->h));
	if (r->h.magic != BENCH_MAGIC ||
	    len != sizeof(r->h) + (size_t)r->h.n * sizeof(double)) {
		fprintf(stderr, "dsm-bench: %s sent a malformed report\n",
			c->name);
		return -1;
	}
	r->s = malloc((r->h.n ? r->h.n : 1) * sizeof(double));
	if (!r->s) {
		fprintf(stderr, "dsm-bench: out of memory for %s's samples\n",
			c->name);
		return -1;
	}
	memcpy(r->s, p + sizeof(r->h), (size_t)r->h.n * sizeof(double));
	r->cpu_s = c->cpu_s;
	return 0;
}

static void free_bufs(struct child *cs, int n)
{
	for (int i = 0; i < n; i++) {
		free(cs[i].buf);
		cs[i].buf = NULL;
	}
}

/* CPU time (user + system, all threads) process pid used so far; -1 if
 * unknown.  Clock-tick resolution (10 ms): for windows of seconds. */
double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (!p ||
	    sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * n role children started together: spawn all, wait until all are ready,
 * go, collect the reports, reap.  rs[i] gets child i's report.  If watch
 * is a pid (the master, a server), *watch_cpu gets the CPU time it used
 * between go and the last report.  0, or -1 after messages, with every
 * child stopped and nothing allocated in rs.
 */
int proc_run_many(const struct bench_cfg *cfg, const char *name, int n,
		  char *const *argvs[], struct result *rs, pid_t watch,
		  double *watch_cpu)
{
	double cpu0 = -1;
	struct child cs[BENCH_MAX_CHILDREN];
	int started = 0, i;

	if (n > BENCH_MAX_CHILDREN)
		return -1;
	for (i = 0; i < n; i++) {
		char cname[32];

		snprintf(cname, sizeof(cname), n > 1 ? "%s#%d" : "%s", name, i);
		if (proc_spawn(&cs[i], cname, argvs[i], NULL, 0) < 0)
			goto fail;
		started++;
	}
	if (proc_ready_all(cs, n, cfg->timeout_s) < 0)
		goto fail;
	if (watch > 0)
		cpu0 = proc_cpu_s(watch);
	if (proc_go_all(cs, n) < 0 ||
	    proc_collect_all(cs, n, cfg->timeout_s) < 0)
		goto fail;
	if (watch > 0 && watch_cpu)
		*watch_cpu = cpu0 < 0 ? -1 : proc_cpu_s(watch) - cpu0;
	if (proc_reap_all(cs, n, cfg->timeout_s) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (proc_result(&cs[i], &rs[i]) < 0) {
			while (i-- > 0)
				free(rs[i].s);
			started = n;
			goto fail;
		}
	free_bufs(cs, n);
	return 0;
fail:
	stop_all(cs, started);
	free_bufs(cs, started);
	return -1;
}

/* One role child, with extra environment (the shim's); see above. */
int proc_run(const struct bench_cfg *cfg, const char *name, char *const argv[],
	     char *const env[], struct result *r)
{
	struct child c;

	if (proc_spawn(&c, name, argv, env, 0) < 0)
		return -1;
	if (proc_ready_all(&c, 1, cfg->timeout_s) < 0 ||
	    proc_go_all(&c, 1) < 0 ||
	    proc_collect_all(&c, 1, cfg->timeout_s) < 0 ||
	    proc_reap_all(&c, 1, cfg->timeout_s) < 0 ||
	    proc_result(&c, r) < 0) {
		proc_stop(&c, 2);
		free(c.buf);
		return -1;
	}
	free(c.buf);
	return 0;
}

/*
 * Start build/dsm-master on loopback with a free port and wait (bounded)
 * for "dsm-master: listening on ADDR:PORT size BYTES".  0 with *port set,
 * or -1 after a message (the master stopped).
 */
int proc_master_start(const struct bench_cfg *cfg, struct child *m,
		      uint64_t size, uint16_t *port)
{
	char sz[32], *nl, *colon, *sp;
	char *argv[] = { (char *)cfg->master_bin, "--size", sz, "--port", "0",
			 "--listen", BENCH_HOST, "--log-level", "warn", NULL };
	const char *prefix = "dsm-master: listening on ";
	double deadline = now_ns() + 10e9;
	unsigned long p;

	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	if (proc_spawn(m, "dsm-master", argv, NULL, 1) < 0)
		return -1;
	while (!(m->buf && memchr(m->buf, '\n', m->len))) {
		struct pollfd pfd = { .fd = m->out_fd, .events = POLLIN };
		double left = (deadline - now_ns()) / 1e6;

		if (left <= 0 || m->eof) {
			fprintf(stderr, "dsm-bench: dsm-master (%s) %s\n",
				cfg->master_bin,
				m->eof ? "exited before it was ready"
				       : "printed no ready line within 10 s");
			goto fail;
		}
		if (poll(&pfd, 1, (int)left + 1) > 0 && pull(m) < 0)
			goto fail;
	}
	nl = memchr(m->buf, '\n', m->len);
	*nl = '\0';
	colon = NULL;
	sp = strstr((char *)m->buf, " size ");
	if (strncmp((char *)m->buf, prefix, strlen(prefix)) == 0 && sp) {
		*sp = '\0';
		colon = strrchr((char *)m->buf, ':');
	}
	if (!colon || (p = strtoul(colon + 1, NULL, 10)) == 0 || p > 65535) {
		fprintf(stderr,
			"dsm-bench: unexpected ready line from dsm-master: "
			"'%s'\n",
			(char *)m->buf);
		goto fail;
	}
	*port = (uint16_t)p;
	free(m->buf);
	m->buf = NULL;
	m->len = m->cap = 0;
	return 0;
fail:
	proc_stop(m, 2);
	free(m->buf);
	m->buf = NULL;
	return -1;
}

/* SIGTERM the master (it tells its nodes and exits 0); -1 if it did not. */
int proc_master_stop(struct child *m, double timeout_s)
{
	proc_stop(m, timeout_s);
	free(m->buf);
	m->buf = NULL;
	if (!WIFEXITED(m->status) || WEXITSTATUS(m->status) != 0) {
		char st[64];

		describe_status(m, st, sizeof(st));
		fprintf(stderr, "dsm-bench: dsm-master ended with %s\n", st);
		return -1;
	}
	return 0;
}
