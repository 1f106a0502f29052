# shellcheck shell=bash
# testbed tampering censors (issue 14, docs/forensics.md): sourced by ./testbed (functions only).
#
#  * `censor dns-dnat IP`: UDP and TCP port 53 to IP (a public resolver's address) are
#    DNAT'ed to the ISP resolver on the censor (WMS 2.0 "WAN-NAT"): IP answers, but it is
#    not IP's resolver that does;
#  * `censor dns-proxy IP`: the same DNAT, but the ISP resolver forwards every query (the
#    whoami zone too) to IP: a transparent DNS proxy in front of the genuine resolver, whose
#    egress then asks the zone (the identity says "genuine"; only the reply TTLs see the box);
#  * `censor tls-intercept HOST`: TLS to HOST's addresses on 443 is redirected to an nginx on
#    the censor that terminates it with a certificate for HOST signed by the testbed's
#    "interception CA" (written to $CS_TB_INTERCEPT_CA: a probe that was made to trust it
#    gets it with --ca-file) and re-encrypts to the real site (a TLS MITM engine);
#  * `censor http-rewrite HOST [SUFFIX]`: plain HTTP to HOST's addresses on 80 goes through
#    the same nginx, which appends a payload to every response whose path ends in SUFFIX
#    (default .exe) and passes everything else through unchanged (download injection);
#  * `whoami ZONE PORT`: both resolvers send queries under ZONE to the control host's
#    `censorscope helper --dns-zone ZONE --dns-listen 198.18.5.2:PORT` (the test starts it),
#    the way a recursive resolver reaches an authoritative server: the helper sees which
#    resolver asked. $CS_TB_PUBLIC_EGRESS is the public resolver's egress toward it;
#  * `public-doh`: the public resolver's operator also serves DNS over HTTPS, the way
#    https://8.8.8.8/dns-query does: dnsdist (Debian's package, a real DoH server) on the
#    internet host answers https://198.18.3.53/dns-query with a certificate from the testbed
#    CA for the IP address (and dns.public.test), forwarding to the public resolver's dnsmasq.
#    The sites' nginx holds the wildcard *:443 there, so 198.18.3.53:443 is DNAT'ed on that
#    host to dnsdist's 198.18.3.53:$TAMPER_DOH_PORT (the host's own port map: its SYN-ACK
#    still comes from the internet host). $CS_TB_PUBLIC_DOH is the URL.

TAMPER_PORT_TLS=8443 TAMPER_PORT_HTTP=8088
TAMPER_WHOAMI="" TAMPER_WHOAMI_PORT="" TAMPER_PROXY=""
TAMPER_DOH="" TAMPER_DOH_PORT=8453
declare -a TAMPER_TLS=() TAMPER_HTTP=()

tamper_parse() { # file line keyword words...
    local f=$1 n=$2 kw=$3; shift 3
    if [ "$kw" = public-doh ]; then
        [ $# -eq 0 ] || perr "$f" "$n" "public-doh (no arguments)"
        TAMPER_DOH=1; return
    fi
    if ! [[ ${1:-} =~ ^[a-z0-9.-]+$ && ${2:-} =~ ^[0-9]{1,5}$ ]]; then
        perr "$f" "$n" "whoami ZONE PORT"; return
    fi
    TAMPER_WHOAMI=${1,,} TAMPER_WHOAMI_PORT=$2
}

tamper_check_rule() { # file line method target arg
    local f=$1 n=$2 m=$3 t=${4:-} a=${5:-}
    case $m in
        dns-dnat|dns-proxy) { valid_addr "$t" && allowed_addr "$t"; } || { perr "$f" "$n" "$m IP"; return 1; } ;;
        tls-intercept) [ -n "$t" ] || { perr "$f" "$n" "tls-intercept HOST"; return 1; } ;;
        http-rewrite)
            if [ -z "$t" ] || ! [[ -z $a || $a =~ ^\.[A-Za-z0-9]+$ ]]; then
                perr "$f" "$n" "http-rewrite HOST [.SUFFIX]"; return 1
            fi ;;
    esac
    return 0
}

# gen_censor's case for the methods above: nat rules into N (gen_censor's local, dynamic scope)
tamper_gen_rule() { # method target arg
    local m=$1 t=${2,,} a=${3:-} ip
    case $m in
        dns-dnat|dns-proxy)
            [ "$m" = dns-dnat ] || TAMPER_PROXY=$t
            N+=("-A CS-PRE -i cs-r0 -d $t -p udp --dport 53 -j DNAT --to-destination $ISP_RESOLVER:53")
            N+=("-A CS-PRE -i cs-r0 -d $t -p tcp --dport 53 -j DNAT --to-destination $ISP_RESOLVER:53") ;;
        tls-intercept|http-rewrite)
            local sa=${SITE_ADDRS[$t]:-}
            [ -n "$sa" ] || die "$m: $t is not a site"
            if [ "$m" = tls-intercept ]; then TAMPER_TLS+=("$t"); else TAMPER_HTTP+=("$t ${a:-.exe}"); fi
            for ip in ${sa//,/ }; do
                if [ "$m" = tls-intercept ]; then
                    N+=("-A CS-PRE -i cs-r0 -d $ip -p tcp --dport 443 -j REDIRECT --to-ports $TAMPER_PORT_TLS")
                else
                    N+=("-A CS-PRE -i cs-r0 -d $ip -p tcp --dport 80 -j REDIRECT --to-ports $TAMPER_PORT_HTTP")
                fi
            done ;;
    esac
}

# after gen_inet/gen_censor: the whoami zone's delegation in both resolvers' configuration
tamper_conf() {
    [ -n "$TAMPER_WHOAMI" ] || return 0
    local l="server=/$TAMPER_WHOAMI/$CONTROL_ADDR#$TAMPER_WHOAMI_PORT"
    echo "$l" >>"$RUN/inet/dnsmasq.conf"
    # a transparent proxy forwards the zone to the resolver it stands in front of
    [ -z "$TAMPER_PROXY" ] || l="server=/$TAMPER_WHOAMI/$TAMPER_PROXY"
    echo "$l" >>"$RUN/censor/dnsmasq.conf"
}

# after the services: the public resolver's DoH endpoint (dnsdist on the internet host)
tamper_doh_up() {
    [ -n "$TAMPER_DOH" ] || return 0
    command -v dnsdist >/dev/null || die "public-doh needs dnsdist (scripts/setup.sh installs it)"
    local d=$RUN/inet/doh
    mkdir -p "$d"
    openssl req -new -key "$RUN/ca/leaf.key" -subj "/CN=$PUBLIC_RESOLVER" 2>/dev/null |
        openssl x509 -req -CA "$RUN/ca/ca.pem" -CAkey "$RUN/ca/ca.key" -days 825 \
            -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
            -extfile <(printf 'subjectAltName=IP:%s,DNS:dns.public.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$PUBLIC_RESOLVER") \
            -out "$d/doh.pem" 2>/dev/null || die "public-doh: certificate signing failed"
    cat >"$d/dnsdist.conf" <<EOF
-- testbed: the public resolver's DNS over HTTPS (lib/tamper.sh, docs/testbed.md)
setSecurityPollSuffix("")
setLocal("127.0.0.1:$TAMPER_DOH_PORT")
setACL({"$LAB_NET", "$LAB6_NET", "127.0.0.0/8"})
addDOHLocal("$PUBLIC_RESOLVER:$TAMPER_DOH_PORT", "$d/doh.pem", "$RUN/ca/leaf.key", "/dns-query")
newServer({address="$PUBLIC_RESOLVER:53", name="public-resolver"})
EOF
    nsx "$NS_I" iptables -w -t nat -A PREROUTING -d "$PUBLIC_RESOLVER" -p tcp --dport 443 \
        -j DNAT --to-destination "$PUBLIC_RESOLVER:$TAMPER_DOH_PORT" || die "public-doh: nat rule failed"
    start_bg "$NS_I" "$d/dnsdist.log" "$d/dnsdist.pid" dnsdist --supervised --disable-syslog -C "$d/dnsdist.conf"
    for _ in $(seq 1 50); do
        nsx "$NS_I" ss -Htln "sport = :$TAMPER_DOH_PORT" | grep -q "$PUBLIC_RESOLVER" && return 0
        kill -0 "$(cat "$d/dnsdist.pid")" 2>/dev/null || break
        sleep 0.1
    done
    die "public-doh: dnsdist did not start ($d/dnsdist.log)"
}

# after the services: the interception CA and the tampering nginx on the censor
tamper_up() {
    tamper_doh_up
    [ ${#TAMPER_TLS[@]} -gt 0 ] || [ ${#TAMPER_HTTP[@]} -gt 0 ] || return 0
    local d=$RUN/censor/tamper ca=$RUN/ca h e
    mkdir -p "$d/tmp"
    openssl ecparam -name prime256v1 -genkey -noout -out "$ca/intercept.key" 2>/dev/null
    openssl req -x509 -new -key "$ca/intercept.key" -subj "/O=testbed interception/CN=testbed interception CA" \
        -days 3650 -out "$ca/intercept.pem" 2>/dev/null
    printf 'payload injected by the testbed censor\n' >"$d/payload.bin"
    {
        cat <<EOF
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/nginx-error.log warn;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  access_log $d/access.log;
  client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fcgi; uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
  resolver $PUBLIC_RESOLVER valid=5s ipv6=off;
  server_tokens off;
  proxy_http_version 1.1;
  proxy_set_header Accept-Encoding "";
EOF
        for h in "${TAMPER_TLS[@]}"; do
            sign_cert "$d/$h.pem" intercept 825 "$h"
            cat <<EOF
  server {
    listen $TAMPER_PORT_TLS ssl;
    server_name $h;
    ssl_certificate $d/$h.pem; ssl_certificate_key $RUN/ca/leaf.key;
    location / {
      proxy_pass https://${SITE_ADDRS[$h]%%,*}:443;
      proxy_set_header Host \$host;
      proxy_ssl_server_name on; proxy_ssl_name \$host;
    }
  }
EOF
        done
        for e in "${TAMPER_HTTP[@]}"; do
            h=${e%% *}
            local suf=${e#* }
            cat <<EOF
  server {
    listen $TAMPER_PORT_HTTP;
    server_name $h;
    location = /__cs_payload { internal; alias $d/payload.bin; }
    location ~ \\${suf}\$ {
      proxy_pass http://${SITE_ADDRS[$h]%%,*}:80;
      proxy_set_header Host \$host;
      addition_types *;
      add_after_body /__cs_payload;
    }
    location / {
      proxy_pass http://${SITE_ADDRS[$h]%%,*}:80;
      proxy_set_header Host \$host;
    }
  }
EOF
        done
        echo "}"
    } >"$d/nginx.conf"
    nsx "$NS_R" nginx -e "$d/nginx-error.log" -c "$d/nginx.conf" 9>&- || die "tamper nginx failed ($d/nginx-error.log)"
}

tamper_env() {
    [ ! -f "$RUN/ca/intercept.pem" ] || echo "CS_TB_INTERCEPT_CA=$RUN/ca/intercept.pem"
    [ -z "$TAMPER_DOH" ] || echo "CS_TB_PUBLIC_DOH=https://$PUBLIC_RESOLVER/dns-query"
    [ -n "$TAMPER_WHOAMI" ] || return 0
    printf 'CS_TB_WHOAMI_ZONE=%s\nCS_TB_WHOAMI_PORT=%s\n' "$TAMPER_WHOAMI" "$TAMPER_WHOAMI_PORT"
    # where the public resolver's queries to the control host come from (its address on the
    # control LAN): the egress range an operator publishes (Google Public DNS: publicdns.json)
    echo "CS_TB_PUBLIC_EGRESS=${CONTROL_ADDR%.*}.1/32"
}
