#!/usr/bin/env bats
# Multi-host runs: the master and each node on a host of its own - network
# namespaces joined by a private bridge (scripts/dsm-netns).  Root only; the
# tests skip with the reason elsewhere.

load helpers

BATS_TEST_TIMEOUT=$((180 * DSM_SLOW))

setup() {
	dsm_setup
	COUNTER=$(scenario counter)
}

@test "dsm-netns: up gives each host an address, down removes everything" {
	dsm_netns_up 3
	run -0 "$DSM_ROOT/scripts/dsm-netns" list "$DSM_NS"
	assert_equal "${#lines[@]}" 3
	assert_line "${DSM_NS}0 10.77.0.1"
	assert_line "${DSM_NS}2 10.77.0.3"
	run -0 ip -n "${DSM_NS}1" -o -4 addr show dev eth0
	assert_output --partial 10.77.0.2/24
	run -0 ip -n "${DSM_NS}1" -o link show lo
	assert_output --partial 'UP'
	"$DSM_ROOT/scripts/dsm-netns" down "$DSM_NS" 3
	run -0 ip netns list
	refute_output --partial "$DSM_NS"
}

@test "counter: master and 3 nodes on 4 hosts, 3 x 1000 = 3000" {
	dsm_netns_up 4
	# Not on loopback: the master needs a secret, and so do the nodes.
	dsm_secret_file DSM_SECRET_FILE
	export DSM_SECRET_FILE
	MASTER_NETNS=${DSM_NS}0 start_master --size 1M --listen "${NS_ADDR[0]}" \
		--secret-file "$DSM_SECRET_FILE"
	assert_equal "$MASTER_ADDR" "${NS_ADDR[0]}"
	local k
	for k in 1 2 3; do
		start_node "node$k" ip netns exec "$DSM_NS$k" \
			"$COUNTER" "${NS_ADDR[0]}" "$MASTER_PORT" 1000 \
			--wait-total 3000 --timeout $((120 * DSM_SLOW))
	done
	for k in 1 2 3; do
		wait_node "node$k" $((150 * DSM_SLOW))
		run -0 cat "$(log_of "node$k")"
		assert_line "counter: value 3000"
	done
	start_node checker ip netns exec "${DSM_NS}2" "$COUNTER" "${NS_ADDR[0]}" "$MASTER_PORT" 0 --print
	wait_node checker
	run -0 cat "$(log_of checker)"
	assert_line "counter: value 3000"
}

@test "a host that cannot reach the master fails init_slave clearly" {
	dsm_netns_up 2
	MASTER_NETNS=${DSM_NS}0 start_master --size 1M --listen "${NS_ADDR[0]}" \
		--insecure
	# Cut host 1 off: its interface goes down, so connecting fails.
	ip -n "${DSM_NS}1" link set eth0 down
	start_node node ip netns exec "${DSM_NS}1" "$COUNTER" "${NS_ADDR[0]}" "$MASTER_PORT" 1
	wait_node node $((30 * DSM_SLOW)) 1
	run -0 cat "$(log_of node)"
	assert_line --regexp '^counter: init_slave: .+ \(-[0-9]+\)$'
}
