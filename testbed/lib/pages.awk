# Generate one index.html per site: input lines "host<TAB>size<TAB>title".
# Content is deterministic (depends only on host, size, title).
BEGIN { FS = "\t" }
{
    host = $1; size = $2 + 0; title = $3
    f = root "/" host "/index.html"
    head = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" title "</title></head>\n<body>\n<h1>" title "</h1>\n<p>Welcome to " host ", a site of the censorscope testbed internet.</p>\n"
    tail = "</body></html>\n"
    n = length(head) + length(tail)
    printf "%s", head > f
    i = 0
    while (n < size) {
        line = "<p>" host " paragraph " i ": lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n"
        if (n + length(line) > size) line = substr(line, 1, size - n - 1) "\n"
        printf "%s", line > f
        n += length(line); i++
        if (length(line) <= 1) break
    }
    printf "%s", tail > f
    close(f)
}
