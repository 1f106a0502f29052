# National world generator (POSIX awk: works with mawk and gawk).
# Input: Citizen Lab test-list CSV files (url first column, header line).
# Output: scenario lines (site/title/censor) to `out`, ground truth to `truth`.
# Variables: share (0..1 blocked share of hosts), seed (integer), out, truth.
# Everything is decided by a seeded hash of the host name, so runs are
# reproducible and independent of file order for a given host.

function h31(s, m,    i, h, c) {
    h = seed % 2147483647
    for (i = 1; i <= length(s); i++) {
        c = ORD[substr(s, i, 1)]
        h = (h * m + c + 1) % 2147483647
    }
    return h
}

function pick(list, n, h) { return list[(h % n) + 1] }

BEGIN {
    for (i = 32; i < 127; i++) ORD[sprintf("%c", i)] = i
    nurl = 0; nhost = 0
    # weighted method lists (repeat = weight)
    split("dns-blockpage dns-blockpage dns-blockpage dns-nxdomain dns-inject dns-inject tcp-reject tcp-drop", COMMON, " ")
    ncommon = 8
    split("sni-reset sni-reset sni-reset sni-fin sni-drop", TLSM, " ")
    ntls = 5
    split("http-blockpage http-blockpage http-blockpage host-reset http-redirect", HTTPM, " ")
    nhttp = 5
    BP = "198.18.4.83"
}

FNR == 1 { next }   # header

{
    line = $0
    sub(/\r$/, "", line)
    if (substr(line, 1, 1) == "\"") { url = substr(line, 2); sub(/".*/, "", url) }
    else { url = line; sub(/,.*/, "", url) }
    if (url == "" || (url in SEEN)) next
    SEEN[url] = 1
    nurl++
    URL[nurl] = url
    low = tolower(url)
    if (low !~ /^https?:\/\//) { WHY[nurl] = "skipped-scheme"; next }
    scheme = low; sub(/:.*/, "", scheme)
    rest = substr(url, length(scheme) + 4)
    hostport = rest; sub(/[\/?#].*/, "", hostport)
    host = tolower(hostport)
    if (host ~ /@/) { WHY[nurl] = "skipped-userinfo"; next }
    if (host ~ /:/) {
        port = host; sub(/.*:/, "", port); sub(/:.*/, "", host)
        if (!((scheme == "http" && port == "80") || (scheme == "https" && port == "443"))) { WHY[nurl] = "skipped-port"; next }
    }
    sub(/\.$/, "", host)
    if (host ~ /^[0-9.]+$/ || host ~ /^\[/) { WHY[nurl] = "skipped-ip-literal"; next }
    if (host !~ /^[a-z0-9_.-]+$/ || host !~ /\./ || length(host) > 253) { WHY[nurl] = "skipped-invalid-host"; next }
    UHOST[nurl] = host; USCHEME[nurl] = scheme
    if (!(host in HIDX)) { nhost++; HIDX[host] = nhost; HOSTS[nhost] = host }
    if (scheme == "http") HASHTTP[host] = 1; else HASHTTPS[host] = 1
}

END {
    nblocked = 0
    for (i = 1; i <= nhost; i++) {
        host = HOSTS[i]
        k = i - 1
        addr = "198.18." (96 + int(k / 250)) "." (1 + k % 250)
        ADDR[host] = addr
        size = 2000 + h31(host, 37) % 90000
        printf "site %s %s size=%d\n", host, addr, size > out
        printf "title %s %s\n", host, host > out
        if ((h31(host, 31) % 10000) >= share * 10000) { M[host] = "none"; continue }
        hm = h31(host, 131)
        if (HASHTTP[host] && HASHTTPS[host]) {
            if (hm % 3 == 0) m = pick(COMMON, ncommon, int(hm / 3)); else m = "sni-reset+http-blockpage"
        } else if (HASHTTPS[host]) {
            if (hm % 2 == 0) m = pick(COMMON, ncommon, int(hm / 2)); else m = pick(TLSM, ntls, int(hm / 2))
        } else {
            if (hm % 2 == 0) m = pick(COMMON, ncommon, int(hm / 2)); else m = pick(HTTPM, nhttp, int(hm / 2))
        }
        M[host] = m
        nblocked++
        if (m == "dns-blockpage") printf "censor dns-lie %s %s\n", host, BP > out
        else if (m == "dns-nxdomain") printf "censor dns-nxdomain %s\n", host > out
        else if (m == "dns-inject") printf "censor dns-inject %s %s\n", host, BP > out
        else if (m == "tcp-reject") printf "censor tcp-reject %s\n", addr > out
        else if (m == "tcp-drop") printf "censor tcp-drop %s\n", addr > out
        else if (m ~ /^sni-/ && m !~ /\+/) printf "censor %s %s\n", m, host > out
        else if (m == "http-blockpage") printf "censor http-blockpage %s pk_nayatel_surfsafely.html\n", host > out
        else if (m == "host-reset") printf "censor host-reset %s\n", host > out
        else if (m == "http-redirect") printf "censor http-redirect %s http://restrict.wateen.net/\n", host > out
        else if (m == "sni-reset+http-blockpage") {
            printf "censor sni-reset %s\n", host > out
            printf "censor http-blockpage %s pk_nayatel_surfsafely.html\n", host > out
        }
    }
    B["none"] = "false"; B["dns-blockpage"] = "dns"; B["dns-nxdomain"] = "dns"; B["dns-inject"] = "dns"
    B["tcp-reject"] = "tcp_ip"; B["tcp-drop"] = "tcp_ip"; B["sni-reset"] = "http-failure"; B["sni-fin"] = "http-failure"
    B["sni-drop"] = "http-failure"; B["host-reset"] = "http-failure"; B["http-blockpage"] = "http-diff"; B["http-redirect"] = "http-diff"
    print "url,method,expected_blocking,host,address" > truth
    for (u = 1; u <= nurl; u++) {
        url = URL[u]
        if (url ~ /[,"]/) { q = url; gsub(/"/, "\"\"", q); q = "\"" q "\"" } else q = url
        if (u in WHY) { printf "%s,%s,,,\n", q, WHY[u] > truth; continue }
        host = UHOST[u]; m = M[host]
        if (m == "sni-reset+http-blockpage") m = (USCHEME[u] == "https") ? "sni-reset" : "http-blockpage"
        printf "%s,%s,%s,%s,%s\n", q, m, B[m], host, ADDR[host] > truth
    }
    printf "world: %d urls, %d hosts, %d blocked hosts (share %s, seed %s)\n", nurl, nhost, nblocked, share, seed > "/dev/stderr"
}
