# shellcheck shell=bash
# testbed hop path: sourced by ./testbed (functions only). docs/testbed.md ("Hop path").
#
#  * `hops N [censor=H]`: the client's path to the internet side becomes N router hops
#    (default world: 2 — the ISP at hop 1, the internet side at hop 2): the ISP (hop 1),
#    N-2 transit routers in their own namespaces PFX-h2 ... PFX-h(N-1), then the internet
#    side (sites, resolvers) at hop N. Each transit link k (hop k <-> hop k+1) is
#    198.18.70.(4k)/30 (hop k .4k+1, hop k+1 .4k+2) and 2001:db8:70:k::/64 (::1, ::2); a
#    router answers time-exceeded from its client-facing address: hop 1 198.18.1.1, hop k
#    (k >= 2) 198.18.70.(4k-2). Routers here do not rate-limit ICMP (deterministic tests).
#  * censor=H (default 1): the scenario's filtering rules (iptables filter + mangle tables,
#    the cstb NFQUEUE injector) run on hop H instead of the ISP; the ISP keeps its resolver,
#    proxies and nat (blockpage) rules. The box inspects before it routes: a trigger packet
#    whose TTL ends at hop H is still seen (an in-path bridge in front of router H, or a tap
#    beside it), so a TTL-limited replay sees the interference at TTL H. Implemented by a
#    mangle PREROUTING rule that gives trigger packets arriving with TTL 1 one more hop
#    (TTL target), so the filter rules in FORWARD judge them; everything else expires as
#    usual and router H answers time-exceeded.

HOPS_N="" HOPS_CENSOR=1 HOPS_MAX=8
HOPS_CENSOR_NS=""

# hops N [censor=H]
hops_parse() { # file line keyword words...
    local f=$1 n=$2; shift 3
    if ! [[ ${1:-} =~ ^[0-9]$ ]] || [ "$1" -lt 3 ] || [ "$1" -gt $HOPS_MAX ]; then
        perr "$f" "$n" "hops N [censor=H] (N 3-$HOPS_MAX)"; return
    fi
    HOPS_N=$1; shift
    local o
    for o in "$@"; do
        case $o in
            censor=[0-9]) HOPS_CENSOR=${o#censor=} ;;
            *) perr "$f" "$n" "hops: unknown option $o"; return ;;
        esac
    done
    if [ "$HOPS_CENSOR" -lt 1 ] || [ "$HOPS_CENSOR" -ge "$HOPS_N" ]; then
        perr "$f" "$n" "hops: censor=H needs 1 <= H < N"
    fi
}

hops_ns() { printf '%s-h%s' "$PFX" "$1"; }       # namespace of transit hop k (2..N-1)
hops_near() { printf '198.18.70.%s' $((4 * $1 + 1)); } # link k, hop k's side
hops_far() { printf '198.18.70.%s' $((4 * $1 + 2)); }  # link k, hop k+1's side
hops_router() { # the address hop k answers time-exceeded from
    if [ "$1" = 1 ]; then printf '%s' "$CENSOR_LAN"; else hops_far $(($1 - 1)); fi
}

# Removes every transit namespace of this prefix (whatever the scenario was).
hops_down() {
    local k ns pid
    for k in $(seq 2 $((HOPS_MAX - 1))); do
        ns=$(hops_ns "$k")
        ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

# Rewires ISP <-> internet side into ISP <-> h2 <-> ... <-> h(N-1) <-> internet side.
hops_topology() {
    [ -n "$HOPS_N" ] || return 0
    local last=$((HOPS_N - 1)) k ns prev b
    # the direct ISP <-> internet link (and every route through it) goes away
    nsx "$NS_R" ip link del cs-r1
    for k in $(seq 2 "$last"); do
        ns=$(hops_ns "$k")
        ip netns add "$ns"
        nsx "$ns" ip link set lo up
        nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
        nsx "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 2>/dev/null || true
    done
    nsx "$NS_R" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 2>/dev/null || true
    # link k joins hop k (ISP for k=1) and hop k+1 (internet side for k=last)
    for k in $(seq 1 "$last"); do
        local a=$NS_R ai=cs-r1 z zi=cs-r0
        [ "$k" = 1 ] || a=$(hops_ns "$k")
        if [ "$k" = "$last" ]; then z=$NS_I zi=cs-i0; else z=$(hops_ns $((k + 1))); fi
        mk_link "$a" "$ai" "$z" "$zi"
        nsx "$a" ip addr add "$(hops_near "$k")/30" dev "$ai"
        nsx "$a" ip -6 addr add "2001:db8:70:$k::1/64" dev "$ai" nodad
        nsx "$z" ip addr add "$(hops_far "$k")/30" dev "$zi"
        nsx "$z" ip -6 addr add "2001:db8:70:$k::2/64" dev "$zi" nodad
    done
    # towards the internet: every hop sends the lab (and the bogon ranges) onwards
    for k in $(seq 1 "$last"); do
        ns=$NS_R; [ "$k" = 1 ] || ns=$(hops_ns "$k")
        nsx "$ns" ip route add "$LAB_NET" via "$(hops_far "$k")"
        for b in "${BOGON_NETS[@]}"; do nsx "$ns" ip route add "$b" via "$(hops_far "$k")"; done
        nsx "$ns" ip -6 route add "$LAB6_NET" via "2001:db8:70:$k::2"
    done
    # back towards the client: the client LAN and the transit links
    for k in $(seq 2 "$HOPS_N"); do
        prev=$((k - 1))
        ns=$NS_I; [ "$k" = "$HOPS_N" ] || ns=$(hops_ns "$k")
        nsx "$ns" ip route add 198.18.1.0/24 via "$(hops_near "$prev")"
        nsx "$ns" ip -6 route add 2001:db8:1::/64 via "2001:db8:70:$prev::1"
        [ "$k" = 2 ] || nsx "$ns" ip route add 198.18.70.0/26 via "$(hops_near "$prev")" 2>/dev/null || true
    done
}

# After gen_censor: the trigger TTL rule, and the filtering rules moved to hop H.
hops_censor_config() {
    [ -n "$HOPS_N" ] || return 0
    local f=$RUN/censor/iptables.rules d=$RUN/hops ttl
    mkdir -p "$d"
    ttl=$(sed -n -e '/ -j CS-/d' \
        -e 's/^-A CS-TLS -p tcp \(.*\) -j .*$/-A CS-HOPTTL -p tcp --dport 443 \1 -j TTL --ttl-inc 1/p' \
        -e 's/^-A CS-HTTP -p tcp \(.*\) -j .*$/-A CS-HOPTTL -p tcp --dport 80 \1 -j TTL --ttl-inc 1/p' \
        -e 's/^-A CS-FWD -i cs-r0 \(.*\) -j .*$/-A CS-HOPTTL \1 -j TTL --ttl-inc 1/p' "$f" | sort -u)
    awk -v ttl="$ttl" '
        /^\*/ { t = $0 }
        t == "*mangle" && $0 == "COMMIT" {
            print ":CS-HOPTTL - [0:0]"
            print "-A PREROUTING -i cs-r0 -m ttl --ttl-eq 1 -j CS-HOPTTL"
            if (ttl != "") print ttl
        }
        { print }' "$f" >"$d/all.rules"
    if [ "$HOPS_CENSOR" = 1 ]; then
        cp "$d/all.rules" "$f"
        return 0
    fi
    awk '/^\*/ { t = $0 } t != "*nat"' "$d/all.rules" >"$d/iptables.rules"
    awk '/^\*/ { t = $0 } t == "*nat"' "$d/all.rules" >"$f"
    HOPS_CENSOR_NS=$(hops_ns "$HOPS_CENSOR")
}

# After the ISP's rules are loaded: hop H's rules.
hops_up() {
    [ -n "$HOPS_CENSOR_NS" ] || return 0
    nsx "$HOPS_CENSOR_NS" iptables-restore <"$RUN/hops/iptables.rules" || die "hop $HOPS_CENSOR iptables rules failed"
}

hops_env() {
    [ -n "$HOPS_N" ] || return 0
    local k r=""
    for k in $(seq 1 $((HOPS_N - 1))); do r+="${r:+ }$(hops_router "$k")"; done
    printf 'CS_TB_HOPS=%s\nCS_TB_CENSOR_HOP=%s\nCS_TB_HOP_ROUTERS="%s"\n' "$HOPS_N" "$HOPS_CENSOR" "$r"
}
