#!/usr/bin/env python3
"""check_explorer.py - checks the explorer web UI of a running collector, for
tests/net/explorer_browser.sh. Prints "ok:   ..." / "FAIL: ..." lines.

  check_explorer.py http BASE              the UI's HTTP answers: content types, the CSP and
                                           other security headers, ETag/304, 404s, and that
                                           the static files load nothing from elsewhere
  check_explorer.py dom BASE DOM HASH SUBMITTED.json
                                           the DOM Chromium rendered (--dump-dom) for the page
                                           at BASE/#HASH: every chart and table shows the
                                           numbers the API gives for the same filters (and the
                                           per-network totals equal what the collector
                                           acknowledged), the hostile strings are text, no
                                           injected element or handler exists, no script ran.
"""
import html.parser
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

fails = 0


def res(ok, what):
    global fails
    print(('ok:   ' if ok else 'FAIL: ') + what)
    if not ok:
        fails += 1
    return ok


def get(base, path, headers=None):
    req = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()


def api(base, path, params):
    q = urllib.parse.urlencode(params)
    st, _, body = get(base, '/api/v1/' + path + ('?' + q if q else ''),
                      {'Accept': 'application/json'})
    if st != 200:
        return None
    return json.loads(body.decode('utf-8'))


# ---- the HTTP side ------------------------------------------------------------------------
def check_http(base):
    st, h, body = get(base, '/')
    res(st == 200, 'GET / answers 200 (%s)' % st)
    res(h.get('content-type', '').startswith('text/html'), 'GET / is text/html (%s)' % h.get('content-type'))
    csp = h.get('content-security-policy', '')
    res("default-src 'self'" in csp, "CSP header sent with default-src 'self' (%s)" % csp)
    res("frame-ancestors 'none'" in csp, "CSP forbids framing (frame-ancestors 'none')")
    res('unsafe-inline' not in csp and 'unsafe-eval' not in csp and '*' not in csp,
        'CSP allows no inline script/style, no eval, no wildcard')
    res(h.get('x-content-type-options', '').lower() == 'nosniff', 'X-Content-Type-Options: nosniff')
    etag = h.get('etag', '')
    res(re.fullmatch(r'"[0-9a-f]{20}"', etag) is not None, 'a strong ETag (%s)' % etag)
    st2, h2, body2 = get(base, '/', {'If-None-Match': etag})
    res(st2 == 304 and not body2, 'If-None-Match with the ETag answers 304 without a body (%s)' % st2)
    st3, _, _ = get(base, '/', {'If-None-Match': '"0000", W/' + etag})
    res(st3 == 304, 'a weak ETag in a list matches too (%s)' % st3)
    st4, _, b4 = get(base, '/', {'If-None-Match': '"00000000000000000000"'})
    res(st4 == 200 and b4 == body, 'another ETag gets the page (%s)' % st4)
    page = body.decode('utf-8')
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    res(refs and all(r.startswith('/') and not r.startswith('//') for r in refs),
        'index.html refers only to the collector\'s own paths (%s)' % ', '.join(refs))
    res(not re.search(r'<script(?![^>]*\ssrc=)', page) and ' style=' not in page and '<style' not in page,
        'index.html has no inline script or style')
    types = {'/ui/app.js': 'text/javascript', '/ui/app.css': 'text/css'}
    for path, ctype in types.items():
        st, h, b = get(base, path)
        res(st == 200 and h.get('content-type', '').startswith(ctype) and len(b) > 1000,
            '%s: 200 %s, %d bytes' % (path, h.get('content-type'), len(b)))
        res("default-src 'self'" in h.get('content-security-policy', '') and
            h.get('x-content-type-options') == 'nosniff', '%s carries the CSP and nosniff' % path)
        text = b.decode('utf-8')
        ext = re.findall(r'(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\'")]*', text)
        ext = [u for u in ext if u != 'http://www.w3.org/2000/svg']
        res(not ext, '%s loads nothing from elsewhere (%s)' % (path, ext[:3]))
        if path.endswith('.js'):
            code = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
            bad = [w for w in ('innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write',
                               'eval(', 'new Function', 'setTimeout(\'', 'DOMParser',
                               'createContextualFragment', '.style') if w in code]
            res(not bad, 'app.js uses no HTML-parsing or eval sink (%s)' % bad)
        if path.endswith('.css'):
            res('@import' not in text and 'url(' not in text, 'app.css imports nothing')
    for path in ('/ui/nope.js', '/ui/..%2Fui.c', '/ui/%2e%2e', '/ui/index.html.js', '/ui/',
                 '/ui/APP.JS', '/ui/app.js/x', '/index.html'):
        st, h, b = get(base, path)
        res(st == 404, '%s answers 404 (%s)' % (path, st))
    st, h, b = get(base, '/ui/index.html')
    res(st == 200 and b == body, '/ui/index.html is the page at /')


# ---- a small DOM from the serialised HTML -----------------------------------------------
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids = tag, dict(attrs), parent, []

    def text(self):
        return ''.join(k if isinstance(k, str) else k.text() for k in self.kids)

    def walk(self):
        yield self
        for k in self.kids:
            if not isinstance(k, str):
                yield from k.walk()

    def find(self, tag=None, **attrs):
        return [n for n in self.walk() if (tag is None or n.tag == tag) and
                all(n.attrs.get(k.replace('_', '-')) == v for k, v in attrs.items())]

    def by_id(self, i):
        r = [n for n in self.walk() if n.attrs.get('id') == i]
        return r[0] if r else None


VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source',
        'track', 'wbr'}


class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node('#root', {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.kids.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.kids.append(data)


def parse(path):
    p = Parser()
    with open(path, encoding='utf-8') as f:
        p.feed(f.read())
    return p.root


def counts(row):
    a, c = int(row.get('anomaly_count', 0)), int(row.get('confirmed_count', 0))
    return {'total': int(row.get('measurement_count', 0)), 'ok': int(row.get('ok_count', 0)),
            'fail': int(row.get('failure_count', 0)), 'blocked': a + c, 'confirmed': c}


def rows_of(j):
    r = j.get('result') if j else None
    if isinstance(r, list):
        return r
    return [r] if isinstance(r, dict) else []


def asn_of(v):
    return re.sub(r'^AS', '', str(v), flags=re.I)


def cell_ints(tr):
    return [int(td.text()) for td in tr.find('td') if re.fullmatch(r'\d+', td.text().strip())]


def check_dom(base, dom_path, hash_, submitted_path):
    dom = parse(dom_path)
    sub = json.load(open(submitted_path, encoding='utf-8'))
    st = dict(urllib.parse.parse_qsl(hash_))
    f = {}
    if st.get('cc'):
        f['probe_cc'] = st['cc']
    if st.get('asn'):
        f['probe_asn'] = st['asn']
    if st.get('domain'):
        f['domain'] = st['domain']
    tag = '[#%s] ' % hash_[:60]
    body = dom.find('body')
    res(bool(body) and body[0].attrs.get('data-loaded'), tag + 'the dashboard finished loading (body data-loaded)')
    if api(base, 'aggregation', {}) is None:
        print('note: ' + tag + 'no explorer API (/api/v1/aggregation) in this build: only the '
              'page\'s safety is checked, not its numbers')
        check_safety(dom, body, tag, sub, [])
        return
    status = dom.by_id('status')
    res(status is not None and status.text().startswith('Showing'),
        tag + 'every part loaded (status: %s)' % (status.text()[:160] if status else None))

    # -- summary cards == aggregation without axes
    tot = {'total': 0, 'ok': 0, 'fail': 0, 'blocked': 0, 'confirmed': 0}
    for r in rows_of(api(base, 'aggregation', f)):
        for k, v in counts(r).items():
            tot[k] += v
    cards = {c.attrs.get('data-k'): c.find('span', **{'class': 'n'})[0].text() for c in dom.find('div') if c.attrs.get('data-k')}
    want = {'measurements': tot['total'], 'blocked': tot['blocked'], 'ok': tot['ok'],
            'failure': tot['fail'], 'confirmed': tot['confirmed']}
    res(cards == {k: str(v) for k, v in want.items()}, tag + 'summary cards = API %s (DOM %s)' % (want, cards))
    res(tot['total'] > 0, tag + 'the view has measurements (%d)' % tot['total'])

    # -- blocking over time by method: table and SVG == aggregation day x blocking_type
    rows = rows_of(api(base, 'aggregation', dict(f, axis_x='measurement_start_day', axis_y='blocking_type', time_grain='day')))
    exp = {}
    for r in rows:
        d = str(r.get('measurement_start_day'))[:10]
        c = counts(r)
        e = exp.setdefault(d, {})
        e['ok'] = e.get('ok', 0) + c['ok']
        e['failure'] = e.get('failure', 0) + c['fail']
        if c['blocked']:
            k = 'method:' + (r.get('blocking_type') or '')
            e[k] = e.get(k, 0) + c['blocked']
    t = dom.by_id('t-time')
    got = {}
    if t is not None:
        for tr in t.find('tr'):
            if tr.attrs.get('data-x'):
                got[tr.attrs['data-x']] = {td.attrs['data-series']: int(td.text()) for td in tr.find('td') if td.attrs.get('data-series')}
    nz = {d: {k: v for k, v in s.items() if v} for d, s in got.items()}
    nz = {d: s for d, s in nz.items() if s}
    expnz = {d: {k: v for k, v in s.items() if v} for d, s in exp.items()}
    expnz = {d: s for d, s in expnz.items() if s}
    res(t is not None and nz == expnz, tag + 'by-method table = API day x blocking_type (%d days, %d cells)' % (len(expnz), sum(len(s) for s in expnz.values())))
    svg = dom.by_id('chart-time-svg')
    segs = {}
    scale = set()
    if svg is not None:
        for g in svg.find('g'):
            if g.attrs.get('data-x'):
                for r in g.find('rect'):
                    v = int(r.attrs['data-value'])
                    segs.setdefault(g.attrs['data-x'], {})[r.attrs['data-series']] = v
                    scale.add(round(float(r.attrs['height']) / v, 2))
    res(segs == expnz, tag + 'by-method chart: one bar segment per (day, method) with the API\'s count (%d segments)' % sum(len(s) for s in segs.values()))
    res(len(scale) == 1 or (scale and max(scale) - min(scale) < 0.02 * max(scale)),
        tag + 'by-method chart: segment heights proportional to the counts (%s px per measurement)' % sorted(scale)[:3])
    methods = sorted({k for s in expnz.values() for k in s if k.startswith('method:')})
    legend = [li.attrs.get('data-series') for li in dom.by_id('chart-time').find('li')] if dom.by_id('chart-time') else []
    res(all(m in legend for m in methods), tag + 'legend names every method shown (%s)' % methods)

    # -- by category == aggregation category_code
    rows = rows_of(api(base, 'aggregation', dict(f, axis_x='category_code')))
    exp = {(r.get('category_code') or ''): counts(r) for r in rows}
    t = dom.by_id('t-cat')
    got = {}
    if t is not None:
        for tr in t.find('tr'):
            if 'data-cat' in tr.attrs:
                n = cell_ints(tr)
                got[tr.attrs['data-cat']] = {'total': n[0], 'blocked': n[1], 'ok': n[2], 'fail': n[3]} if len(n) >= 4 else n
    expc = {k: {x: v[x] for x in ('total', 'blocked', 'ok', 'fail')} for k, v in exp.items()}
    res(t is not None and got == expc, tag + 'category table = API by category_code (%d categories)' % len(expc))
    cat_svg = dom.by_id('chart-cat-svg')
    bars = {g.attrs['data-x']: int(g.attrs['data-total']) for g in cat_svg.find('g') if 'data-x' in g.attrs} if cat_svg else {}
    res(bars == {k: v['total'] for k, v in expc.items()}, tag + 'category chart: one bar per category with its total')

    # -- per-ISP comparison == aggregation day x probe_asn (filters without the ASN)
    fi = {k: v for k, v in f.items() if k != 'probe_asn'}
    rows = rows_of(api(base, 'aggregation', dict(fi, axis_x='measurement_start_day', axis_y='probe_asn', time_grain='day')))
    exp = {}
    perday = {}
    for r in rows:
        a = asn_of(r.get('probe_asn'))
        c = counts(r)
        e = exp.setdefault(a, {'total': 0, 'blocked': 0, 'ok': 0, 'fail': 0})
        for k in e:
            e[k] += c[k]
        if c['total']:
            perday[(a, str(r.get('measurement_start_day'))[:10])] = (c['blocked'], c['total'])
    t = dom.by_id('t-isp')
    got = {}
    if t is not None:
        for tr in t.find('tr'):
            if 'data-asn' in tr.attrs:
                n = cell_ints(tr)
                got[tr.attrs['data-asn']] = {'total': n[0], 'blocked': n[1], 'ok': n[2], 'fail': n[3]} if len(n) >= 4 else n
    res(t is not None and got == exp, tag + 'per-ISP table = API by probe_asn (%s)' % sorted(got))
    # independently of the API: each network's total is what the collector acknowledged
    if not st.get('domain'):  # (the domain is the collector's reading of the input)
        acked = {}
        for a in sub['accepted']:
            if a['cc'] == st.get('cc', a['cc']):
                acked[str(a['asn'])] = acked.get(str(a['asn']), 0) + 1
        res({k: v['total'] for k, v in got.items()} == acked,
            tag + 'per-ISP totals = measurements the collector acknowledged (%s)' % acked)
    mult = dom.by_id('isp-multiples')
    sm = {}
    if mult is not None:
        for fig in mult.find('figure'):
            for r in fig.find('rect'):
                if 'data-x' in r.attrs:
                    sm[(fig.attrs['data-asn'], r.attrs['data-x'])] = (int(r.attrs['data-blocked']), int(r.attrs['data-total']))
    res(sm == perday, tag + 'small multiples: one bar per (network, day) with blocked/total from the API (%d bars)' % len(sm))

    # -- alerts == changepoints + events
    cps = api(base, 'detector/changepoints', f)
    evs = api(base, 'detector/events', {k: v for k, v in f.items() if k != 'probe_asn'})
    t = dom.by_id('t-alerts')
    n_rows = len([tr for tr in t.find('tr') if 'data-kind' in tr.attrs]) if t is not None else 0
    n_api = len((cps or {}).get('results') or []) + len((evs or {}).get('results') or [])
    if cps is None:
        print('note: ' + tag + '/api/v1/detector/changepoints is not available: the alert timeline shows that')
    res(n_rows == n_api, tag + 'alert table rows = API change points + events (%d = %d)' % (n_rows, n_api))
    svg = dom.by_id('alerts-svg')
    marks = len([p for p in svg.find('path') if p.attrs.get('class') == 'mark']) if svg is not None else 0
    res(marks == n_api, tag + 'alert timeline: one marker per change point/event (%d)' % marks)

    # -- measurement list == /api/v1/measurements
    ml = api(base, 'measurements', dict(f, limit=50, offset=0))
    want = [str(r.get('measurement_uid')) for r in (ml or {}).get('results', [])]
    t = dom.by_id('t-list')
    got = [tr.attrs['data-uid'] for tr in t.find('tr') if 'data-uid' in tr.attrs] if t is not None else []
    res(ml is not None and got == want and want, tag + 'measurement list = API /measurements (%d rows)' % len(got))

    # -- one measurement's evidence
    d = None
    if st.get('m'):
        d = api(base, 'measurement/' + urllib.parse.quote(st['m'], safe=''), {})
        box = dom.by_id('meas')
        res(d is not None and box is not None, tag + 'the measurement is shown')
        if box is not None and d is not None:
            dd = {x.attrs.get('data-k'): x.text() for x in box.find('dd')}
            res(dd.get('Measurement') == st['m'], tag + 'evidence: the measurement_uid')
            mine = [a for a in sub['accepted'] if a['uid'] == st['m']]
            if mine:
                res(dd.get('Input') == mine[0]['input'][:2000] + ('…' if len(mine[0]['input']) > 2000 else ''),
                    tag + 'evidence: the input as submitted, as text')
            ev = d.get('evidence') or ''
            res(dd.get('Evidence') == ev[:2000] and ev, tag + 'evidence: the collector\'s evidence (%s)' % ev[:80])
            pre = dom.by_id('meas-raw')
            raw = None
            try:
                raw = json.loads(pre.text()) if pre is not None else None
            except ValueError:
                raw = None
            res(isinstance(raw, dict) and raw.get('input') == (mine[0]['input'] if mine else raw.get('input')),
                tag + 'evidence: the raw measurement as JSON text in a <pre>')
            steps = [x for x in ('t-dns', 't-tcp', 't-tls', 't-http') if dom.by_id(x) is not None]
            res(len(steps) >= 2, tag + 'evidence: step tables %s' % steps)

    # every payload the API gave this view (categories; the listed inputs' shown part; the
    # evidence) is in the page's text, verbatim
    shown = [(r.get('category_code') or '') for r in rows_of(api(base, 'aggregation', dict(f, axis_x='category_code')))]
    shown += [str(r.get('input') or '')[:200] for r in (ml or {}).get('results', [])]
    if st.get('m') and d is not None:
        shown += [str(d.get('evidence') or ''), str(d.get('input') or '')[:2000]]
    check_safety(dom, body, tag, sub, shown)


def check_safety(dom, body, tag, sub, shown):
    """Hostile strings: text only, nothing injected, nothing ran."""
    title = dom.find('title')
    res(title and title[0].text() == 'censorscope explorer', tag + 'document.title unchanged (%s)' % (title[0].text()[:60] if title else None))
    res(not body[0].attrs.get('data-pwned'), tag + 'no payload set an attribute on <body>')
    bad = [n.tag for n in dom.walk() if n.tag in ('img', 'iframe', 'object', 'embed', 'frame', 'base', 'form') and n.attrs.get('id') != 'filters']
    res(not bad, tag + 'no injected img/iframe/object/embed/base element (%s)' % bad[:5])
    scripts = [n.attrs.get('src') for n in dom.find('script')]
    res(scripts == ['/ui/app.js'], tag + 'the only script is /ui/app.js (%s)' % scripts)
    onattr = [(n.tag, k) for n in dom.walk() for k in n.attrs if k.lower().startswith('on')]
    res(not onattr, tag + 'no element has an on* event-handler attribute (%s)' % onattr[:5])
    hrefs = [n.attrs.get('href', '') for n in dom.find('a')]
    badh = [h for h in hrefs if not (h.startswith('#') or (h.startswith('/') and not h.startswith('//')))]
    res(hrefs and not badh, tag + 'every link goes to the collector\'s own paths (%d links; bad %s)' % (len(hrefs), badh[:3]))
    res(not dom.by_id('pwned5'), tag + 'no injected <a id=pwned5>')
    svgs_onload = [n for n in dom.find('svg') if any(k.startswith('on') for k in n.attrs)]
    res(not svgs_onload, tag + 'no <svg onload>')
    if not shown:
        return
    expect = [p for p in sub['hostile'] if any(p in x for x in shown)]
    alltext = dom.text()
    missing = [p for p in expect if p not in alltext]
    res(expect and not missing, tag + 'the hostile strings the API returned are shown as text (%d payloads; missing %s)' % (len(expect), missing[:2]))


def main():
    if sys.argv[1] == 'http':
        check_http(sys.argv[2])
    else:
        check_dom(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    sys.exit(1 if fails else 0)


if __name__ == '__main__':
    main()
