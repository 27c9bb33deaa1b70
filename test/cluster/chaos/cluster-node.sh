#!/usr/bin/env bash
# One node of the loopback cluster (deploy/local/cluster/lib.sh), for the chaos test:
#   cluster-node.sh kill <svc>    SIGKILL the node's whole process group (no shutdown hook runs)
#   cluster-node.sh start <svc>   start it again on its own data and wait until it answers
# <svc> is a service name of the cluster: kafka-2, ch-3, redis-1, ...
source "$(dirname "${BASH_SOURCE[0]}")/../../../deploy/local/cluster/lib.sh"
action="${1:-}" svc="${2:-}"
[[ " ${SERVICES[*]} " == *" $svc "* ]] || die "unknown cluster service '$svc' (one of: ${SERVICES[*]})"
case "$action" in
  kill)
    pid="$(running_pid "$svc")" || die "$svc is not running"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    for _ in $(seq 1 40); do group_alive "$pid" || break; sleep 0.25; done
    rm -f "$(pid_file "$svc")"
    log "killed $svc (pid $pid)"
    ;;
  start)
    running_pid "$svc" >/dev/null && die "$svc is already running"
    start_service "$svc"
    wait_until_answers "$svc" 120 || die "$svc failed to start; see $LOG_DIR"
    ;;
  *) die "usage: cluster-node.sh kill|start <service>" ;;
esac
