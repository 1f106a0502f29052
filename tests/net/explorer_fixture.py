#!/usr/bin/env python3
"""explorer_fixture.py - submits a small fleet's measurements to a running collector through
its real OONI probe-services API, for tests/net/explorer_browser.sh.

Usage: explorer_fixture.py http://127.0.0.1:PORT > submitted.json

The measurements are real web_connectivity measurements stored from the testbed
(tests/fixtures/testbed-wc/), re-targeted (input, times, network) and varied so that the
collector's own analysis finds: reachable, DNS blocking, TCP/IP blocking, HTTP failure, and
no verdict (control failed). The fleet:
  - PK AS64510, AS64511, AS64512: www.example.com every hour for 36 hours, reachable for the
    first 18 hours and blocked for the last 18 (DNS on two networks, TCP/IP on the third):
    an onset the detector must see, several networks at once (a country-wide event);
  - PK AS64513: a dozen measurements over 5 days carrying hostile strings (script tags,
    event-handler attributes, javascript: URLs, a 3000-character URL) in the input, the
    category, the network name and the failure strings that become the evidence;
  - IR AS64520: a few reachable measurements (a second country).
Prints {"accepted": [{uid, cc, asn, domain, kind, category, input, start}], "refused": [...]}:
what the collector acknowledged (each uid) and what it refused (status and reason)."""
import copy
import datetime as dt
import http.client
import json
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, '..', 'fixtures', 'testbed-wc')

# The payloads: each would change the page (title, an attribute, an element) if it ever ran.
P_SCRIPT = "<script>document.title='PWNED-1'</script>"
P_IMG = "<img src=x onerror=\"document.title='PWNED-2'\">"
P_SVG = "\"><svg onload=\"document.body.setAttribute('data-pwned','3')\">"
P_JS = "javascript:document.title='PWNED-4'"
P_A = "<a href=\"javascript:document.title='PWNED-5'\" id=\"pwned5\">click</a>"
P_IFRAME = "</pre><iframe srcdoc=\"<script>parent.document.title='PWNED-6'</script>\"></iframe>"
HOSTILE = [P_SCRIPT, P_IMG, P_SVG, P_JS, P_A, P_IFRAME]


def load(name):
    with open(os.path.join(FIX, name), encoding='utf-8') as f:
        return json.loads(f.readline())


def templates():
    ok = load('dnsHijackingToProxyWithHTTPURL.jsonl')
    tk = ok['test_keys']
    # consistent DNS (the control's address), so the measurement is plainly reachable
    tk['queries'][0]['answers'][0]['ipv4'] = '198.18.64.10'
    tk['tcp_connect'][0]['ip'] = '198.18.64.10'
    tk['requests'][0]['address'] = '198.18.64.10:80'
    tcp = copy.deepcopy(ok)
    tk = tcp['test_keys']
    tk['tcp_connect'][0]['status'] = {'failure': 'generic_timeout_error', 'success': False}
    tk['requests'] = []
    tk['http_experiment_failure'] = 'generic_timeout_error'
    http = copy.deepcopy(ok)
    tk = http['test_keys']
    tk['requests'][0]['failure'] = 'connection_reset'
    tk['requests'][0]['response'] = None
    tk['http_experiment_failure'] = 'connection_reset'
    return {'ok': ok, 'dns': load('dnsRedirectToLookalikePage.jsonl'), 'tcp': tcp,
            'http': http, 'nover': load('controlFailureWithDNSBlocking.jsonl')}


def ts(t):
    return t.strftime('%Y-%m-%d %H:%M:%S')


class Api:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def post(self, path, obj):
        body = json.dumps(obj, ensure_ascii=False).encode('utf-8')
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.request('POST', path, body, {'Content-Type': 'application/json',
                                                       'X-Censorscope-Probe-Set': 'explorer-ui-test'})
                r = self.conn.getresponse()
                data = r.read()
                try:
                    j = json.loads(data.decode('utf-8')) if data else {}
                except ValueError:
                    j = {'error': data[:200].decode('utf-8', 'replace')}
                return r.status, j
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    raise
        return 0, {}


def main():
    base = sys.argv[1]
    api = Api(base)
    tpl = templates()
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    accepted, refused = [], []

    def content(kind, cc, asn, url, start, category=None, network=None, tweak=None):
        m = copy.deepcopy(tpl[kind])
        m['input'] = url
        m['probe_cc'] = cc
        m['probe_asn'] = 'AS%d' % asn
        m['measurement_start_time'] = ts(start)
        m['test_start_time'] = ts(start)
        m['probe_network_name'] = network or 'Test network %d' % asn
        m.setdefault('annotations', {})
        if category is not None:
            m['annotations']['category_code'] = category
        if tweak:
            tweak(m)
        return m

    def record(status, j, what, cc, asn, url, kind, category, start):
        uid = j.get('measurement_uid') if isinstance(j, dict) else None
        if status == 200 and uid:
            host = urllib.parse.urlsplit(url).hostname if '://' in url else None
            accepted.append({'uid': uid, 'cc': cc, 'asn': asn, 'domain': host, 'kind': kind,
                             'category': category, 'input': url, 'start': ts(start)})
        else:
            refused.append({'what': what, 'status': status,
                            'error': (j or {}).get('error') if isinstance(j, dict) else None})

    # 1. the onset, through POST /report + POST /report/{id} + close (OONI's flow)
    for asn, blocked in ((64510, 'dns'), (64511, 'dns'), (64512, 'tcp')):
        st, j = api.post('/report', {
            'data_format_version': '0.2.0', 'format': 'json', 'probe_asn': 'AS%d' % asn,
            'probe_cc': 'PK', 'software_name': 'censorscope', 'software_version': '0.1.0',
            'test_name': 'web_connectivity', 'test_start_time': ts(now - dt.timedelta(hours=36)),
            'test_version': tpl['ok'].get('test_version', '0.4.3')})
        rid = j.get('report_id') if isinstance(j, dict) else None
        if st != 200 or not rid:
            refused.append({'what': 'open report AS%d' % asn, 'status': st, 'error': j.get('error')})
            continue
        for h in range(36, 0, -1):
            start = now - dt.timedelta(hours=h, minutes=-7)
            kind = 'ok' if h > 18 else blocked
            url = 'http://www.example.com/'
            m = content(kind, 'PK', asn, url, start, category='NEWS')
            m['report_id'] = rid
            st, j = api.post('/report/' + rid, {'format': 'json', 'content': m})
            record(st, j, 'AS%d h-%d' % (asn, h), 'PK', asn, url, kind, 'NEWS', start)
        api.post('/report/%s/close' % rid, {})

    # 2. hostile strings, through POST /api/v1/submit_measurement
    def fail_tcp(s):
        return lambda m: m['test_keys']['tcp_connect'][0]['status'].update({'failure': s})

    def fail_http(s):
        def f(m):
            m['test_keys']['requests'][0]['failure'] = s
            m['test_keys']['http_experiment_failure'] = s
        return f

    long_url = 'http://www.example.com/' + 'a' * 3000 + P_SCRIPT
    hostile = [
        ('ok', 'http://www.example.com/?q=' + urllib.parse.quote(P_SCRIPT, safe='') + '&raw=' + P_SCRIPT,
         P_IMG, P_SVG, None),
        ('http', 'http://www.example.com/' + P_IMG, 'ANON', P_A, fail_http(P_IMG)),
        ('tcp', 'http://www.example.com/next=' + P_JS, P_SVG, None, fail_tcp(P_SVG)),
        ('http', 'http://www.example.com/' + P_IFRAME, P_SCRIPT, P_IFRAME, fail_http(P_A)),
        ('ok', long_url, 'NEWS', 'x' * 250, None),
        ('nover', 'http://www.example.org/' + P_SCRIPT, None, P_IMG, None),
        ('ok', 'http://news.example.net/', 'NEWS', None, None),
        ('http', 'http://vpn.example.org/', 'ANON', None, fail_http(P_SCRIPT)),
        ('tcp', 'http://vpn.example.org/', 'ANON', None, None),
        ('ok', 'http://vpn.example.org/', 'ANON', None, None),
        ('dns', 'http://www.example.com/', P_IMG, None, None),
        ('nover', 'http://news.example.net/', 'NEWS', None, None),
        # inputs a collector may refuse (not an http(s) URL); either way nothing may run
        ('ok', P_JS, 'NEWS', None, None),
        ('ok', 'http://' + P_SVG + '/', 'NEWS', None, None),
    ]
    for i, (kind, url, cat, net, tweak) in enumerate(hostile):
        start = now - dt.timedelta(hours=5 + 9 * i, minutes=-3)
        m = content(kind, 'PK', 64513, url, start, category=cat, network=net, tweak=tweak)
        if kind == 'ok':
            m['test_keys']['x_evidence'] = P_IFRAME  # a stored value the collector recomputes
        st, j = api.post('/api/v1/submit_measurement', {'format': 'json', 'content': m})
        record(st, j, 'hostile %d' % i, 'PK', 64513, url, kind, cat, start)

    # 3. a second country
    for i in range(4):
        start = now - dt.timedelta(hours=3 + 20 * i, minutes=-11)
        url = 'http://www.example.com/'
        m = content('ok', 'IR', 64520, url, start, category='NEWS')
        st, j = api.post('/api/v1/submit_measurement', {'format': 'json', 'content': m})
        record(st, j, 'IR %d' % i, 'IR', 64520, url, 'ok', 'NEWS', start)

    json.dump({'accepted': accepted, 'refused': refused, 'hostile': HOSTILE}, sys.stdout,
              ensure_ascii=False, indent=1)


if __name__ == '__main__':
    main()
