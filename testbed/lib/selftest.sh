# shellcheck shell=bash
# testbed selftest: sourced by ./testbed. Brings scenarios up and proves with
# stock clients (curl, dig) plus the testbed's own dnsrecv that the censor does
# exactly what each scenario declares. One line per check, then "N passed, M failed".

ST_OUT=""   # file collecting result lines

st_ok() { printf 'ok   %s\n' "$*" | tee -a "$ST_OUT"; }
st_bad() { printf 'FAIL %s\n' "$*" | tee -a "$ST_OUT"; }
st_res() { if [ "$1" = 0 ]; then shift; st_ok "$@"; else shift; st_bad "$@"; fi; }

CA() { echo "$RUN/ca/ca.pem"; }

# curl from a vantage; prints "rc code size speed time redirect" on stdout, errors in $ST_ERR
ST_ERR=/dev/null
st_curl() { # vantage maxtime url [curl args...]
    local ns; ns=$(host_ns "$1"); local m=$2 u=$3; shift 3
    local out rc=0
    out=$(ip netns exec "$ns" curl -sS --cacert "$(CA)" -m "$m" -o "$ST_BODY" \
        -w '%{http_code} %{size_download} %{speed_download} %{time_total} %{redirect_url}' "$@" "$u" 2>"$ST_ERR") || rc=$?
    echo "$rc $out"
}

wait_listen() { # ns ip port: until something listens (max 3 s)
    local _
    for _ in $(seq 1 30); do
        [ -n "$(ip netns exec "$1" ss -ltnH "src $2:$3" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

first_addr() { local a=${SITE_ADDRS[$(lc "$1")]:-}; a=${a%%,*}; echo "${a:-198.18.64.10}"; }

dig_status() { # vantage server name -> "STATUS ANSWERCOUNT first-A"
    local ns; ns=$(host_ns "$1")
    ip netns exec "$ns" dig +time=2 +tries=1 @"$2" "$3" A 2>/dev/null | awk '
        /status:/ { s=$6; sub(",","",s) } /ANSWER:/ { for(i=1;i<=NF;i++) if ($i=="ANSWER:") { a=$(i+1); sub(",","",a) } }
        $4=="A" && !ip { ip=$5 } END { printf "%s %s %s\n", s, a, ip }'
}

within() { # value target pct -> 0 if |value-target| <= pct% of target
    awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN { d=v-t; if (d<0) d=-d; exit !(d <= t*p/100) }'
}

# ---- one censor rule -> one or more checks --------------------------------
check_rule() {
    local m=$1 t=${2:-} a=${3:-} r s rc
    local tag="[$SCN_NAME] $m $t${a:+ $a}"
    thr_selftest_rule "$@" && return 0   # throttling pack: via the throughput server
    fx_selftest_rule "$@" && return 0    # forensics pack injectors (lib/forensics.sh)
    case $m in
        dns-lie)
            s=$(dig_status client "$ISP_RESOLVER" "$t")
            [[ $s == "NOERROR "*" $a" ]]; st_res $? "$tag: ISP resolver answers $a ($s)" ;;
        dns-nxdomain)
            s=$(dig_status client "$ISP_RESOLVER" "$t")
            [[ $s == NXDOMAIN* ]]; st_res $? "$tag: ISP resolver says NXDOMAIN ($s)" ;;
        dns-nodata)
            s=$(dig_status client "$ISP_RESOLVER" "$t")
            [[ $s == "NOERROR 0"* ]]; st_res $? "$tag: ISP resolver: NOERROR, no answer ($s)" ;;
        dns-servfail)
            s=$(dig_status client "$ISP_RESOLVER" "$t")
            [[ $s == SERVFAIL* ]]; st_res $? "$tag: ISP resolver says SERVFAIL ($s)" ;;
        dns-inject)
            local want="A=$a"
            [ "$a" = nxdomain ] && want="rcode=NXDOMAIN"
            [ "$a" = nodata ] && want="rcode=NOERROR"
            r=$(ip netns exec "$NS_C" "$RUN/bin/cstb" dnsrecv "$PUBLIC_RESOLVER" "$t" 1000 2>&1 || true)
            local first; first=$(printf '%s\n' "$r" | sed -n 1p)
            [[ $r == *"replies=2"* && $first == *"$want"* ]]
            st_res $? "$tag: query to public resolver gets 2 replies, injected first: $(printf '%s' "$r" | sed 's/reply [0-9] after //' | tr '\n' ' ')"
            # a stock client (dig) takes the first reply: the injected one
            s=$(dig_status client "$PUBLIC_RESOLVER" "$t")
            case $a in
                nxdomain) [[ $s == NXDOMAIN* ]] ;;
                nodata) [[ $s == "NOERROR 0"* ]] ;;
                *) [[ $s == "NOERROR "*" $a" ]] ;;
            esac
            st_res $? "$tag: dig @$PUBLIC_RESOLVER from the client gets the injected answer ($s)" ;;
        tls-reset|data-reset)
            local ip=${t%%:*} port=443
            [[ $t == *:* ]] && port=${t##*:}
            local sp=""
            if [ "$ip" = "$CONTROL_ADDR" ]; then # give the control host a TLS listener for the test
                ip netns exec "$NS_X" timeout 6 openssl s_server -quiet -accept "$ip:$port" \
                    -cert "$RUN/inet/certs/unknown.pem" -key "$RUN/ca/leaf.key" >/dev/null 2>&1 9>&- &
                sp=$!; wait_listen "$NS_X" "$ip" "$port"
            fi
            read -r rc _ <<<"$(st_curl client 3 "https://$ip:$port/" -k)"
            [ -z "$sp" ] || { kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; }
            local err; err=$(cat "$ST_ERR")
            [ "$rc" = 35 ] && [[ $err == *"reset by peer"* ]]; st_res $? "$tag: first data (TLS ClientHello) to $ip:$port reset (curl rc=$rc)"
            if [ "$m" = data-reset ] && [[ $t != *:* ]]; then
                sp=""
                if [ "$ip" = "$CONTROL_ADDR" ]; then # any TCP listener will do
                    ip netns exec "$NS_X" timeout 6 openssl s_server -quiet -accept "$ip:80" \
                        -cert "$RUN/inet/certs/unknown.pem" -key "$RUN/ca/leaf.key" >/dev/null 2>&1 9>&- &
                    sp=$!; wait_listen "$NS_X" "$ip" 80
                fi
                read -r rc _ <<<"$(st_curl client 3 "http://$ip/")"
                [ -z "$sp" ] || { kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null; }
                [ "$rc" = 56 ]; st_res $? "$tag: HTTP request to $ip:80 reset after the handshake (curl rc=$rc)"
            fi ;;
        tcp-drop|tcp-reject)
            local ip=${t%%:*} port=80 sch=http
            [[ $t == *:* ]] && port=${t##*:}
            [ "$port" = 443 ] && sch=https
            read -r rc _ _ _ s _ <<<"$(st_curl client 3 "$sch://$ip:$port/" --connect-timeout 2 -k)"
            if [ "$m" = tcp-drop ]; then
                [ "$rc" = 28 ]; st_res $? "$tag: connect times out (curl rc=$rc after ${s}s)"
            else
                [ "$rc" = 7 ] && awk -v x="$s" 'BEGIN{exit !(x<1)}'
                st_res $? "$tag: connection refused at once (curl rc=$rc after ${s}s)"
            fi ;;
        sni-reset|sni-fin|sni-drop)
            local fa; fa=$(first_addr "$t")
            read -r rc _ _ _ s _ <<<"$(st_curl client 3 "https://$t/" --resolve "$t:443:$fa")"
            local err; err=$(cat "$ST_ERR")
            case $m in
                sni-reset) [ "$rc" = 35 ] && [[ $err == *"reset by peer"* ]]; st_res $? "$tag: TLS handshake reset (curl rc=$rc: ${err:0:60})" ;;
                sni-fin) [ "$rc" = 35 ] && [[ $err == *SSL_ERROR_SYSCALL* || $err == *"unexpected eof"* ]]; st_res $? "$tag: TLS handshake gets FIN/EOF (curl rc=$rc: ${err:0:70})" ;;
                sni-drop) [ "$rc" = 28 ]; st_res $? "$tag: TLS handshake times out (curl rc=$rc)" ;;
            esac ;;
        host-reset|host-fin|host-drop)
            local fa; fa=$(first_addr "$t")
            read -r rc _ _ _ s _ <<<"$(st_curl client 3 "http://$t/" --resolve "$t:80:$fa")"
            local err; err=$(cat "$ST_ERR")
            case $m in
                host-reset) [ "$rc" = 56 ] && [[ $err == *"reset by peer"* ]]; st_res $? "$tag: HTTP request reset (curl rc=$rc)" ;;
                host-fin) [ "$rc" = 52 ]; st_res $? "$tag: HTTP request gets FIN, empty reply (curl rc=$rc)" ;;
                host-drop) [ "$rc" = 28 ]; st_res $? "$tag: HTTP request times out (curl rc=$rc)" ;;
            esac ;;
        http-blockpage)
            local fa; fa=$(first_addr "$t")
            read -r rc code _ <<<"$(st_curl client 3 "http://$t/" --resolve "$t:80:$fa")"
            [ "$rc" = 0 ] && [ "$code" = 200 ] && cmp -s "$ST_BODY" "$TB_DIR/pages/$a"
            st_res $? "$tag: censor serves blockpage $a for http://$t/ (rc=$rc code=$code)" ;;
        http-redirect)
            local fa loc; fa=$(first_addr "$t")
            read -r rc code _ _ _ loc <<<"$(st_curl client 3 "http://$t/" --resolve "$t:80:$fa")"
            [ "$rc" = 0 ] && [ "$code" = 302 ] && [ "$loc" = "$a" ]
            st_res $? "$tag: censor answers 302 Location $loc" ;;
        udp-drop) # apps world: a STUN binding request to IP:PORT (3478 by default) gets no answer
            local ip=${t%%:*} port=3478
            [[ $t == *:* ]] && port=${t##*:}
            r=$(ip netns exec "$NS_C" "$RUN/bin/cstb" stunping "$ip" "$port" 1500 2>&1)
            [ "$r" = timeout ]; st_res $? "$tag: STUN to $ip:$port from the client gets no answer ($r)"
            r=$(ip netns exec "$NS_X" "$RUN/bin/cstb" stunping "$ip" "$port" 1500 2>&1)
            [[ $r == mapped=* ]]; st_res $? "$tag: STUN to $ip:$port works from the control host ($r)" ;;
        throttle-sni|throttle-ip)
            local url want=${a%kbit} fa sp ksp sp2 extra=()
            if [ "$m" = throttle-sni ]; then
                fa=$(first_addr "$t"); url="https://$t/"; extra=(--resolve "$t:443:$fa")
            else
                local ip=${t%%:*} port=${t##*:} h hh=""
                for h in "${SITES[@]}"; do [[ ,${SITE_ADDRS[$h]}, == *",$ip,"* ]] && { hh=$h; break; }; done
                [ "$port" = 443 ] && url="https://$hh/" || url="http://$hh:$port/"
                extra=(--resolve "$hh:$port:$ip")
            fi
            # a few hundred KB: 256 KiB by range request (~14 s at 150 kbit/s)
            local got bytes=262144
            read -r rc _ got sp _ <<<"$(st_curl client $((bytes * 8 / want / 1000 * 2 + 10)) "$url" "${extra[@]}" --range 0-$((bytes - 1)))"
            ksp=$(awk -v s="$sp" 'BEGIN { printf "%.0f", s*8/1000 }')
            [ "$rc" = 0 ] && [ "$got" = "$bytes" ] && within "$ksp" "$want" 30
            st_res $? "$tag: client downloads $got bytes at ${ksp}kbit/s ~ ${want}kbit/s +-30% (curl rc=$rc)"
            read -r rc _ _ sp2 _ <<<"$(st_curl ctrl 10 "$url" "${extra[@]}" --range 0-$((bytes - 1)))"
            ksp=$(awk -v s="$sp2" 'BEGIN { printf "%.0f", s*8/1000 }')
            [ "$ksp" -gt $((want * 20)) ]; st_res $? "$tag: unthrottled (control) rate ${ksp}kbit/s >> ${want}kbit/s" ;;
        freeze-sni|freeze-ip)
            local url fa extra=() size
            if [ "$m" = freeze-sni ]; then fa=$(first_addr "$t"); url="https://$t/"; extra=(--resolve "$t:443:$fa")
            else url="http://${t%%:*}:${t##*:}/"; fi
            read -r rc _ size _ <<<"$(st_curl client 3 "$url" "${extra[@]}")"
            [ "$rc" = 28 ] && [ "$size" -gt $((a * 1024 / 4)) ] && [ "$size" -le $((a * 1024)) ]
            st_res $? "$tag: flow freezes after ${size} bytes, no RST (curl rc=$rc)" ;;
    esac
}

# ---- explicit "check" lines from the scenario ------------------------------
# check VANTAGE curl URL EXPECT...   EXPECT: status=N exit=N body~TEXT redirect=URL size=N (-4/-6 pick the family)
# check VANTAGE dns NAME SERVER EXPECT  EXPECT: A=IP | rcode=X | noanswer
check_line() {
    local v=$1 kind=$2 rc code size loc
    shift 2
    local tag="[$SCN_NAME] check $v $kind $*"
    case $kind in
        curl)
            local u=$1; shift
            local fam=() e
            for e in "$@"; do case $e in -4|-6) fam+=("$e") ;; esac; done
            read -r rc code size _ _ loc <<<"$(st_curl "$v" 4 "$u" "${fam[@]}")"
            local okk=0
            for e in "$@"; do
                case $e in
                    -4|-6) ;;
                    status=*) [ "$code" = "${e#status=}" ] || okk=1 ;;
                    exit=*) [ "$rc" = "${e#exit=}" ] || okk=1 ;;
                    body~*) grep -qF -- "${e#body~}" "$ST_BODY" 2>/dev/null || okk=1 ;;
                    redirect=*) [ "$loc" = "${e#redirect=}" ] || okk=1 ;;
                    size=*) [ "$size" = "${e#size=}" ] || okk=1 ;;
                    *) okk=1 ;;
                esac
            done
            st_res $okk "$tag (rc=$rc code=$code size=$size)" ;;
        dns)
            local name=$1 srv=$2 e=$3 s
            case $srv in isp) srv=$ISP_RESOLVER ;; public) srv=$PUBLIC_RESOLVER ;; esac
            s=$(dig_status "$v" "$srv" "$name")
            case $e in
                A=*) [[ $s == "NOERROR "*" ${e#A=}" ]] ;;
                rcode=*) [[ $s == "${e#rcode=} "* ]] ;;
                noanswer) [[ $s == "NOERROR 0"* ]] ;;
                noaddr) [[ $s == NOERROR* && $s != *.* ]] ;;
                *) false ;;
            esac
            st_res $? "$tag ($s)" ;;
        tcp|stun) check_line_apps "$tag" "$v" "$kind" "$@" ;;
        *) st_bad "$tag: unknown check kind" ;;
    esac
}

# apps world: check VANTAGE tcp HOST:PORT open|refused|timeout
#             check VANTAGE stun HOST:PORT ok|timeout    (HOST: a site's first address, or an IP)
check_line_apps() {
    local tag=$1 v=$2 kind=$3 hp=$4 e=$5 ns ip port r rc=0
    ns=$(host_ns "$v")
    ip=${hp%:*} port=${hp##*:}
    [[ $ip =~ ^[0-9.]+$ ]] || ip=$(first_addr "$ip")
    if [ "$kind" = tcp ]; then
        # shellcheck disable=SC2016 # $0 and $1 are the inner shell's arguments
        ip netns exec "$ns" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$ip" "$port" 2>/dev/null || rc=$?
        case $rc in 0) r=open ;; 124) r=timeout ;; *) r=refused ;; esac
        [ "$r" = "$e" ]; st_res $? "$tag ($ip:$port $r)"
    else
        r=$(ip netns exec "$ns" "$RUN/bin/cstb" stunping "$ip" "$port" 1500 2>&1)
        case $e in ok) [[ $r == mapped=* ]] ;; *) [ "$r" = "$e" ] ;; esac
        st_res $? "$tag ($ip:$port: $r)"
    fi
}

# ---- global checks ---------------------------------------------------------
check_isolation() {
    local ns r fl=() inet_if="lo cs-i0 cs-i1 "
    # fleet world (lib/fleet.sh): its ISP, client and collector namespaces too
    [ -f "$RUN/fleet/namespaces" ] && { mapfile -t fl <"$RUN/fleet/namespaces"; inet_if+="cs-i2 "; }
    for ns in "${NS_LIST[@]}" "${fl[@]}"; do
        r=$(ip netns exec "$ns" ip route get 8.8.8.8 2>&1 || true)
        [[ $r == *"unreachable"* ]]; st_res $? "isolation: $ns has no route to 8.8.8.8 ($r)"
    done
    r=$(ip netns exec "$NS_C" ip route get 1.1.1.1 2>&1 || true)
    [[ $r == *"unreachable"* ]]; st_res $? "isolation: client has no route to 1.1.1.1"
    local t0=$SECONDS rc=0
    ip netns exec "$NS_C" curl -s -m 3 -o /dev/null https://1.1.1.1/ 2>/dev/null || rc=$?
    [ "$rc" = 7 ] && [ $((SECONDS - t0)) -le 1 ]; st_res $? "isolation: client connect to 1.1.1.1:443 fails at once (curl rc=$rc)"
    r=$(ip -o link show | grep -E ": cs-|link-netns $PFX-" || true)
    [ -z "$r" ]; st_res $? "isolation: no testbed interface in the root namespace"
    # sorted: a rebuilt link (hops N) comes later in the list than it used to
    r=$(ip netns exec "$NS_I" ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | LC_ALL=C sort | tr '\n' ' ')
    [ "$r" = "$(tr ' ' '\n' <<<"$inet_if" | grep . | LC_ALL=C sort | tr '\n' ' ')" ]; st_res $? "isolation: internet side has only ${inet_if% } ($r)"
    # control host reachable from the client through the censor (TCP + UDP)
    rc=0; ip netns exec "$NS_C" curl -s -m 3 -o /dev/null http://$CONTROL_ADDR:9/ 2>/dev/null || rc=$?
    [ "$rc" = 7 ]; st_res $? "control host $CONTROL_ADDR reachable from client (TCP refused by ctrl kernel, rc=$rc)"
    ip netns exec "$NS_X" "$RUN/bin/cstb" dnsserve $CONTROL_ADDR 5353 2 >/dev/null 2>&1 9>&- &
    local sp=$!
    local k; for k in $(seq 1 30); do [ -n "$(ip netns exec "$NS_X" ss -lunH "src $CONTROL_ADDR:5353" 2>/dev/null)" ] && break; sleep 0.1; done
    r=$(ip netns exec "$NS_C" dig +time=1 +tries=1 -p 5353 @$CONTROL_ADDR x.test 2>&1 | grep -c SERVFAIL || true)
    kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
    [ "$r" -ge 1 ]; st_res $? "control host reachable from client over UDP"
    r=$(ip netns exec "$NS_X" cat /etc/resolv.conf)
    [[ $r == *"$PUBLIC_RESOLVER"* ]]; st_res $? "control host uses the public resolver"
    r=$(ip netns exec "$NS_C" cat /etc/resolv.conf)
    [[ $r == *"$ISP_RESOLVER"* ]]; st_res $? "client uses the ISP resolver"
    r=$(ip netns exec "$NS_C" dig +time=1 +tries=1 @$PUBLIC_RESOLVER6 cs-testbed-v6.invalid 2>&1)
    [[ $r == *"status: NXDOMAIN"* ]]; st_res $? "IPv6: client reaches the public resolver $PUBLIC_RESOLVER6 through the censor"
    r=$(ip netns exec "$NS_X" dig +time=1 +tries=1 @$PUBLIC_RESOLVER6 cs-testbed-v6.invalid 2>&1)
    [[ $r == *"status: NXDOMAIN"* ]]; st_res $? "IPv6: control host reaches the public resolver over IPv6"
}

check_env() {
    local k ok=0
    for k in CS_TB_CA CS_TB_LAB_NET CS_TB_ISP_RESOLVER CS_TB_PUBLIC_RESOLVER CS_TB_CONTROL_ADDR CS_TB_SCENARIO; do
        grep -q "^$k=." "$RUN/env" || ok=1
    done
    [ -s "$RUN/ca/ca.pem" ] || ok=1
    st_res $ok "env file $RUN/env has the required keys"
}

# sample unblocked sites: accessible from the client; blocked names fine from the control host
check_sites() {
    local max=${1:-6} h n=0 rc code
    declare -A blocked=()
    local r
    for r in "${CENSOR[@]}"; do
        set -- $r
        blocked[$(lc "${2:-}")]=1
        local ip=${2%%:*}
        [[ $ip =~ ^[0-9.]+$ ]] && blocked[$ip]=1
    done
    for h in "${SITES[@]}"; do
        [ -n "${blocked[$h]+x}" ] && continue
        [ -n "${DNS_OVR[$h]+x}" ] && continue
        local a skip=0
        for a in ${SITE_ADDRS[$h]//,/ }; do [ -n "${blocked[$a]+x}" ] && skip=1; done
        [[ " ${SITE_OPTS[$h]} " == *" cert="[ewu]* || " ${SITE_OPTS[$h]} " == *refuse=* || " ${SITE_OPTS[$h]} " == *captcha=* || " ${SITE_OPTS[$h]} " == *large=* || " ${SITE_OPTS[$h]} " == *redirect=* || " ${SITE_OPTS[$h]} " == *" plain443 "* ]] && skip=1
        [ $skip = 0 ] || continue
        read -r rc code _ <<<"$(st_curl client 4 "https://$h/")"
        [ "$rc" = 0 ] && [ "$code" = 200 ]; st_res $? "[$SCN_NAME] unblocked site https://$h/ works from client (rc=$rc code=$code)"
        n=$((n + 1)); [ $n -lt "$max" ] || break
    done
    n=0
    for h in "${!blocked[@]}"; do
        [ -n "${SITE_ADDRS[$h]+x}" ] || continue
        [ -n "${DNS_OVR[$h]+x}" ] && continue
        [[ " ${SITE_OPTS[$h]} " == *large=* ]] && continue
        read -r rc code _ <<<"$(st_curl ctrl 4 "http://$h/")"
        [ "$rc" = 0 ] && [ "$code" = 200 ]; st_res $? "[$SCN_NAME] blocked name $h works from the control host (rc=$rc code=$code)"
        n=$((n + 1)); [ $n -lt "$max" ] || break
    done
}

run_one() { # scenario -> result lines appended to ST_OUT; runs in a subshell
    local s=$1 t0=$SECONDS
    set +e
    if ! "$TB_DIR/testbed" up "$s" >"$ST_DIR/up.log" 2>&1; then
        if grep -q 'world data file .* not found' "$ST_DIR/up.log"; then
            # the test lists live outside the repository (shared/data); without
            # them the national world cannot be built: say so, do not count it
            echo "skip [$s] $(tail -n1 "$ST_DIR/up.log")"
            return
        fi
        st_bad "[$s] up failed: $(tail -n1 "$ST_DIR/up.log")"
        return
    fi
    load_scenario "$s" >/dev/null 2>&1
    st_ok "[$SCN_NAME] up ($((SECONDS - t0))s, ${#SITES[@]} sites, ${#CENSOR[@]} rules)"
    [ -n "${ST_GLOBAL:-}" ] && { check_env; check_isolation; }
    local r
    declare -A per=()
    local cap=1000000
    [ ${#WORLDS[@]} -gt 0 ] && cap=${ST_RULES_PER_METHOD:-2}   # national world: a sample per method
    for r in "${CENSOR[@]}"; do
        local mm=${r%% *}
        per[$mm]=$(( ${per[$mm]:-0} + 1 ))
        [ "${per[$mm]}" -le "$cap" ] || continue
        # shellcheck disable=SC2086
        check_rule $r
    done
    for r in "${CHECKS[@]}"; do
        # shellcheck disable=SC2086
        check_line $r
    done
    check_input
    check_sites "${ST_SITES:-4}"
    if [ -f "$RUN/national-truth.csv" ]; then check_national; fi
}

# End to end: fetch the scenario's input URL from the client like a browser
# (following redirects) and compare curl's outcome with the expected OONI
# failure string. Only the first input and plain `expect` lines are used.
check_input() {
    [ ${#INPUTS[@]} -gt 0 ] || return 0
    local url=${INPUTS[0]} e fail="" acc="" want=""
    [[ $url == http://* || $url == https://* ]] || return 0
    for e in "${EXPECTS[@]}"; do
        set -- $e
        case $1 in
            http_experiment_failure) fail=$2 ;;
            dns_experiment_failure) [ -n "$fail" ] || fail=$2 ;;
            accessible) acc=$2 ;;
        esac
    done
    case $fail in
        dns_nxdomain_error|dns_no_answer|dns_server_failure|android_dns_cache_no_data) want="6" ;;
        connection_refused) want="7" ;;
        connection_reset) want="35 56" ;;
        generic_timeout_error) want="28" ;;
        eof_error) want="35 52" ;;
        ssl_unknown_authority|ssl_invalid_certificate|ssl_invalid_hostname) want="60" ;;
        http_invalid_redirect_location_host) want="3 6" ;;
        http_too_many_redirects) want="47" ;;
        "") [ "$acc" = true ] && want="0" ;;
    esac
    [ -n "$want" ] || return 0
    local rc code
    read -r rc code _ <<<"$(st_curl client 4 "$url" -L --max-redirs 10)"
    [[ " $want " == *" $rc "* ]]
    st_res $? "[$SCN_NAME] input $url from the client: curl rc=$rc (code $code), expected ${fail:-success} (rc in: $want)"
}

check_national() {
    local n; n=$(($(wc -l <"$RUN/national-truth.csv") - 1))
    [ "$n" -ge 2000 ]; st_res $? "[$SCN_NAME] ground truth has $n URLs ($RUN/national-truth.csv)"
    local blocked; blocked=$(awk -F, 'NR>1 && $2!="none" && $2!~/^skipped/' "$RUN/national-truth.csv" | wc -l)
    local skipped; skipped=$(awk -F, 'NR>1 && $2~/^skipped/' "$RUN/national-truth.csv" | wc -l)
    [ "$skipped" -lt 50 ]; st_res $? "[$SCN_NAME] only $skipped URLs skipped (IP literals / odd ports, reason recorded)"
    # determinism: regenerating the world from the same lists gives the same truth
    local t2; t2=$(mktemp)
    local -a wf; mapfile -t wf <"$RUN/world.files"
    awk -v share="$(cat "$RUN/world.share")" -v seed="$(cat "$RUN/world.seed")" -v out=/dev/null -v truth="$t2" \
        -f "$TB_DIR/lib/world.awk" "${wf[@]}" 2>/dev/null
    cmp -s "$t2" "$RUN/national-truth.csv"; st_res $? "[$SCN_NAME] world generation is deterministic (same seed, same truth)"
    rm -f "$t2"
    awk -v b="$blocked" -v n="$n" 'BEGIN { exit !(b > n*0.25 && b < n*0.42) }'
    st_res $? "[$SCN_NAME] blocked share $blocked/$n is about a third"
    # a deterministic sample of accessible URLs, from the client
    local url method rc code k=0
    while IFS=, read -r url method _; do
        [ "$method" = none ] || continue
        read -r rc code _ <<<"$(st_curl client 4 "$url")"
        [ "$rc" = 0 ] && [ "$code" = 200 ]; st_res $? "[$SCN_NAME] accessible URL $url (rc=$rc code=$code)"
        k=$((k + 1)); [ $k -lt 4 ] || break
    done < <(awk -F, 'NR>1' "$RUN/national-truth.csv" | awk 'NR%97==5')
}

selftest_main() {
    set +e
    local t0=$SECONDS
    ST_DIR=$(mktemp -d /tmp/cs-selftest.XXXXXX)
    ST_OUT=$ST_DIR/results
    ST_BODY=$ST_DIR/body
    ST_ERR=$ST_DIR/err
    : >"$ST_OUT"
    trap 'cmd_down >/dev/null 2>&1 || true; rm -rf "$ST_DIR"' EXIT
    trap 'exit 130' INT TERM

    # 1. every scenario file parses and declares an expected verdict
    local line
    while IFS= read -r line; do
        case $line in ok*) st_ok "${line#ok   }" ;; *) st_bad "${line#FAIL }" ;; esac
    done < <(cmd_check 2>&1 || true)

    # 2. bring scenarios up
    local list=("$@")
    if [ ${#list[@]} -eq 0 ]; then
        mapfile -t list < <(default_selftest_list)
    fi
    local s first=1
    for s in "${list[@]}"; do
        log "selftest: $s"
        (
            [ $first = 1 ] && ST_GLOBAL=1
            run_one "$s"
        ) || st_bad "[$s] selftest crashed"
        first=0
    done
    cmd_down >/dev/null 2>&1 || true
    local left; left=$(ip netns list | grep -c "^$PFX-" || true)
    [ "$left" = 0 ]; st_res $? "down removes every $PFX- namespace"
    local p f
    p=$(grep -c '^ok' "$ST_OUT" || true)
    f=$(grep -c '^FAIL' "$ST_OUT" || true)
    log "selftest took $((SECONDS - t0))s"
    echo "$p passed, $f failed"
    [ "$f" = 0 ]
}

default_selftest_list() {
    echo primitives/all-primitives
    find "$SCN_DIR/ooni-qa" "$SCN_DIR/extra" "$SCN_DIR/pakistan" "$SCN_DIR/apps" "$SCN_DIR/throttling" -name '*.scn' 2>/dev/null | sort | sed "s|$SCN_DIR/||; s|\.scn$||"
    [ -n "${CS_TB_SELFTEST_QUICK:-}" ] || find "$SCN_DIR/national" -name '*.scn' 2>/dev/null | sort | sed "s|$SCN_DIR/||; s|\.scn$||"
}
