# Generate one index.html per site: input lines "host<TAB>size<TAB>title".
# Creates root/host/ (one mkdir for all) and writes pages of exactly `size`
# bytes (at least the head and tail). Content depends only on host, size, title.
BEGIN { FS = "\t"; n = 0 }
{ H[++n] = $1; S[n] = $2 + 0; T[n] = $3 }
END {
    if (n == 0) exit 0
    # one mkdir for every directory, in batches to stay below ARG_MAX
    cmd = ""
    for (i = 1; i <= n; i++) {
        cmd = cmd " '" root "/" H[i] "'"
        if (length(cmd) > 60000 || i == n) { system("mkdir -p" cmd); cmd = "" }
    }
    for (i = 1; i <= n; i++) {
        host = H[i]; size = S[i]; title = T[i]
        f = root "/" host "/index.html"
        head = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" title "</title></head>\n<body>\n<h1>" title "</h1>\n<p>Welcome to " host ", a site of the censorscope testbed internet.</p>\n"
        tail = "</body></html>\n"
        para = "<p>" host ": lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.</p>\n"
        block = para
        while (length(block) < 8192) block = block block
        left = size - length(head) - length(tail)
        printf "%s", head > f
        while (left >= length(block)) { printf "%s", block > f; left -= length(block) }
        if (left > 0) printf "%s\n", substr(block, 1, left - 1) > f
        printf "%s", tail > f
        close(f)
    }
}
