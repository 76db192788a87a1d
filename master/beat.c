/*
 * beat.c - the master's heartbeat (docs/PROTOCOL.md "Heartbeat").
 *
 * Once every DSM_PING_INTERVAL_MS the loop sends PING? to every joined
 * node, so that a node hears from its master at least that often and can
 * tell a stopped or cut-off master from a quiet one (DSM_TIMEOUT).  A node
 * answers PING!; one from which nothing at all has come for the timeout
 * (--timeout) is lost exactly as if its connection had closed: its locks
 * and waits are freed for the others.  TCP alone notices neither a stopped
 * process (its kernel still acknowledges) nor, for a long time, a cut link
 * without data in flight.
 */
#include <stdio.h>

#include "dsm_log.h"
#include "master_int.h"

void mbeat_init(struct master *m, unsigned timeout_s)
{
	m->timeout_ms = (int64_t)(timeout_s ? timeout_s :
				  DSM_DEFAULT_TIMEOUT_S) * 1000;
	m->next_beat_ms = mmaster_now_ms() + DSM_PING_INTERVAL_MS;
}

/*
 * Called by every loop pass with the current time; does something once per
 * interval (loop_timeout wakes the loop for it).  A node's last_rx_ms is
 * set at join (mconn_new) and by every recv that brings bytes (io.c).
 */
void mbeat_tick(struct master *m, int64_t now)
{
	char why[96];

	int late;

	if (now < m->next_beat_ms)
		return;
	/* Far behind schedule: this process was stopped or starved, not the
	 * nodes; nobody's silence can be judged on this round. */
	late = now - m->next_beat_ms > DSM_PING_INTERVAL_MS;
	if (late)
		dsm_info("the master loop did not run for %lld ms (stopped?); "
			 "restarting every node's --timeout period",
			 (long long)(now - m->next_beat_ms +
				     DSM_PING_INTERVAL_MS));
	m->next_beat_ms = now + DSM_PING_INTERVAL_MS;
	for (struct mconn *c = m->conns; c; c = c->next) {
		if (c->state != MC_JOINED || c->doomed)
			continue;
		if (late)
			c->last_rx_ms = now;
		if (now - c->last_rx_ms >= m->timeout_ms) {
			snprintf(why, sizeof(why), "silent for %lld ms "
				 "(--timeout %lld s)",
				 (long long)(now - c->last_rx_ms),
				 (long long)(m->timeout_ms / 1000));
			mconn_lost(m, c, why);
			continue;
		}
		mio_send(m, c, K_PINGQ, 0, NULL, 0);
	}
}
