# shellcheck shell=bash
# forensics.sh - sourced by testbed/testbed: injecting censors whose packets carry a
# middlebox's fingerprint, for the packet-evidence tests (docs/forensics.md,
# tests/net/forensics_packets.sh). Methods (docs/testbed.md):
#
#   censor rst-inject SNI [style=plain|pk|tsg] [ttl=N] [seed=N] [count=N]
#       the ClientHello with SNI is dropped and answered by `cstb rst` with forged RSTs from
#       the censor (the national gateway) towards the client, rest of the flow dropped:
#       plain  RST, DF, window 8192, the censor's own TTL (default 128)
#       pk     RST+ACK, no DF, window 0 (Pakistan's "RST" box; gx §6)
#       tsg    RST+ACK, DF, Geedge TSG "signature mode": window and TTL from a PRNG keyed
#              by the seed (default 13), IP ID = A - seed*win + (sip mod win); count
#              RSTs (default 3 for tsg, else 1)
#   censor dns-inject-fp NAME ADDR tsg|gfw1 [ttl=copy]
#       like dns-inject (a forged answer races the real one, to any resolver), with the
#       DNS traits of an injector: tsg = flags 0x8180 + compression pointer (Geedge TSG /
#       GFW injector 2), gfw1 = flags 0x8580 (AA), no compression (GFW injector 1);
#       ttl=copy: the forged reply's IP TTL mirrors the query's (the TTL the censor
#       forwards it with), like one of the GFW's DNS injectors (Triplet Censors, FOCI '20);
#       else it is 64
#
# The drop-only box of the issue is the existing `sni-drop` method.
# Queues: rst-inject rules use NFQUEUE 10, 11, ... (0 is cstb nfq, 1 the delay line).

FX_NQ=0

fx_check_rule() {
    local f=$1 n=$2 m=$3 t=${4:-} a=${5:-} o
    case $m in
        rst-inject)
            [ -n "$t" ] || { perr "$f" "$n" "rst-inject SNI [style=plain|pk|tsg] [ttl=N] [seed=N] [count=N]"; return 1; }
            shift 4
            for o in "$@"; do
                case $o in
                    style=plain|style=pk|style=tsg) ;;
                    ttl=*)
                        if ! [[ ${o#ttl=} =~ ^[0-9]+$ ]] || [ "${o#ttl=}" -lt 1 ] || [ "${o#ttl=}" -gt 255 ]; then
                            perr "$f" "$n" "ttl=1..255"; return 1
                        fi ;;
                    seed=*)
                        if ! [[ ${o#seed=} =~ ^[0-9]+$ ]] || [ "${o#seed=}" -gt 65535 ]; then
                            perr "$f" "$n" "seed=0..65535"; return 1
                        fi ;;
                    count=[123]) ;;
                    *) perr "$f" "$n" "rst-inject: unknown option '$o'"; return 1 ;;
                esac
            done ;;
        dns-inject-fp)
            local s=${6:-} x=${7:-}
            if [ -z "$t" ] || [ -z "$a" ] || { [ "$s" != tsg ] && [ "$s" != gfw1 ]; } ||
                { [ -n "$x" ] && [ "$x" != ttl=copy ]; } || [ $# -gt 7 ]; then
                perr "$f" "$n" "dns-inject-fp NAME ADDR tsg|gfw1 [ttl=copy]"; return 1
            fi
            if [ "$a" != nxdomain ] && [ "$a" != nodata ]; then
                { valid_addr "$a" && allowed_addr "$a"; } || { perr "$f" "$n" "$m: address $a not allowed"; return 1; }
            fi ;;
        *) return 1 ;;
    esac
    return 0
}

# Called from gen_censor with its locals in scope (dynamic scope): tls (iptables TLS rule
# bodies), SNI (the SNI match of this rule), rules (cstb.rules), need_nfq.
fx_gen_rule() {
    local m=$1 t=${2:-} a=${3:-} o d=$RUN/censor
    case $m in
        rst-inject)
            local style=plain ttl=128 seed=13 count=""
            shift 2
            for o in "$@"; do
                case $o in
                    style=*) style=${o#style=} ;; ttl=*) ttl=${o#ttl=} ;;
                    seed=*) seed=${o#seed=} ;; count=*) count=${o#count=} ;;
                esac
            done
            if [ -z "$count" ]; then if [ "$style" = tsg ]; then count=3; else count=1; fi; fi
            [ -f "$d/fx.inj" ] || FX_NQ=0
            local q=$((10 + FX_NQ))
            FX_NQ=$((FX_NQ + 1))
            echo "$q $style $ttl $seed $count" >>"$d/fx.inj"
            tls+=("$SNI -j CONNMARK --set-xmark 0x1/0x1" "$SNI -j NFQUEUE --queue-num $q") ;;
        dns-inject-fp)
            # shellcheck disable=SC2154 # rules: a local of gen_censor
            echo "dns ${t,,} $a style=${4:-}${5:+ $5}" >>"$rules"
            # shellcheck disable=SC2034 # need_nfq: a local of gen_censor
            need_nfq=1 ;;
    esac
}

# Starts one `cstb rst` per rst-inject rule in the censor namespace (hop H's on a hop path) and waits until each
# has bound its queue (at most 5 s).
fx_up() {
    local d=$RUN/censor q style ttl seed count
    [ -f "$d/fx.inj" ] || return 0
    while read -r q style ttl seed count; do
        # on the hop path (`hops N censor=H`, lib/hops.sh) the filters, and so the queues, are at hop H
        start_bg "${HOPS_CENSOR_NS:-$NS_R}" "$d/fxrst$q.log" "$d/fxrst$q.pid" "$RUN/bin/cstb" rst "$q" "$style" "$ttl" "$seed" "$count"
    done <"$d/fx.inj"
    while read -r q _; do
        for _ in $(seq 1 50); do
            grep -q ready "$d/fxrst$q.log" 2>/dev/null && break
            sleep 0.1
        done
        grep -q ready "$d/fxrst$q.log" 2>/dev/null || die "cstb rst $q did not start ($d/fxrst$q.log)"
    done <"$d/fx.inj"
}

# selftest: the forged resets reach curl as a reset handshake; a DNS injector's forged
# answer is the first one dig sees.
fx_selftest_rule() {
    local m=$1 t=${2:-} a=${3:-}
    case $m in
        rst-inject)
            local fa rc err; fa=$(first_addr "$t")
            read -r rc _ <<<"$(st_curl client 3 "https://$t/" --resolve "$t:443:$fa")"
            err=$(cat "$ST_ERR")
            [ "$rc" = 35 ] && [[ $err == *"reset by peer"* ]]
            st_res $? "[$SCN_NAME] $m $t: TLS handshake reset by the injector (curl rc=$rc: ${err:0:60})" ;;
        dns-inject-fp)
            local s; s=$(dig_status client "$PUBLIC_RESOLVER" "$t")
            [[ $s == "NOERROR "*" $a" ]]; st_res $? "[$SCN_NAME] $m $t: first answer is the injected $a ($s)" ;;
        *) return 1 ;;
    esac
    return 0
}
