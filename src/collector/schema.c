/* schema.c - the core's tables in PostgreSQL (the contract's schema): reports, measurements
 * partitioned by day (partitions created on demand by pgstore.c), the dirty hours the rollup
 * job consumes, and how far each can is known to be in the database (replay on start).
 * Idempotent: applied at every start, in cs_coll_schema order (routes.c). */
#include "collector/collector.h"

/* Reports opened with POST /report (OONI's probe-services). */
CS_COLL_SCHEMA_PART(cs_coll_schema_core) =
    "CREATE TABLE IF NOT EXISTS report (\n"
    "  report_id text PRIMARY KEY, test_name text NOT NULL, probe_cc text NOT NULL,\n"
    "  probe_asn integer NOT NULL, software_name text, software_version text,\n"
    "  created timestamptz NOT NULL DEFAULT now(), closed timestamptz);\n"
    "CREATE TABLE IF NOT EXISTS measurement (\n"
    "  measurement_uid text NOT NULL, measurement_start_time timestamptz NOT NULL,\n"
    "  report_id text NOT NULL, dedup_key bytea NOT NULL,\n"
    "  test_name text NOT NULL, test_version text, software_name text, software_version text,\n"
    "  probe_cc text NOT NULL, probe_asn integer NOT NULL, probe_network_name text,\n"
    "  resolver_asn integer, input text, domain text, category_code text,\n"
    "  anomaly boolean NOT NULL, confirmed boolean NOT NULL, msm_failure boolean NOT NULL,\n"
    "  blocking_type text, outcome text, evidence text, test_runtime real,\n"
    "  can_path text NOT NULL, can_offset bigint NOT NULL, can_len integer NOT NULL,\n"
    "  received_at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (measurement_uid, measurement_start_time),\n"
    "  UNIQUE (dedup_key, measurement_start_time)\n"
    ") PARTITION BY RANGE (measurement_start_time);\n"
    "CREATE INDEX IF NOT EXISTS measurement_start_brin ON measurement\n"
    "  USING brin (measurement_start_time);\n"
    "CREATE INDEX IF NOT EXISTS measurement_cc_asn_start ON measurement\n"
    "  (probe_cc, probe_asn, measurement_start_time);\n"
    "CREATE INDEX IF NOT EXISTS measurement_domain_start ON measurement\n"
    "  (domain, measurement_start_time);\n"
    "CREATE TABLE IF NOT EXISTS dirty_hour (hour timestamptz PRIMARY KEY);\n"
    /* done_size: every line of the can before this byte offset is in measurement */
    "CREATE TABLE IF NOT EXISTS can_file (\n"
    "  collector_id integer NOT NULL, can_path text NOT NULL, done_size bigint NOT NULL,\n"
    "  updated timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (collector_id, can_path));\n";
