/*
 * main.c - dsm-master, the standalone master.
 *
 *   dsm-master --size SIZE --port PORT [--listen ADDR] [--base ADDR]
 *              [--secret-file FILE] [--insecure] [--timeout SECS]
 *              [--store FILE [--sync none|release|interval]]
 *              [--stats-interval SECS] [--log-level error|warn|info|debug]
 *
 * Prints "dsm-master: listening on ADDR:PORT size BYTES" on stdout once it
 * accepts nodes (scripts wait for that line), runs until SIGINT/SIGTERM,
 * then tells every node (RELEA) and exits 0.  Bad arguments: exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm.h"
#include "dsm_log.h"
#include "dsm_master.h"
#include "dsm_wire.h"

#define VERSION "0.1.0"

static struct master *the_master;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dsm-master --size SIZE --port PORT [--listen ADDR] "
		"[--base ADDR]\n"
		"                  [--secret-file FILE] [--insecure] "
		"[--timeout SECS]\n"
		"                  [--store FILE [--sync none|release|interval]]\n"
		"                  [--stats-interval SECS] "
		"[--log-level error|warn|info|debug]\n"
		"\n"
		"Serve one distributed shared memory segment to dsm nodes.\n"
		"\n"
		"  --size SIZE       segment size in bytes; K, M, G suffixes "
		"(1024-based);\n"
		"                    rounded up to whole pages\n"
		"  --port PORT       TCP port to listen on; 0 picks a free "
		"one\n"
		"  --listen ADDR     address to listen on (default "
		"127.0.0.1)\n"
		"  --base ADDR       hex virtual address every node maps the "
		"segment at,\n"
		"                    page-aligned (default $DSM_BASE, else "
		"0x%llx)\n"
		"  --secret-file F   nodes must prove they know the secret in F\n"
		"                    (HMAC-SHA256 challenge-response; "
		"docs/SECURITY.md)\n"
		"  --insecure        allow a non-loopback --listen without a "
		"secret\n"
		"  --timeout SECS    a node silent this long is lost (default "
		"%u)\n"
		"  --store FILE      keep the segment in FILE: a restart with the "
		"same\n"
		"                    FILE keeps every released byte\n"
		"  --sync POLICY     when the store is written back: none "
		"(default),\n"
		"                    release (every release) or interval "
		"(every second)\n"
		"  --stats-interval S  print a statistics summary line on "
		"stderr every S\n"
		"                    seconds, whatever the log level "
		"(dsm-stat shows more)\n"
		"  --log-level LVL   error, warn (default), info or debug\n"
		"  --help            this text\n"
		"  --version         version, protocol and ARCHI\n"
		"\n"
		"Prints \"dsm-master: listening on ADDR:PORT size BYTES\" when "
		"ready.\n"
		"SIGINT/SIGTERM: every node is told (RELEA), exit 0.\n",
		(unsigned long long)DSM_DEFAULT_BASE, DSM_DEFAULT_TIMEOUT_S);
}

static void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "dsm-master: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'dsm-master --help'.\n");
	exit(2);
}

/* "64M" -> 67108864; -1 on syntax errors or overflow. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -1;
	*out = v * mul;
	return 0;
}

/* Hex address with or without 0x; -1 on syntax errors. */
static int parse_hex(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 16);
	return errno || end == s || *end != '\0' ? -1 : 0;
}

static void on_signal(int sig)
{
	(void)sig;
	master_stop(the_master);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "base", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "secret-file", required_argument, NULL, 'S' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "store", required_argument, NULL, 'F' },
		{ "sync", required_argument, NULL, 'Y' },
		{ "stats-interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct master_config cfg;
	const char *base_text = NULL, *env;
	uint64_t size = 0, base = DSM_DEFAULT_BASE, port = 0, timeout = 0;
	uint64_t interval;
	long page = sysconf(_SC_PAGESIZE);
	int have_size = 0, have_port = 0, have_sync = 0, opt, err = 0, rc;
	struct sigaction sa;
	sigset_t mask;

	dsm_log_set_prefix("dsm-master");
	memset(&cfg, 0, sizeof(cfg));
	cfg.listen_addr = "127.0.0.1";
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 's':
			if (parse_size(optarg, &size) < 0 || size == 0)
				bad_usage("--size '%s': expected a positive "
					  "number of bytes, optionally with K, "
					  "M or G", optarg);
			have_size = 1;
			break;
		case 'p':
			errno = 0;
			port = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || port > 65535 ||
			    optarg[0] == '-' || optarg[0] == '+')
				bad_usage("--port '%s': expected 0 to 65535",
					  optarg);
			have_port = 1;
			break;
		case 'l':
			if (!*optarg)
				bad_usage("--listen '%s': empty address",
					  optarg);
			cfg.listen_addr = optarg;
			break;
		case 'b':
			base_text = optarg;
			break;
		case 'L':
			dsm_log_level = dsm_log_parse_level(optarg);
			if (dsm_log_level < 0)
				bad_usage("--log-level '%s': expected error, "
					  "warn, info or debug", optarg);
			break;
		case 'S':
			if (!*optarg)
				bad_usage("--secret-file '%s': empty path", optarg);
			cfg.secret_file = optarg;
			break;
		case 'I':
			cfg.insecure = 1;
			break;
		case 'T':
			errno = 0;
			timeout = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || timeout == 0 ||
			    timeout > 86400 || optarg[0] == '-')
				bad_usage("--timeout '%s': expected 1 to 86400 "
					  "seconds", optarg);
			cfg.timeout_s = (unsigned)timeout;
			break;
		case 'F':
			if (!*optarg)
				bad_usage("--store '%s': empty path", optarg);
			cfg.store_path = optarg;
			break;
		case 'Y':
			if (strcmp(optarg, "none") == 0)
				cfg.sync_policy = MASTER_SYNC_NONE;
			else if (strcmp(optarg, "release") == 0)
				cfg.sync_policy = MASTER_SYNC_RELEASE;
			else if (strcmp(optarg, "interval") == 0)
				cfg.sync_policy = MASTER_SYNC_INTERVAL;
			else
				bad_usage("--sync '%s': expected none, release "
					  "or interval", optarg);
			have_sync = 1;
			break;
		case 'i':
			errno = 0;
			interval = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || interval == 0 ||
			    interval > 86400 || optarg[0] == '-' ||
			    optarg[0] == '+')
				bad_usage("--stats-interval '%s': expected 1 to "
					  "86400 seconds", optarg);
			cfg.stats_interval_s = (unsigned)interval;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dsm-master %s (protocol %u, ARCHI=%d)\n",
			       VERSION, DSM_PROTO_VERSION, DSM_ARCHI);
			return 0;
		default:
			bad_usage("unknown or incomplete option '%s'",
				  argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!have_size)
		bad_usage("%s--size is required", "");
	if (!have_port)
		bad_usage("%s--port is required", "");
	if (have_sync && !cfg.store_path)
		bad_usage("%s--sync needs --store", "");

	env = getenv("DSM_BASE");
	if (base_text) {
		if (parse_hex(base_text, &base) < 0 || base == 0)
			bad_usage("--base '%s': expected a non-zero hex "
				  "address", base_text);
	} else if (env && *env) {
		if (parse_hex(env, &base) < 0 || base == 0)
			bad_usage("DSM_BASE='%s': expected a non-zero hex "
				  "address", env);
	}
	if (page > 0 && base % (uint64_t)page != 0) {
		fprintf(stderr, "dsm-master: base address 0x%" PRIx64 " is not "
			"a multiple of the page size (%ld)\n", base, page);
		return 2;
	}
	if (page > 0 && size % (uint64_t)page)
		size += (uint64_t)page - size % (uint64_t)page;
	if ((DSM_LEN_BYTES == 4 && size > UINT32_MAX) || size > SIZE_MAX) {
		fprintf(stderr, "dsm-master: --size of %" PRIu64 " bytes does "
			"not fit this build's %u-byte lengths (ARCHI=%d): the "
			"largest segment is %llu bytes; rebuild with ARCHI=64\n",
			size, DSM_LEN_BYTES, DSM_ARCHI,
			(unsigned long long)(page > 0 ?
			UINT32_MAX / (uint64_t)page * (uint64_t)page :
			UINT32_MAX));
		return 2;
	}
	if (base > UINT64_MAX - size) {
		fprintf(stderr, "dsm-master: a %" PRIu64 "-byte segment at "
			"0x%" PRIx64 " would wrap around\n", size, base);
		return 2;
	}
	cfg.size = (size_t)size;
	cfg.port = (uint16_t)port;
	cfg.base = base;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	the_master = master_create(&cfg, &err);
	if (!the_master) {
		fprintf(stderr, "dsm-master: cannot start (%s)\n",
			err == DSM_EINVAL ? "invalid configuration" :
			err == DSM_ENOMEM ? "out of memory" :
			err == DSM_EBUSY ? "already in use; see above" :
			"system call failed; see above");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (strchr(master_listen_addr(the_master), ':'))
		printf("dsm-master: listening on [%s]:%u size %zu\n",
		       master_listen_addr(the_master), master_port(the_master),
		       master_size(the_master));
	else
		printf("dsm-master: listening on %s:%u size %zu\n",
		       master_listen_addr(the_master), master_port(the_master),
		       master_size(the_master));
	fflush(stdout);

	rc = master_run(the_master);
	/* No signal handler may see the master while it is freed. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	master_destroy(the_master);
	the_master = NULL;
	return rc == 0 ? 0 : 1;
}
