//! `ValidateSupervisor`: one online validate run. Per location: the hosts of the location's DCs
//! whose agents reach it; each host checks its own node's directory first, then takes other node
//! directories of the location (nodes no longer in the cluster included); a host that fails is
//! retried and its directory given to another. Progress rows (`validate_backup_run_progress`,
//! one per DC, host and location, with the node reports) go through the `ProgressActor`; the run
//! ends with the report's failure, and the metrics of the cluster's last validate are set.
