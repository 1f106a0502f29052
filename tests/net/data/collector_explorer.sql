-- collector_explorer.sql - the scripted data of tests/net/collector_explorer.sh, inserted
-- straight into `measurement` (psql -v base=<an hour, UTC>): per (cc, asn, domain) and hour
-- offset from :base, n measurements with a verdict of which k are anomalies of one method.
-- Detector scenarios (the expected alerts are in the test): an onset of DNS blocking, a
-- recovery, reachable and blocked cells with a 49-h gap, three ASNs of one country flipping
-- together (a country-wide event) and one ASN alone, 5 % random anomalies on ten networks, and
-- late.example whose blocked hours are uploaded late (the second file part, after -- LATE).
-- Then 400 varied rows for the aggregation checks (tests, failures, blockpages, NULL domain
-- and category). Seeded: the same rows every run.
-- rows(cc, asn, domain, hour offset from :base, n, k, blocking_type, test_name)
CREATE TEMP TABLE plan (cc text, asn int, domain text, h int, n int, k int, bt text);
-- onset: 48 h reachable, then blocked by DNS (2 a hour)
INSERT INTO plan SELECT 'PK', 1001, 'onset.example', h, 2, CASE WHEN h >= 48 THEN 2 ELSE 0 END, 'dns' FROM generate_series(0, 71) h;
-- recovery: blocked 36 h, then reachable (3 a hour)
INSERT INTO plan SELECT 'PK', 1001, 'recovery.example', h, 3, CASE WHEN h < 36 THEN 3 ELSE 0 END, 'tcp_ip' FROM generate_series(0, 71) h;
-- gaps: reachable / blocked, 49 hours without data, the same again
INSERT INTO plan SELECT 'PK', 1001, 'gap-ok.example', h, 2, 0, 'dns' FROM generate_series(0, 71) h WHERE h < 11 OR h >= 60;
INSERT INTO plan SELECT 'PK', 1001, 'gap-blocked.example', h, 2, 2, 'dns' FROM generate_series(0, 71) h WHERE h < 11 OR h >= 60;
-- national: three ASNs blocked from hour 40 (by three methods)
INSERT INTO plan SELECT 'PK', a, 'national.example', h, 2, CASE WHEN h >= 40 THEN 2 ELSE 0 END, CASE a WHEN 2001 THEN 'dns' WHEN 2002 THEN 'tcp_ip' ELSE 'tls' END FROM generate_series(0, 71) h, unnest(ARRAY[2001, 2002, 2003]) a;
-- single: one ASN of three flips
INSERT INTO plan SELECT 'PK', a, 'single.example', h, 2, CASE WHEN h >= 40 AND a = 2001 THEN 2 ELSE 0 END, 'dns' FROM generate_series(0, 71) h, unnest(ARRAY[2001, 2002, 2003]) a;
-- noise: 5 % random anomalies, 3 a hour, 10 networks (seeded)
-- the first 48 reachable hours of late.example (the blocked ones come late)
INSERT INTO plan SELECT 'PK', 1001, 'late.example', h, 2, 0, 'dns' FROM generate_series(0, 47) h;
SELECT setseed(0.42);
INSERT INTO plan SELECT 'IR', a, 'noise.example', h, 1, (random() < 0.05)::int, 'dns' FROM generate_series(0, 71) h, generate_series(3001, 3010) a, generate_series(1, 3) i;
-- measurements: k anomalies (blocking_type bt) and n - k reachable per planned hour
INSERT INTO measurement (measurement_uid, measurement_start_time, report_id, dedup_key, test_name,
  probe_cc, probe_asn, input, domain, category_code, anomaly, confirmed, msm_failure, blocking_type,
  outcome, can_path, can_offset, can_len)
SELECT 'u' || md5(random()::text || clock_timestamp()::text), :'base'::timestamptz + (p.h || ' hours')::interval + (i * 7 || ' seconds')::interval,
  'r', decode(md5(random()::text || clock_timestamp()::text), 'hex'), 'web_connectivity', p.cc, p.asn,
  'https://' || p.domain || '/', p.domain, 'NEWS', i <= p.k, false, false, CASE WHEN i <= p.k THEN p.bt END,
  CASE WHEN i <= p.k THEN p.bt ELSE 'ok' END, 'cans/x', 0, 1
FROM plan p, generate_series(1, 5) i WHERE i <= p.n;
-- aggregation variety: other tests, failures, confirmed blockpages, no domain, two categories
INSERT INTO measurement (measurement_uid, measurement_start_time, report_id, dedup_key, test_name,
  probe_cc, probe_asn, input, domain, category_code, anomaly, confirmed, msm_failure, blocking_type,
  outcome, can_path, can_offset, can_len)
SELECT 'v' || md5(random()::text || clock_timestamp()::text), :'base'::timestamptz + (i * 613 || ' seconds')::interval,
  'r', decode(md5(random()::text || clock_timestamp()::text), 'hex'),
  (ARRAY['web_connectivity', 'dnscheck', 'signal', 'whatsapp'])[1 + i % 4],
  (ARRAY['PK', 'IR', 'RU'])[1 + i % 3], 4000 + i % 5,
  CASE WHEN i % 7 = 0 THEN NULL ELSE 'https://v' || (i % 11) || '.example/p' END,
  CASE WHEN i % 7 = 0 THEN NULL ELSE 'v' || (i % 11) || '.example' END,
  CASE WHEN i % 5 = 0 THEN NULL WHEN i % 2 = 0 THEN 'NEWS' ELSE 'HUMR' END,
  i % 6 IN (1, 2), i % 6 = 2, i % 9 = 4, CASE WHEN i % 6 = 1 THEN 'dns' WHEN i % 6 = 2 THEN 'blockpage' END,
  'x', 'cans/x', 0, 1
FROM generate_series(1, 400) i;
INSERT INTO dirty_hour SELECT DISTINCT date_trunc('hour', measurement_start_time, 'UTC')
  FROM measurement ON CONFLICT DO NOTHING;
