-- runbrief store, version 3: Kubernetes object ownership (pod -> ReplicaSet -> Deployment ...).
-- Learned from events ("Created pod: x" on a ReplicaSet, "Scaled up replica set y" on a
-- Deployment) and from objects carrying metadata.ownerReferences, so that an event about a
-- pod can be tied to its workload and to the service whose telemetry names that workload.

CREATE TABLE IF NOT EXISTS k8s_objects (
    namespace VARCHAR NOT NULL,          -- '' for cluster-scoped objects (nodes)
    kind VARCHAR NOT NULL,               -- Pod, ReplicaSet, Deployment, StatefulSet, Job...
    name VARCHAR NOT NULL,
    owner_kind VARCHAR,
    owner_name VARCHAR,
    updated TIMESTAMP,
    PRIMARY KEY (namespace, kind, name)
);
