# shellcheck shell=bash
# testbed fleet world: sourced by ./testbed (functions only). Several ISPs at
# once behind one national gateway, each with its own client namespace, its own
# resolver and its own censorship policy, plus a namespace for the collector
# that every ISP client reaches over the lab (issue 13: the fleet demo and its
# per-ISP differences). docs/testbed.md ("Fleet world") has the picture.
#
#  * `isp NAME ASN CC`: an ISP. NAME ([a-z][a-z0-9]{0,7}) names its client
#    namespace $PFX-NAME and its router $PFX-NAME-r; ISP k (k = 1..9, in file
#    order) owns the client LAN 198.18.(32+k).0/24 (router .1, resolver .53,
#    transparent proxy .80, client .2) and the transit 198.18.48.(4k)/30 to
#    the national gateway (gateway 4k+1, ISP 4k+2).
#  * `isp-censor NAME METHOD ARGS...`: a censor rule of that ISP only, any method
#    of `censor` except the throttling and path ones (tc lives on the gateway).
#  * The plain `censor` lines stay the national gateway's (the standard censor
#    namespace $PFX-censor): its rules match traffic from every ISP (the
#    gateway's ISP links are cs-r01..cs-r09, and `-i cs-r0` becomes `-i cs-r0+`).
#    DNS rules of the gateway act on its own resolver only (198.18.1.53: the
#    standard client's); on-path ones (dns-inject) hit every ISP's resolver.
#  * The collector namespace $PFX-coll hangs off the internet side, 198.18.49.2
#    (inet 198.18.49.1): probes on every ISP reach it through their ISP and the
#    national gateway, as they would a real collector. Nothing listens there
#    until a test or scripts/fleet-demo.sh starts `censorscope collector`.
#
# Each ISP router runs the same generator as the national censor (gen_censor in
# ./testbed) with its own addresses, so every censor method keeps one meaning.

FLEET_NAMES=()                       # ISP names in file order
declare -A FLEET_ASN=() FLEET_CC=()  # NAME -> AS64501 / PK
FLEET_RULES=()                       # "NAME METHOD ARGS..."
FLEET_COLL_ADDR=198.18.49.2 FLEET_COLL_GW=198.18.49.1
FLEET_MAX=9

fleet_parse() { # file line keyword words...
    local f=$1 n=$2 kw=$3; shift 3
    case $kw in
        isp)
            local nm=${1:-} asn=${2:-} cc=${3:-}
            if ! [[ $nm =~ ^[a-z][a-z0-9]{0,7}$ ]] || ! [[ $asn =~ ^AS[0-9]{1,10}$ ]] ||
                ! [[ $cc =~ ^[A-Z]{2}$ ]] || [ $# -ne 3 ]; then
                perr "$f" "$n" "isp NAME ASN CC (NAME [a-z][a-z0-9]{0,7}, ASN AS123, CC two capitals)"
                return 0
            fi
            case $nm in client | censor | isp | inet | internet | ctrl | control | coll | collector)
                perr "$f" "$n" "isp: $nm is a host name of the testbed"; return 0 ;;
            esac
            [ -z "${FLEET_ASN[$nm]+x}" ] || { perr "$f" "$n" "isp $nm declared twice"; return 0; }
            [ ${#FLEET_NAMES[@]} -lt $FLEET_MAX ] || { perr "$f" "$n" "at most $FLEET_MAX ISPs"; return 0; }
            FLEET_NAMES+=("$nm"); FLEET_ASN[$nm]=$asn; FLEET_CC[$nm]=$cc ;;
        isp-censor)
            local nm=${1:-}
            [ -n "${FLEET_ASN[$nm]+x}" ] || { perr "$f" "$n" "isp-censor: no isp '$nm' declared above"; return 0; }
            shift
            case ${1:-} in
                throttle-* | link-* | server-rate)
                    perr "$f" "$n" "isp-censor: $1 is a gateway-only method (use censor)"; return 0 ;;
            esac
            check_censor_rule "$f" "$n" "$@" && FLEET_RULES+=("$nm $*") ;;
    esac
    return 0
}

fleet_on() { [ ${#FLEET_NAMES[@]} -gt 0 ]; }

fleet_k() { # NAME -> its index 1..9
    local i
    for i in "${!FLEET_NAMES[@]}"; do [ "${FLEET_NAMES[$i]}" = "$1" ] && { echo $((i + 1)); return 0; }; done
    return 1
}

# testbed exec/check vantages: NAME (the ISP's client), NAME-r (its router),
# coll (the collector's namespace). Known from the run directory, so they
# work in a later `testbed exec` too.
fleet_host_ns() {
    local f=$RUN/fleet/namespaces
    [ -f "$f" ] || return 1
    case $1 in collector) set -- coll ;; esac
    grep -qx -- "$PFX-$1" "$f" || return 1
    echo "$PFX-$1"
}

# after gen_censor: namespaces, links, addresses, routes, each ISP's censor
# configuration, and the gateway's rules widened to the ISP links.
fleet_build() {
    fleet_on || return 0
    local d=$RUN/fleet nm k lan gw isp ns nsr
    mkdir -p "$d"
    : >"$d/namespaces"
    for nm in "${FLEET_NAMES[@]}"; do printf '%s\n%s\n' "$PFX-$nm" "$PFX-$nm-r" >>"$d/namespaces"; done
    echo "$PFX-coll" >>"$d/namespaces"
    # shellcheck disable=SC2013 # one namespace name per line
    for ns in $(cat "$d/namespaces"); do
        ip netns add "$ns"
        nsx "$ns" ip link set lo up
        nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        mkdir -p "/etc/netns/$ns"
        printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$ns/hosts"
        NS_LIST+=("$ns")   # the isolation selftest covers them too
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' name asn cc ns_client ns_router client_addr resolver proxy >"$d/isps.tsv"
    for nm in "${FLEET_NAMES[@]}"; do
        k=$(fleet_k "$nm")
        lan=198.18.$((32 + k)) gw=198.18.48.$((4 * k + 1)) isp=198.18.48.$((4 * k + 2))
        ns=$PFX-$nm nsr=$PFX-$nm-r
        # the same interface names as the standard client/censor pair, so the
        # generated rules (-i cs-r0) apply unchanged inside the ISP router
        mk_link "$ns" cs-c0 "$nsr" cs-r0
        mk_link "$nsr" cs-r1 "$NS_R" "cs-r0$k"
        nsx "$ns" ip addr add "$lan.2/24" dev cs-c0
        nsx "$ns" ip route add "$LAB_NET" via "$lan.1"
        local b
        for b in "${BOGON_NETS[@]}"; do nsx "$ns" ip route add "$b" via "$lan.1"; done
        nsx "$nsr" ip addr add "$lan.1/24" dev cs-r0
        nsx "$nsr" ip addr add "$lan.53/24" dev cs-r0
        nsx "$nsr" ip addr add "$lan.80/24" dev cs-r0
        nsx "$nsr" ip addr add "$isp/30" dev cs-r1
        nsx "$nsr" ip route add "$LAB_NET" via "$gw"
        for b in "${BOGON_NETS[@]}"; do nsx "$nsr" ip route add "$b" via "$gw"; done
        nsx "$nsr" sysctl -qw net.ipv4.ip_forward=1
        nsx "$nsr" sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
        nsx "$NS_R" ip addr add "$gw/30" dev "cs-r0$k"
        nsx "$NS_R" ip route add "$lan.0/24" via "$isp"
        echo "nameserver $lan.53" >"/etc/netns/$ns/resolv.conf"
        echo "nameserver $lan.53" >"/etc/netns/$nsr/resolv.conf"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$nm" "${FLEET_ASN[$nm]}" "${FLEET_CC[$nm]}" "$ns" "$nsr" \
            "$lan.2" "$lan.53" "$lan.80" >>"$d/isps.tsv"
        fleet_gen_isp "$nm" "$k"
    done
    # the internet side routes the ISP LANs and transits to the gateway
    nsx "$NS_I" ip route add 198.18.32.0/20 via "$CENSOR_WAN"
    nsx "$NS_I" ip route add 198.18.48.0/24 via "$CENSOR_WAN"
    # the collector's namespace: a host on the internet side
    mk_link "$NS_I" cs-i2 "$PFX-coll" cs-k0
    nsx "$NS_I" ip addr add "$FLEET_COLL_GW/24" dev cs-i2
    nsx "$PFX-coll" ip addr add "$FLEET_COLL_ADDR/24" dev cs-k0
    nsx "$PFX-coll" ip route add "$LAB_NET" via "$FLEET_COLL_GW"
    echo "nameserver $PUBLIC_RESOLVER" >"/etc/netns/$PFX-coll/resolv.conf"
    # national rules: every ISP link of the gateway, not only the standard client's
    sed -i 's/-i cs-r0 /-i cs-r0+ /g' "$RUN/censor/iptables.rules"
}

fleet_gen_isp() { # NAME K: that ISP's dnsmasq, nginx and iptables, by gen_censor
    local nm=$1 k=$2 r
    local -a CENSOR=()
    for r in "${FLEET_RULES[@]}"; do
        [ "${r%% *}" = "$nm" ] && CENSOR+=("${r#* }")
    done
    # gen_censor writes $RUN/censor with the ISP's own addresses (dynamic scope)
    # shellcheck disable=SC2034 # read by gen_censor
    local RUN=$RUN/fleet/$nm ISP_RESOLVER=198.18.$((32 + k)).53 ISP_PROXY=198.18.$((32 + k)).80
    local NEED_NFQ=0 NEED_SERVFAIL=0
    mkdir -p "$RUN"
    gen_censor
    echo "$NEED_NFQ $NEED_SERVFAIL" >"$RUN/needs"
}

# after the national services: start each ISP's resolver, proxy, rules, helper
fleet_start() {
    fleet_on || return 0
    local nm nsr c nfq sf k i
    for nm in "${FLEET_NAMES[@]}"; do
        nsr=$PFX-$nm-r c=$RUN/fleet/$nm/censor
        read -r nfq sf <"$RUN/fleet/$nm/needs"
        nsx "$nsr" dnsmasq -C "$c/dnsmasq.conf" 9>&- || die "ISP $nm: resolver failed"
        nsx "$nsr" nginx -e "$c/nginx-error.log" -c "$c/nginx.conf" 9>&- || die "ISP $nm: nginx failed ($c/nginx-error.log)"
        nsx "$nsr" iptables-restore <"$c/iptables.rules" || die "ISP $nm: iptables rules failed"
        [ "$nfq" = 0 ] || start_bg "$nsr" "$c/cstb.log" "$c/cstb.pid" "$RUN/bin/cstb" nfq 0 "$c/cstb.rules"
        [ "$sf" = 0 ] || start_bg "$nsr" "$c/servfail.log" "$c/servfail.pid" "$RUN/bin/cstb" dnsserve 127.0.0.1 5302 2
    done
    # every ISP client reaches its resolver (and through it the public one)
    for nm in "${FLEET_NAMES[@]}"; do
        k=$(fleet_k "$nm")
        for i in $(seq 1 50); do
            nsx "$PFX-$nm" dig +short +time=1 +tries=1 @"198.18.$((32 + k)).53" cs-testbed-probe.invalid >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    log "fleet: ${#FLEET_NAMES[@]} ISPs (${FLEET_NAMES[*]}) behind the national gateway, collector host $FLEET_COLL_ADDR"
}

fleet_env() {
    fleet_on || return 0
    local nm k
    echo "CS_TB_FLEET='${FLEET_NAMES[*]}'"
    echo "CS_TB_FLEET_TSV=$RUN/fleet/isps.tsv"
    echo "CS_TB_COLLECTOR_ADDR=$FLEET_COLL_ADDR"
    echo "CS_TB_NS_COLLECTOR=$PFX-coll"
    for nm in "${FLEET_NAMES[@]}"; do
        k=$(fleet_k "$nm")
        echo "CS_TB_ISP_${nm^^}_ASN=${FLEET_ASN[$nm]}"
        echo "CS_TB_ISP_${nm^^}_CC=${FLEET_CC[$nm]}"
        echo "CS_TB_ISP_${nm^^}_NS=$PFX-$nm"
        echo "CS_TB_ISP_${nm^^}_RESOLVER=198.18.$((32 + k)).53"
    done
}

# cmd_down: the fleet namespaces named in the run directory (and any by the
# naming pattern, should the record be gone), then their files.
fleet_down() {
    local f=$RUN/fleet/namespaces ns pid all=()
    [ -f "$f" ] && mapfile -t all <"$f"
    all+=("$PFX-coll")
    for ns in "${all[@]}"; do
        ip netns list | awk '{print $1}' | grep -qx -- "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    done
    sleep 0.1
    for ns in "${all[@]}"; do
        if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
        rm -rf "/etc/netns/$ns"
    done
    [ -d "$RUN" ] && rm -rf "${RUN:?}/fleet"
    return 0
}
