/*
 * main.c - dsm-bench's command line: the driver's options, or
 * `--role NAME ...` when the driver runs this program as one of its
 * children.
 *
 *   dsm-bench [--quick] [--json FILE] [--build DIR] [--only LIST]
 *             [--timeout SECS]
 *
 * dsm-master and libdsm_preload.so are taken from $DSM_MASTER_BIN and
 * $DSM_PRELOAD if set, else from --build DIR, else from $DSM_BUILD, else
 * from the folder this program is in (make puts it next to them).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dsm-bench [--quick] [--json FILE] [--build DIR] "
		"[--only LIST] [--timeout SECS]\n"
		"\n"
		"Start a dsm-master and nodes on loopback, measure the DSM against\n"
		"raw TCP, glibc and userfaultfd baselines, print a table and one\n"
		"line per metric:\n"
		"  RESULT <metric> <value> <unit> ratio=<r> target<=<t>|target>=<t> "
		"PASS|MISS\n"
		"\n"
		"  --quick         a reduced run (under 30 s)\n"
		"  --json FILE     also write every figure to FILE as JSON\n"
		"  --build DIR     where dsm-master and libdsm_preload.so are\n"
		"                  ($DSM_MASTER_BIN, $DSM_PRELOAD override)\n"
		"  --only LIST     only these metrics (comma-separated): read_miss,\n"
		"                  write_fault, lock_unlock, relock, handoff, scan,\n"
		"                  master_tput, shim_private_mutex\n"
		"  --timeout SECS  bound of each wait for a child (default 300)\n"
		"\n"
		"Exit status 0 when every metric was measured (whether or not it\n"
		"meets its target), 1 when a run failed, 2 on bad usage.\n");
}

static void on_signal(int sig)
{
	proc_kill_everything();
	_exit(128 + sig);
}

static void cleanup_at_exit(void)
{
	proc_kill_everything();
}

/* Stray pipe ends must never land on 0, 1 or 2. */
static void std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", O_RDWR);

			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

/* dir/file into buf (static storage: it lives as long as the run). */
static const char *path_in(char *buf, size_t len, const char *dir,
			   const char *file)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, file) >= len)
		fprintf(stderr, "dsm-bench: path too long: %s/%s\n", dir, file);
	return buf;
}

/* The whole command line, for the record (cut at the buffer's size). */
static const char *joined(int argc, char **argv)
{
	static char s[4096];
	size_t used = 0;

	for (int i = 0; i < argc && used < sizeof(s); i++)
		used += (size_t)snprintf(s + used, sizeof(s) - used, "%s%s",
					 i ? " " : "", argv[i]);
	return s;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "build", required_argument, NULL, 'b' },
		{ "only", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_cfg cfg = { .timeout_s = 300 };
	static char self[PATH_MAX], master[PATH_MAX], preload[PATH_MAX];
	const char *build = NULL;
	struct sigaction sa;
	ssize_t n;
	int opt;

	std_fds();
	if (argc >= 3 && strcmp(argv[1], "--role") == 0)
		return role_main(argc - 2, argv + 2);

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			cfg.quick = 1;
			break;
		case 'j':
			cfg.json = optarg;
			break;
		case 'b':
			build = optarg;
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 't':
			cfg.timeout_s = strtod(optarg, NULL);
			if (cfg.timeout_s <= 0) {
				fprintf(stderr,
					"dsm-bench: --timeout '%s': expected "
					"a positive number of seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dsm-bench: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("dsm-bench: readlink(/proc/self/exe)");
		return 1;
	}
	self[n] = '\0';
	cfg.self = self;
	if (!build)
		build = getenv("DSM_BUILD");
	if (!build || !*build) {
		char *slash = strrchr(self, '/');
		static char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - self), self);
		build = dir;
	}
	cfg.master_bin = getenv("DSM_MASTER_BIN");
	if (!cfg.master_bin || !*cfg.master_bin)
		cfg.master_bin = path_in(master, sizeof(master), build,
					 "dsm-master");
	cfg.preload = getenv("DSM_PRELOAD");
	if (!cfg.preload || !*cfg.preload)
		cfg.preload = path_in(preload, sizeof(preload), build,
				      "libdsm_preload.so");
	if (access(cfg.master_bin, X_OK) < 0) {
		fprintf(stderr,
			"dsm-bench: %s: %s (build it with 'make', or give "
			"--build DIR or DSM_MASTER_BIN)\n",
			cfg.master_bin, strerror(errno));
		return 2;
	}
	if (access(cfg.preload, R_OK) < 0) {
		fprintf(stderr,
			"dsm-bench: %s: %s (build it with 'make', or give "
			"--build DIR or DSM_PRELOAD)\n",
			cfg.preload, strerror(errno));
		return 2;
	}
	cfg.command = joined(argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup_at_exit);
	return driver_run(&cfg);
}
