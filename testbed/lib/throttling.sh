# shellcheck shell=bash
# testbed throttling support: sourced by ./testbed (functions only).
#
#  * the `throughput PORT [HELPER-ARGS...]` directive: the probe's throughput
#    server (`censorscope helper --throughput ADDR:PORT`, one listener on each of
#    the control host's two addresses 198.18.5.2 and 198.18.5.3);
#  * `probe-args WORDS...`: options the probe needs for the scenario (exported as
#    CS_TB_PROBE_ARGS, e.g. `--http`, `--direction up`);
#  * censor methods that slow traffic down: throttle-sni / throttle-host /
#    throttle-ip (rate, direction, "after N packets"), and the path conditions a
#    throttling detector must NOT call throttling: link-rate, link-delay (a cstb
#    NFQUEUE delay line: this kernel has no netem), link-loss, link-congest,
#    server-rate;
#  * their selftest checks (curl to the throughput server, run in the namespaces).
# docs/testbed.md ("Throttling") explains every method and why it is built so.

THR_PORT="" THR_ARGS="" PROBE_ARGS=""
CONTROL_ADDR2=198.18.5.3      # second address of the control host (IP-keyed comparison)
THR_DELAY_QUEUE=1             # NFQUEUE number of the delay line (queue 0: DNS/FIN injection)

# scenario directives: throughput PORT [ARGS...] | probe-args WORDS...
thr_parse() { # file line keyword words...
    local f=$1 n=$2 kw=$3; shift 3
    case $kw in
        throughput)
            [[ ${1:-} =~ ^[0-9]{1,5}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] ||
                { perr "$f" "$n" "throughput PORT [HELPER-ARGS...]"; return; }
            THR_PORT=$1; shift; THR_ARGS="$*" ;;
        probe-args) PROBE_ARGS="$*" ;;
    esac
}

thr_kbit() { [[ $1 =~ ^[0-9]+kbit$ ]] && [ "${1%kbit}" -ge 8 ] && [ "${1%kbit}" -le 10000000 ]; }

# check_censor_rule for the throttling methods: file line method target arg extra...
thr_check_rule() {
    local f=$1 n=$2 m=$3 t=${4:-} a=${5:-} o
    shift 5 2>/dev/null || shift $#
    case $m in
        throttle-sni|throttle-host|throttle-ip)
            [ -n "$t" ] && thr_kbit "$a" || { perr "$f" "$n" "$m TARGET RATEkbit [down|up|both] [after=PACKETS]"; return 1; }
            if [ "$m" = throttle-ip ]; then
                [[ $t =~ ^[0-9.]+(:[0-9]+)?$ ]] || { perr "$f" "$n" "$m IP[:PORT] RATEkbit ..."; return 1; }
            fi
            for o in "$@"; do
                case $o in
                    down|up|both) ;;
                    after=[0-9]*) [[ ${o#after=} =~ ^[0-9]+$ ]] || { perr "$f" "$n" "after=PACKETS"; return 1; } ;;
                    *) perr "$f" "$n" "$m: unknown option $o"; return 1 ;;
                esac
            done ;;
        link-rate|server-rate)
            thr_kbit "$t" || { perr "$f" "$n" "$m RATEkbit"; return 1; } ;;
        link-delay) # round-trip time added on the client's access link
            [[ $t =~ ^[0-9]+ms$ ]] && [ "${t%ms}" -ge 2 ] && [ "${t%ms}" -le 4000 ] ||
                { perr "$f" "$n" "link-delay RTTms (2-4000)"; return 1; } ;;
        link-loss) # percent per direction
            [[ $t =~ ^[0-9]+(\.[0-9]+)?%?$ ]] && awk -v p="${t%\%}" 'BEGIN { exit !(p > 0 && p <= 50) }' ||
                { perr "$f" "$n" "link-loss PERCENT (0-50)"; return 1; } ;;
        link-congest) # FLOWS SECONDS [URL]: bounded background downloads to the client
            [[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] && [ "$t" -le 8 ] && [[ $a =~ ^[0-9]+s?$ ]] && [ "${a%s}" -le 3600 ] ||
                { perr "$f" "$n" "link-congest FLOWS(1-8) SECONDS(<=3600) [URL]"; return 1; } ;;
        *) return 1 ;;
    esac
    return 0
}

# gen_censor helper: called with the rule's words; appends to gen_censor's M/F
# arrays (bash dynamic scope) and writes $RUN/censor/thr.* for thr_up.
thr_gen_rule() {
    local m=$1 t=${2:-} a=${3:-} url=${4:-http://bulk.lab.test/} d=$RUN/censor
    shift 3 2>/dev/null || shift $#
    : >"$d/thr.gso"   # rate-sensitive rules: the censor must see wire-sized packets
    case $m in
        throttle-sni|throttle-host|throttle-ip)
            local dir=down after="" o n=${t,,} match
            for o in "$@"; do
                case $o in down|up|both) dir=$o ;; after=*) after=${o#after=} ;; esac
            done
            tcls=$((tcls + 1))
            [ "$tcls" -le 60 ] || die "at most 60 throttle rules per scenario"
            # the name is looked for in the first 8 packets of a flow, on any port
            # (the throughput server may listen anywhere), as the DPI boxes do; an
            # address rule marks a flow on its first packet
            local -a matches=()
            case $m in
                throttle-sni) printf -v match -- '-p tcp -m connbytes --connbytes 0:8 --connbytes-dir original --connbytes-mode packets -m string --algo kmp --icase --hex-string |00%02x%02x|%s' $((${#n} >> 8)) $((${#n} & 255)) "$n"
                    matches=("$match") ;;
                throttle-host) # "Host: NAME" then CRLF, or ":PORT"
                    printf -v match -- '-p tcp -m connbytes --connbytes 0:8 --connbytes-dir original --connbytes-mode packets -m string --algo kmp --icase --hex-string Host:|20|%s|0d0a|' "$n"
                    matches=("$match" "${match%|0d0a|}:") ;;
                throttle-ip) match="-d ${t%%:*} -p tcp"; [[ $t == *:* ]] && match+=" --dport ${t##*:}"
                    matches=("$match -m conntrack --ctstate NEW") ;;
            esac
            # Four token buckets per rule, flows dealt to them in turn (statistic
            # nth on the marking packet): a policer is per session, so a flow cut
            # short must not leave its queued packets in front of the next flow of
            # the same name (with one shared queue the next trial's handshake waited
            # up to 2 s behind them at 64 kbit/s).
            # Data packets only: the pure ACKs of the other direction pass unshaped.
            # Otherwise a 150 kbit/s download policer also paces the ACK clock of
            # uploads (~280 ACKs/s, a few Mbit/s), and a detector rightly reports the
            # uploads as throttled too: not the one-direction case the rule describes.
            local cb="-m length --length 100:65535 " k mark cls mt
            [ -z "$after" ] || cb+="-m connbytes --connbytes $after: --connbytes-dir both --connbytes-mode packets "
            for ((k = 0; k < 4; k++)); do
                mark=$(( ((tcls - 1) * 4 + k + 1) << 12 ))
                cls=$(( 100 + (tcls - 1) * 4 + k ))   # decimal digits, read as hex by tc and CLASSIFY alike
                for mt in "${matches[@]}"; do
                    M+=("-A CS-MFWD -i cs-r0 $mt -m statistic --mode nth --every 4 --packet $k -j CONNMARK --set-xmark $mark/0xff000")
                done
                if [ "$dir" != up ]; then
                    M+=("-A CS-MPOST -o cs-r0 -m connmark --mark $mark/0xff000 ${cb}-j CLASSIFY --set-class 1:$cls")
                    echo "cs-r0 $cls ${a%kbit}" >>"$d/thr.classes"
                fi
                if [ "$dir" != down ]; then
                    M+=("-A CS-MPOST -o cs-r1 -m connmark --mark $mark/0xff000 ${cb}-j CLASSIFY --set-class 1:$cls")
                    echo "cs-r1 $cls ${a%kbit}" >>"$d/thr.classes"
                fi
            done ;;
        link-rate) echo "${t%kbit}" >"$d/thr.link" ;;
        server-rate) echo "${t%kbit}" >"$d/thr.server" ;;
        link-delay)
            # half the round trip on each way through one FIFO delay line; after
            # the CLASSIFY rules (a queued packet leaves the mangle chain)
            echo "$(( ${t%ms} / 2 ))" >"$d/thr.delay"
            M+=("-A PREROUTING -i cs-r0 -j NFQUEUE --queue-num $THR_DELAY_QUEUE --queue-bypass")
            M+=("-A POSTROUTING -o cs-r0 -j NFQUEUE --queue-num $THR_DELAY_QUEUE --queue-bypass") ;;
        link-loss)
            local p; p=$(awk -v p="${t%\%}" 'BEGIN { printf "%.4f", p / 100 }')
            F+=("-A CS-FWD -i cs-r0 -m statistic --mode random --probability $p -j DROP")
            F+=("-A CS-FWD -o cs-r0 -m statistic --mode random --probability $p -j DROP") ;;
        link-congest)
            echo "$t ${CS_TB_CONGEST_SECONDS:-${a%s}} $url" >"$d/thr.congest" ;;
    esac
}

# HTB on one interface: a parent at the link rate (10 Gbit/s when there is no
# access-link limit), a default class, and one class per throttle rule, each
# with a short byte-bounded FIFO (a policer drops, it does not buffer minutes).
thr_htb() { # ns dev link_kbit default_queue_bytes classes-file
    local ns=$1 dev=$2 link=$3 dq=$4 cf=$5 rate cls dv lr=10gbit
    [ -z "$link" ] || lr=${link}kbit
    nsx "$ns" tc qdisc add dev "$dev" root handle 1: htb default 2
    nsx "$ns" tc class add dev "$dev" parent 1: classid 1:1 htb rate "$lr" ceil "$lr" quantum 60000
    nsx "$ns" tc class add dev "$dev" parent 1:1 classid 1:2 htb rate "$lr" ceil "$lr" quantum 60000
    [ -z "$dq" ] || nsx "$ns" tc qdisc add dev "$dev" parent 1:2 bfifo limit "$dq"
    [ -f "$cf" ] || return 0
    while read -r dv cls rate; do
        [ "$dv" = "$dev" ] || continue
        nsx "$ns" tc class add dev "$dev" parent 1:1 classid "1:$cls" htb rate "${rate}kbit" ceil "${rate}kbit" quantum 1514
        nsx "$ns" tc qdisc add dev "$dev" parent "1:$cls" bfifo limit "$(thr_qbytes "$rate" "${CS_TB_THR_QUEUE_MS:-100}")"
    done <"$cf"
}
thr_qbytes() { # kbit ms -> FIFO bytes: ms of the rate, at least 3 full-size frames
    local b=$(( $1 * 1000 / 8 * $2 / 1000 ))
    [ "$b" -ge 4542 ] || b=4542
    echo "$b"
}

# after the censor's services: tc, delay line, background traffic, throughput server
thr_up() {
    local d=$RUN/censor link="" q=""
    [ -f "$d/thr.link" ] && link=$(cat "$d/thr.link")
    [ -z "$link" ] || q=$(thr_qbytes "$link" 200)
    local dev
    for dev in cs-r0 cs-r1; do
        if [ -n "$link" ] || grep -qs "^$dev " "$d/thr.classes"; then
            thr_htb "$NS_R" "$dev" "$link" "$q" "$d/thr.classes"
        fi
    done
    if [ -f "$d/thr.server" ]; then
        local sr; sr=$(cat "$d/thr.server")
        thr_htb "$NS_X" cs-x0 "$sr" "$(thr_qbytes "$sr" 200)" /dev/null
    fi
    if [ -f "$d/thr.delay" ]; then
        start_bg "$NS_R" "$d/delay.log" "$d/delay.pid" "$RUN/bin/cstb" delay "$THR_DELAY_QUEUE" "$(cat "$d/thr.delay")" 4096
        local _
        for _ in $(seq 1 30); do grep -q ready "$d/delay.log" 2>/dev/null && break; sleep 0.1; done
        grep -q ready "$d/delay.log" || die "delay line did not start ($(tail -n1 "$d/delay.log"))"
    fi
    if [ -n "$THR_PORT" ] || [ -f "$d/thr.gso" ]; then
        # The DPI box sees wire-sized packets: no TSO/GSO super-packets from the
        # endpoints (a 64 KB aggregate would cross a connbytes threshold at once,
        # count as one packet, and not fit a policer's short FIFO).
        nsx "$NS_X" ip link set dev cs-x0 gso_max_segs 1
        nsx "$NS_C" ip link set dev cs-c0 gso_max_segs 1
        nsx "$NS_I" ip link set dev cs-i0 gso_max_segs 1
        nsx "$NS_I" ip link set dev cs-i1 gso_max_segs 1
    fi
    if [ -n "$THR_PORT" ]; then
        nsx "$NS_X" ip addr add $CONTROL_ADDR2/24 dev cs-x0
        local bin=${CS_TB_CENSORSCOPE:-$TB_DIR/../build/release/censorscope}
        [ -x "$bin" ] || die "throughput server: $bin not found (build censorscope, or set CS_TB_CENSORSCOPE)"
        # shellcheck disable=SC2086
        start_bg "$NS_X" "$d/throughput.log" "$d/throughput.pid" "$bin" helper \
            --throughput "$CONTROL_ADDR:$THR_PORT" --throughput "$CONTROL_ADDR2:$THR_PORT" $THR_ARGS
        local a
        for a in $CONTROL_ADDR $CONTROL_ADDR2; do
            wait_listen_thr "$NS_X" "$a" "$THR_PORT" ||
                die "throughput server not listening on $a:$THR_PORT ($d/throughput.log: $(tail -n1 "$d/throughput.log" 2>/dev/null))"
        done
    fi
    if [ -f "$d/thr.congest" ]; then
        local flows secs url k
        read -r flows secs url <"$d/thr.congest"
        for ((k = 1; k <= flows; k++)); do
            # bounded: stops by itself after SECONDS (and on `down`)
            start_bg "$NS_C" /dev/null "$d/congest$k.pid" timeout "$secs" \
                sh -c "while :; do curl -s -o /dev/null --max-time 300 '$url'; sleep 0.$k; done"
        done
    fi
}

wait_listen_thr() { # ns ip port (max 5 s)
    local _
    for _ in $(seq 1 50); do
        [ -n "$(nsx "$1" ss -ltnH "src $2:$3" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

thr_env() {
    [ -n "$THR_PORT" ] || { printf 'CS_TB_PROBE_ARGS=%q\n' "$PROBE_ARGS"; return 0; }
    cat <<EOF
CS_TB_CONTROL_ADDR2=$CONTROL_ADDR2
CS_TB_THROUGHPUT=$CONTROL_ADDR:$THR_PORT
CS_TB_THROUGHPUT2=$CONTROL_ADDR2:$THR_PORT
CS_TB_THROUGHPUT_PORT=$THR_PORT
EOF
    printf 'CS_TB_PROBE_ARGS=%q\n' "$PROBE_ARGS"
}

# ---------------------------------------------------------------------------
# selftest (sourced into lib/selftest.sh's world): one censor rule -> checks.
# Returns 1 when the rule is not ours or the scenario has no throughput server
# (the generic checks in selftest.sh then apply).
# ---------------------------------------------------------------------------

# thr_xfer VANTAGE NAME ADDR DIR BYTES MAXTIME [http] -> "rc bytes bit/s total connect"
thr_xfer() {
    local ns; ns=$(host_ns "$1")
    local name=$2 addr=$3 dir=$4 bytes=$5 mt=$6 sch=https out rc=0
    [ "${7:-}" = http ] && sch=http
    local url="$sch://$name:$THR_PORT/throughput"
    if [ "$dir" = up ]; then
        head -c "$bytes" /dev/urandom >"$ST_DIR/thr-up.bin"
        out=$(ip netns exec "$ns" curl -sS -k -m "$mt" -o /dev/null -H 'Expect:' \
            -H 'Content-Type: application/octet-stream' --data-binary @"$ST_DIR/thr-up.bin" \
            --resolve "$name:$THR_PORT:$addr" -w '%{size_upload} %{speed_upload} %{time_total} %{time_connect}' \
            "$url" 2>"$ST_ERR") || rc=$?
    else
        out=$(ip netns exec "$ns" curl -sS -k -m "$mt" -o /dev/null --resolve "$name:$THR_PORT:$addr" \
            -w '%{size_download} %{speed_download} %{time_total} %{time_connect}' \
            "$url?bytes=$bytes" 2>"$ST_ERR") || rc=$?
    fi
    local b s tt tc
    read -r b s tt tc <<<"$out"
    echo "$rc ${b:-0} $(awk -v s="${s:-0}" 'BEGIN { printf "%.0f", s * 8 }') ${tt:-0} ${tc:-0}"
}

thr_ctl_name() { echo "ctl-$RANDOM$RANDOM.example.net"; }

# bytes for about SECS seconds at KBIT (at least 32 KiB)
thr_bytes() { local b=$(( $1 * 1000 / 8 * $2 )); [ "$b" -ge 32768 ] || b=32768; echo "$b"; }

thr_selftest_rule() {
    local m=$1 t=${2:-} a=${3:-}
    case $m in
        throttle-sni|throttle-host|throttle-ip|freeze-sni|link-*|server-rate) ;;
        *) return 1 ;;
    esac
    [ -n "$THR_PORT" ] || return 1
    shift 3 2>/dev/null || shift $#
    local tag="[$SCN_NAME] $m $t${a:+ $a}${1:+ $*}" rc b bps tt tc fast link=""
    [ -f "$RUN/censor/thr.link" ] && link=$(cat "$RUN/censor/thr.link")
    case $m in
        throttle-sni|throttle-host|throttle-ip)
            local want=${a%kbit} dir=down after="" o name=$t addr=$CONTROL_ADDR http=""
            for o in "$@"; do case $o in down|up|both) dir=$o ;; after=*) after=${o#after=} ;; esac; done
            [ "$m" = throttle-host ] && http=http
            if [ "$m" = throttle-ip ]; then name=$(thr_ctl_name); addr=${t%%:*}; fi
            local dirs=$dir
            [ "$dir" = both ] && dirs="down up"
            local dd
            for dd in $dirs; do
                if [ -n "$after" ]; then
                    # the first packets of a flow pass at full speed, later ones are throttled
                    read -r rc b bps tt _ <<<"$(thr_xfer client "$name" "$addr" "$dd" 8192 5 $http)"
                    [ "$rc" = 0 ] && [ "$bps" -gt $((want * 1000 * 5)) ]
                    st_res $? "$tag: $dd: a small transfer (8 KiB, within $after packets) is fast: $((bps / 1000)) kbit/s"
                    local big; big=$(thr_bytes "$want" 4)
                    [ "$big" -ge $((after * 1448 * 4)) ] || big=$((after * 1448 * 4))
                    read -r rc b bps tt _ <<<"$(thr_xfer client "$name" "$addr" "$dd" "$big" $((big * 8 / want / 1000 * 2 + 10)) $http)"
                    [ "$rc" = 0 ] && [ "$bps" -lt $((want * 1000 * 2)) ] && [ "$bps" -gt $((want * 1000 * 7 / 10)) ]
                    st_res $? "$tag: $dd: $b bytes at $((bps / 1000)) kbit/s: throttled after the first packets (rc=$rc)"
                else
                    local nb; nb=$(thr_bytes "$want" 4)
                    read -r rc b bps tt _ <<<"$(thr_xfer client "$name" "$addr" "$dd" "$nb" $((nb * 8 / want / 1000 * 2 + 10)) $http)"
                    [ "$rc" = 0 ] && [ "$b" = "$nb" ] && within "$((bps / 1000))" "$want" 30
                    st_res $? "$tag: $dd: $b bytes at $((bps / 1000)) kbit/s ~ $want kbit/s +-30% (rc=$rc)"
                fi
                # the control: another name to the same address (SNI/Host), or the
                # same kind of flow to the second address (IP)
                local cn cadr=$addr
                cn=$(thr_ctl_name)
                [ "$m" = throttle-ip ] && cadr=$CONTROL_ADDR2
                read -r rc b fast tt _ <<<"$(thr_xfer client "$cn" "$cadr" "$dd" 1048576 10 $http)"
                [ "$rc" = 0 ] && [ "$fast" -gt $((want * 1000 * 10)) ]
                st_res $? "$tag: $dd: control ($cn at $cadr) runs at $((fast / 1000)) kbit/s, >= 10x (rc=$rc)"
            done ;;
        freeze-sni)
            # TLS records may be 16 KiB: curl may see no body at all before the freeze,
            # so count what TCP delivered (ss bytes_received, handshake included)
            local tf=$ST_DIR/thr-xfer tcpb
            thr_xfer client "$t" "$CONTROL_ADDR" down 1048576 3 >"$tf" &
            local xp=$!
            sleep 2
            tcpb=$(ip netns exec "$NS_C" ss -tinH dst "$CONTROL_ADDR" 2>/dev/null |
                grep -o 'bytes_received:[0-9]*' | cut -d: -f2 | sort -n | tail -n1)
            wait "$xp"
            read -r rc _ <"$tf"
            tcpb=${tcpb:-0}
            [ "$rc" = 28 ] && [ "$tcpb" -gt $((a * 1024 / 4)) ] && [ "$tcpb" -le $((a * 1024)) ]
            st_res $? "$tag: download freezes after $tcpb bytes (TCP), no RST: curl times out (rc=$rc)"
            read -r rc b _ <<<"$(thr_xfer client "$(thr_ctl_name)" "$CONTROL_ADDR" down 1048576 5)"
            [ "$rc" = 0 ] && [ "$b" = 1048576 ]
            st_res $? "$tag: another name to the same server gets all 1 MiB (rc=$rc)" ;;
        link-rate|server-rate)
            # a congested link is checked by link-congest (the probe gets a share)
            [ "$m" = link-rate ] && [ -f "$RUN/censor/thr.congest" ] && return 0
            # a later link-rate line (the scenario's own) replaced this one (the base's)
            [ "$m" = link-rate ] && [ "${t%kbit}" != "$link" ] && return 0
            # ... or a slower server-side limit hides it
            [ "$m" = link-rate ] && [ -f "$RUN/censor/thr.server" ] && return 0
            local want=${t%kbit} nb
            nb=$(thr_bytes "$want" 3)
            # the second address: an IP rule may slow the main one down
            read -r rc b bps _ <<<"$(thr_xfer client "$(thr_ctl_name)" "$CONTROL_ADDR2" down "$nb" 20)"
            [ "$rc" = 0 ] && [ "$b" = "$nb" ] && within "$((bps / 1000))" "$want" 30
            st_res $? "$tag: any name downloads at $((bps / 1000)) kbit/s ~ $want kbit/s +-30% (rc=$rc)" ;;
        link-delay)
            local rtt=${t%ms}
            read -r rc b bps tt tc <<<"$(thr_xfer client "$(thr_ctl_name)" "$CONTROL_ADDR" down 1000 10)"
            local ms; ms=$(awk -v c="$tc" 'BEGIN { printf "%.0f", c * 1000 }')
            [ "$rc" = 0 ] && [ "$ms" -ge $((rtt * 9 / 10)) ] && [ "$ms" -le $((rtt * 3 / 2 + 20)) ]
            st_res $? "$tag: TCP connect from the client takes $ms ms ~ one round trip of $rtt ms (rc=$rc)" ;;
        link-loss)
            local p=${t%\%} before after dr0 dr1
            before=$(thr_loss_counts)
            read -r rc b _ <<<"$(thr_xfer client "$(thr_ctl_name)" "$CONTROL_ADDR" down 2097152 20)"
            after=$(thr_loss_counts)
            read -r dr0 tot0 <<<"$before"; read -r dr1 tot1 <<<"$after"
            local frac; frac=$(awk -v d=$((dr1 - dr0)) -v n=$((tot1 - tot0)) 'BEGIN { printf "%.2f", n ? 100 * d / n : 0 }')
            [ "$rc" = 0 ] && awk -v f="$frac" -v p="$p" 'BEGIN { exit !(f >= p * 0.5 && f <= p * 1.6) }'
            st_res $? "$tag: $((dr1 - dr0)) of $((tot1 - tot0)) forwarded packets dropped ($frac% ~ $p%), the 2 MiB download still completes (rc=$rc)" ;;
        link-congest)
            local n; n=$(ip netns pids "$NS_C" | xargs -r ps -o comm= -p 2>/dev/null | grep -c '^curl' || true)
            [ "$n" -ge "$t" ]; st_res $? "$tag: $n background downloads running in the client"
            if [ -n "$link" ]; then
                read -r rc b bps _ <<<"$(thr_xfer client "$(thr_ctl_name)" "$CONTROL_ADDR" down "$(thr_bytes "$link" 2)" 20)"
                [ "$rc" = 0 ] && [ "$bps" -lt $((link * 1000 * 8 / 10)) ]
                st_res $? "$tag: a probe download shares the $link kbit/s link: $((bps / 1000)) kbit/s (rc=$rc)"
            fi ;;
    esac
    return 0
}

thr_loss_counts() { # "dropped forwarded" packet counters of the censor's FORWARD path
    nsx "$NS_R" iptables -t filter -L CS-FWD -v -x -n 2>/dev/null | awk '
        / statistic / && $3 == "DROP" { d += $1 } END { printf "%d ", d }'
    nsx "$NS_R" iptables -t filter -L FORWARD -v -x -n 2>/dev/null | awk '$3 == "CS-FWD" { print $1 }'
}
