-- Incidents: anomalies grouped by cause, their diagnosis, and the memory of fixes.
-- An incident keeps the keys of the symptoms it grouped (members) so that re-detection
-- updates it instead of opening another; its fingerprint (pattern fingerprints, services,
-- event kinds, cause) is what later incidents are compared with.

CREATE TABLE IF NOT EXISTS incidents (
    id BIGINT PRIMARY KEY,               -- evidence ID inc_<id>
    title VARCHAR NOT NULL,
    service VARCHAR,                     -- the service whose anomaly came first
    status VARCHAR NOT NULL,             -- open | resolved | closed (quiet long enough)
    started_at TIMESTAMP NOT NULL,       -- data time of the earliest symptom
    last_seen TIMESTAMP NOT NULL,        -- data time of the latest symptom activity
    detected_at TIMESTAMP NOT NULL,      -- wall clock, first detection
    updated_at TIMESTAMP NOT NULL,       -- wall clock, last re-detection that changed it
    resolved_at TIMESTAMP,
    impact DOUBLE NOT NULL,
    cause VARCHAR,                       -- known-cause name (memory_limit, bad_image…) or NULL
    deploy_id BIGINT,                    -- the deploy that preceded it, when one did
    members JSON NOT NULL,               -- symptom keys grouped here (identity across runs)
    affected_services JSON,
    fingerprint JSON NOT NULL,           -- {"patterns": [...], "services": [...], "event_kinds": [...], ...}
    body JSON NOT NULL                   -- the structured incident: impact parts, timeline, claims…
);

CREATE TABLE IF NOT EXISTS incident_fixes (
    incident_id BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,               -- wall clock
    fix VARCHAR NOT NULL,
    "commit" VARCHAR,
    outcome VARCHAR NOT NULL             -- worked | failed
);

-- Narratives written by a language model, cached per incident version.
CREATE TABLE IF NOT EXISTS incident_narratives (
    incident_id BIGINT NOT NULL,
    version VARCHAR NOT NULL,            -- hash of the structured input it was written from
    model VARCHAR,
    text VARCHAR,
    dropped INTEGER,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, version)
);
