//! The ScyllaDB store without a ScyllaDB node: these check every row type and every INSERT's
//! values against the column types the migrations create, as the driver does when a statement
//! runs.

use super::schema::MIGRATIONS;
use super::*;
use crate::manager::store::rows::{
    RESTORE_PROGRESS, RESTORE_RUN, VALIDATE_PROGRESS, Value, restore_progress_from,
    restore_progress_values, restore_run_from, restore_run_values, validate_progress_from,
    validate_progress_values,
};
use crate::manager::store::{RunStatus, Schedule, TaskType, ValidateRunProgress, time_uuid};
use bytes::Bytes;
use chrono::DateTime;
use scylla::deserialize::FrameSlice;
use scylla::frame::response::result::{
    CollectionType, ColumnSpec, ColumnType, NativeType, TableSpec,
};
use scylla::serialize::row::RowSerializationContext;
use scylla::serialize::writers::CellWriter;
use scylla::serialize::writers::RowWriter;
use scylla::value::CqlValue;
use std::collections::BTreeMap;

/// The CQL type named in the migrations.
fn cql_type(name: &str) -> ColumnType<'static> {
    let native = |n| ColumnType::Native(n);
    let text = || Box::new(native(NativeType::Text));
    match name {
        "uuid" => native(NativeType::Uuid),
        "timeuuid" => native(NativeType::Timeuuid),
        "text" => native(NativeType::Text),
        "int" => native(NativeType::Int),
        "bigint" => native(NativeType::BigInt),
        "boolean" => native(NativeType::Boolean),
        "blob" => native(NativeType::Blob),
        "timestamp" => native(NativeType::Timestamp),
        "list<text>" => ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(text()),
        },
        "map<text, text>" => ColumnType::Collection {
            frozen: false,
            typ: CollectionType::Map(text(), text()),
        },
        other => panic!("the test does not know CQL type {other}"),
    }
}

/// The columns of `table` as the migrations create them, with the given names in order.
fn specs(table: &'static str, columns: &str) -> Vec<ColumnSpec<'static>> {
    let ddl = MIGRATIONS
        .iter()
        .flat_map(|(_, _, statements)| statements.iter())
        .find(|s| s.contains(&format!("{{ks}}.{table} (")))
        .unwrap_or_else(|| panic!("no migration creates {table}"));
    let mut types: BTreeMap<&str, &str> = ddl
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.starts_with("PRIMARY KEY") && !l.starts_with("WITH"))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, typ)| {
            let typ = typ.trim_end_matches([',', ')']);
            (name, typ.strip_suffix(" PRIMARY KEY").unwrap_or(typ))
        })
        .collect();
    // Columns later migrations add.
    let alter = format!("ALTER TABLE {{ks}}.{table} ADD ");
    types.extend(
        MIGRATIONS
            .iter()
            .flat_map(|(_, _, statements)| statements.iter())
            .filter_map(|s| s.strip_prefix(alter.as_str()))
            .filter_map(|l| l.split_once(' ')),
    );
    columns
        .split(',')
        .map(str::trim)
        .map(|name| {
            let typ = types
                .get(name)
                .unwrap_or_else(|| panic!("{table} has no column {name}"));
            ColumnSpec::owned(
                name.to_owned(),
                cql_type(typ),
                TableSpec::borrowed("ks", table),
            )
        })
        .collect()
}

/// Serializes `values` for the given columns, as the driver does before sending.
fn serializes(values: &impl SerializeRow, specs: &[ColumnSpec<'_>]) {
    let mut buf = Vec::new();
    let ctx = RowSerializationContext::from_specs(specs);
    if let Err(e) = values.serialize(&ctx, &mut RowWriter::new(&mut buf)) {
        panic!("values do not fit the columns: {e}");
    }
}

fn type_checks<R: for<'f, 'm> DeserializeRow<'f, 'm>>(specs: &[ColumnSpec<'_>]) {
    if let Err(e) = R::type_check(specs) {
        panic!(
            "{} does not read the columns: {e}",
            std::any::type_name::<R>()
        );
    }
}

#[test]
fn row_types_read_the_tables_the_migrations_create() {
    type_checks::<(String, Uuid)>(&specs("scheduler_task", "type, id"));
    type_checks::<(CqlTimeuuid,)>(&specs("backup_run", "id"));
    type_checks::<(CqlTimeuuid,)>(&specs("scheduler_task_run", "id"));
    // The check has teeth: a plain UUID does not read a timeuuid column.
    assert!(<(Uuid,)>::type_check(&specs("backup_run", "id")).is_err());
}

/// One value of each row type, its times whole milliseconds as the stores keep them.
fn samples() -> (Cluster, Task, TaskRun, BackupRun, BackupRunProgress) {
    let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
    let cluster = Cluster {
        id: Uuid::new_v4(),
        name: "c".to_owned(),
        hosts: vec!["h".to_owned()],
        agent_port: 10001,
        auth_token: "t".to_owned(),
        cql_username: None,
        cql_password: Some("p".to_owned()),
        created_at: now,
        agent_pins: [("h".to_owned(), "ab".repeat(32))].into_iter().collect(),
    };
    let task = Task {
        cluster_id: cluster.id,
        task_type: TaskType::Backup,
        id: Uuid::new_v4(),
        name: "n".to_owned(),
        labels: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        enabled: true,
        deleted: false,
        schedule: Schedule::default(),
        properties: serde_json::json!({"retention": 3}),
        status: Some(RunStatus::Done),
        success_count: 1,
        error_count: 0,
        last_success: Some(now),
        last_error: None,
    };
    let run = TaskRun {
        cluster_id: cluster.id,
        task_type: TaskType::Backup,
        task_id: task.id,
        id: time_uuid(now),
        status: RunStatus::Running,
        cause: String::new(),
        owner: "o".to_owned(),
        start_time: now,
        end_time: None,
    };
    let backup = BackupRun {
        cluster_id: cluster.id,
        task_id: task.id,
        id: run.id,
        prev_id: Some(time_uuid(now)),
        snapshot_tag: crate::format::tag::SnapshotTag::from_time(now),
        units: Vec::new(),
        dc: vec!["dc1".to_owned()],
        location: vec!["s3:b".parse().expect("a location")],
        nodes: vec!["n1".to_owned()],
        start_time: now,
        stage: BackupStage::Upload,
        skipped_hosts: vec![crate::manager::store::SkippedHost {
            host: "10.0.0.4".to_owned(),
            reason: "down in gossip".to_owned(),
        }],
    };
    let progress = BackupRunProgress {
        cluster_id: cluster.id,
        task_id: task.id,
        run_id: run.id,
        host: "h".to_owned(),
        unit: 0,
        table_name: "t".to_owned(),
        agent_job_id: Some("1".to_owned()),
        started_at: Some(now),
        completed_at: None,
        error: None,
        size: 1,
        uploaded: 1,
        skipped: 0,
        failed: 0,
        files_count: 1,
        files_skipped_count: 0,
    };
    (cluster, task, run, backup, progress)
}

/// Writes `values` into the columns of `table` as the migrations create them, then reads
/// each cell back as the driver does, as a row of the store.
fn round_trip(table: &'static Table, values: Vec<Value>) -> CqlRow {
    let specs = specs(table.name, &table.column_list());
    let columns = cql_values(values)
        .into_iter()
        .zip(&specs)
        .map(|(cell, spec)| {
            let mut buf = Vec::new();
            if let Err(e) = scylla::serialize::value::SerializeValue::serialize(
                &cell,
                spec.typ(),
                CellWriter::new(&mut buf),
            ) {
                panic!("{} does not fit {}: {e}", table.name, spec.name());
            }
            let (len, bytes) = buf.split_at(4);
            if i32::from_be_bytes([len[0], len[1], len[2], len[3]]) < 0 {
                return None;
            }
            let bytes = Bytes::copy_from_slice(bytes);
            match <CqlValue as scylla::deserialize::value::DeserializeValue>::deserialize(
                spec.typ(),
                Some(FrameSlice::new(&bytes)),
            ) {
                Ok(v) => Some(v),
                Err(e) => panic!("{} does not read {}: {e}", table.name, spec.name()),
            }
        })
        .collect();
    CqlRow {
        row: Row { columns },
        table,
    }
}

#[test]
fn rows_read_back_as_they_were_written() {
    let (cluster, task, run, backup, progress) = samples();
    let values = cluster_values(&cluster);
    assert_eq!(
        cluster_from(&round_trip(&CLUSTER, values)).ok(),
        Some(cluster)
    );
    let values = task_values(&task).expect("task values");
    assert_eq!(task_from(&round_trip(&TASK, values)).ok(), Some(task));
    let values = task_run_values(&run).expect("task run values");
    assert_eq!(
        task_run_from(&round_trip(&TASK_RUN, values)).ok(),
        Some(run.clone())
    );
    let values = backup_run_values(&backup).expect("backup run values");
    assert_eq!(
        backup_run_from(&round_trip(&BACKUP_RUN, values)).ok(),
        Some(backup)
    );
    let values = progress_values(&progress).expect("progress values");
    assert_eq!(
        progress_from(&round_trip(&PROGRESS, values)).ok(),
        Some(progress)
    );
    // A cell of another kind is refused naming its column, and so is a missing value.
    let mut bad = round_trip(&TASK_RUN, task_run_values(&run).expect("task run values"));
    bad.row.columns[4] = Some(CqlValue::Int(1));
    let err = task_run_from(&bad).unwrap_err().to_string();
    assert!(err.contains("scheduler_task_run.status"), "{err}");
    bad.row.columns[4] = None;
    let err = task_run_from(&bad).unwrap_err().to_string();
    assert!(err.contains("scheduler_task_run.status"), "{err}");
}

#[test]
fn insert_values_fit_the_tables_the_migrations_create() {
    let (cluster, task, run, backup, progress) = samples();
    serializes(
        &cql_values(cluster_values(&cluster)),
        &specs("cluster", &CLUSTER.column_list()),
    );
    let values = cql_values(task_values(&task).expect("task values"));
    serializes(&values, &specs("scheduler_task", &TASK.column_list()));
    let values = cql_values(task_run_values(&run).expect("task run values"));
    serializes(
        &values,
        &specs("scheduler_task_run", &TASK_RUN.column_list()),
    );
    let values = cql_values(backup_run_values(&backup).expect("backup run values"));
    serializes(&values, &specs("backup_run", &BACKUP_RUN.column_list()));
    let values = cql_values(progress_values(&progress).expect("progress values"));
    serializes(
        &values,
        &specs("backup_run_progress", &PROGRESS.column_list()),
    );
    // The check has teeth: a plain UUID is refused for a timeuuid column.
    let mut buf = Vec::new();
    let backup_id = specs("backup_run", "id");
    let ctx = RowSerializationContext::from_specs(&backup_id);
    assert!(
        (run.id,)
            .serialize(&ctx, &mut RowWriter::new(&mut buf))
            .is_err()
    );
    // The key-only statements.
    let run_id = CqlTimeuuid::from(run.id);
    serializes(
        &(BackupStage::Done.as_str(), cluster.id, task.id, run_id),
        &specs("backup_run", "stage, cluster_id, task_id, id"),
    );
    serializes(
        &(cluster.id, "backup", task.id, cql_limit(5)),
        &[
            specs("scheduler_task_run", "cluster_id, type, task_id"),
            vec![ColumnSpec::owned(
                "[limit]".to_owned(),
                cql_type("int"),
                TableSpec::borrowed("ks", "scheduler_task_run"),
            )],
        ]
        .concat(),
    );
}

/// One restore run and one of its progress rows, every optional field set.
fn restore_samples() -> (RestoreRun, RestoreRunProgress) {
    let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
    let run = RestoreRun {
        cluster_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
        id: time_uuid(now),
        prev_id: Some(time_uuid(now)),
        snapshot_tag: crate::format::tag::SnapshotTag::from_time(now),
        stage: crate::manager::restore::stage::RestoreStage::Data,
        repair_task_id: Some("17".to_owned()),
        units: vec![crate::manager::store::RestoreUnit {
            keyspace_name: "ks".to_owned(),
            size: 10,
            tables: vec![crate::manager::store::RestoreTable {
                table_name: "t".to_owned(),
                size: 10,
                tombstone_gc: "repair".to_owned(),
            }],
        }],
        views: vec![crate::manager::store::RestoreView {
            keyspace_name: "ks".to_owned(),
            view_name: "v".to_owned(),
            base_table: "t".to_owned(),
            view_type: "MaterializedView".to_owned(),
            create_stmt: "CREATE MATERIALIZED VIEW IF NOT EXISTS ks.v AS SELECT 1".to_owned(),
            build_status: String::new(),
        }],
        start_time: now,
    };
    let progress = RestoreRunProgress {
        cluster_id: run.cluster_id,
        task_id: run.task_id,
        run_id: run.id,
        remote_sstable_dir: "backup/sst/cluster/c/dc/dc1/node/n/keyspace/ks/table/t/1".to_owned(),
        keyspace_name: "ks".to_owned(),
        table_name: "t".to_owned(),
        host: "10.0.0.1".to_owned(),
        agent_job_id: "3".to_owned(),
        scylla_task_id: String::new(),
        sstable_id: vec!["3gdt_0q2b_1".to_owned()],
        download_started_at: Some(now),
        download_completed_at: Some(now),
        restore_started_at: Some(now),
        restore_completed_at: None,
        downloaded: 10,
        versioned_downloaded: 2,
        skipped: 1,
        restored: 10,
        failed: 0,
        error: Some("e".to_owned()),
        shard_cnt: 4,
    };
    (run, progress)
}

#[test]
fn restore_rows_fit_and_read_back_from_the_tables_the_migrations_create() {
    let (run, progress) = restore_samples();
    let values = restore_run_values(&run).expect("restore run values");
    serializes(
        &cql_values(values.clone()),
        &specs("restore_run", &RESTORE_RUN.column_list()),
    );
    assert_eq!(
        restore_run_from(&round_trip(&RESTORE_RUN, values)).ok(),
        Some(run.clone())
    );
    let values = restore_progress_values(&progress).expect("restore progress values");
    serializes(
        &cql_values(values.clone()),
        &specs("restore_run_progress", &RESTORE_PROGRESS.column_list()),
    );
    assert_eq!(
        restore_progress_from(&round_trip(&RESTORE_PROGRESS, values)).ok(),
        Some(progress.clone())
    );
    // An empty SSTable list is kept as no value, and read back empty.
    let mut empty = progress;
    empty.sstable_id.clear();
    let values = restore_progress_values(&empty).expect("restore progress values");
    assert_eq!(
        restore_progress_from(&round_trip(&RESTORE_PROGRESS, values)).ok(),
        Some(empty)
    );
    // A stage this build does not know is refused naming the column.
    let mut bad = round_trip(
        &RESTORE_RUN,
        restore_run_values(&run).expect("restore run values"),
    );
    bad.row.columns[5] = Some(CqlValue::Text("UPLOAD".to_owned()));
    let err = restore_run_from(&bad).unwrap_err().to_string();
    assert!(err.contains("restore_run.stage"), "{err}");
    // The key-only statements.
    serializes(
        &(run.cluster_id, run.task_id, CqlTimeuuid::from(run.id)),
        &specs("restore_run", "cluster_id, task_id, id"),
    );
    serializes(
        &(run.cluster_id, run.task_id, run.id),
        &specs("restore_run_progress", "cluster_id, task_id, run_id"),
    );
}

/// One validate progress row, every optional field set, with a node report that found things.
fn validate_sample() -> ValidateRunProgress {
    use crate::manager::validate::report::{ContentFinding, FindingKind, NodeReport, SizeMismatch};
    let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
    let node = NodeReport {
        dc: "dc1".to_owned(),
        node_id: "7f3c".to_owned(),
        checked_by: "10.0.0.1".to_owned(),
        manifests: 2,
        files: 9,
        scanned_files: 10,
        missing_files: 1,
        missing: vec!["sst/a/me-1-big-Data.db".to_owned()],
        broken_snapshots: vec!["sm_20240101000000UTC".to_owned()],
        size_mismatches: vec![SizeMismatch {
            dir: "sst/ks/t/1".to_owned(),
            keyspace: "ks".to_owned(),
            table: "t".to_owned(),
            snapshots: vec!["sm_20240101000000UTC".to_owned()],
            expected: 10,
            found: 9,
            files: vec![
                ("me-2-big-Data.db".to_owned(), Some(9)),
                ("x".to_owned(), None),
            ],
        }],
        sstables_checked: 3,
        corrupt_files: 1,
        findings: vec![ContentFinding {
            file: "sst/ks/t/1/me-3-big-Data.db".to_owned(),
            kind: FindingKind::Digest,
            detail: "crc32 1 != 2".to_owned(),
        }],
        orphaned_files: 1,
        orphaned_bytes: 5,
        orphans: vec!["sst/ks/t/1/me-9-big-Data.db".to_owned()],
        started_at: Some(now),
        error: Some("e".to_owned()),
        ..NodeReport::default()
    };
    ValidateRunProgress {
        cluster_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
        run_id: time_uuid(now),
        dc: "dc1".to_owned(),
        host: "10.0.0.1".to_owned(),
        location: "dc1:s3:bucket".to_owned(),
        manifests: 2,
        scanned_files: 10,
        missing_files: 1,
        orphaned_files: 1,
        orphaned_bytes: 5,
        deleted_files: 0,
        broken_snapshots: vec!["sm_20240101000000UTC".to_owned()],
        started_at: Some(now),
        completed_at: Some(now),
        sstables_checked: 3,
        corrupt_files: 1,
        size_mismatches: 1,
        nodes: vec![node],
    }
}

#[test]
fn validate_rows_fit_and_read_back_from_the_table_the_migrations_create() {
    let progress = validate_sample();
    let values = validate_progress_values(&progress).expect("validate progress values");
    serializes(
        &cql_values(values.clone()),
        &specs(
            "validate_backup_run_progress",
            &VALIDATE_PROGRESS.column_list(),
        ),
    );
    assert_eq!(
        validate_progress_from(&round_trip(&VALIDATE_PROGRESS, values)).ok(),
        Some(progress.clone())
    );
    // No broken snapshot is kept as no value, and read back empty; no times read back as none.
    let mut clean = progress.clone();
    clean.broken_snapshots.clear();
    clean.started_at = None;
    clean.completed_at = None;
    clean.nodes.clear();
    let values = validate_progress_values(&clean).expect("validate progress values");
    assert_eq!(
        validate_progress_from(&round_trip(&VALIDATE_PROGRESS, values)).ok(),
        Some(clean)
    );
    // Node reports that are not the model's JSON are refused naming the column.
    let nodes = VALIDATE_PROGRESS
        .index("validate_backup_run_progress.nodes")
        .expect("a column");
    let mut bad = round_trip(
        &VALIDATE_PROGRESS,
        validate_progress_values(&progress).expect("validate progress values"),
    );
    bad.row.columns[nodes] = Some(CqlValue::Text("[{\"dc\": 1}]".to_owned()));
    let err = validate_progress_from(&bad).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("validate_backup_run_progress.nodes"),
        "{err}"
    );
    // The key-only statements.
    serializes(
        &(progress.cluster_id, progress.task_id, progress.run_id),
        &specs(
            "validate_backup_run_progress",
            "cluster_id, task_id, run_id",
        ),
    );
}

#[test]
fn suspension_rows_fit_and_read_back_from_the_table_the_migrations_create() {
    use crate::manager::store::Suspension;
    use crate::manager::store::rows::{SUSPENSION, suspension_from, suspension_values};
    let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
    let suspension = Suspension {
        cluster_id: Uuid::new_v4(),
        started_at: now,
        resume_at: Some(now + chrono::Duration::hours(2)),
        start_tasks: true,
        stopped_tasks: vec![Uuid::new_v4(), Uuid::new_v4()],
    };
    let values = suspension_values(&suspension);
    serializes(
        &cql_values(values.clone()),
        &specs("scheduler_suspension", &SUSPENSION.column_list()),
    );
    assert_eq!(
        suspension_from(&round_trip(&SUSPENSION, values)).ok(),
        Some(suspension.clone())
    );
    // None stopped, no end: read back as such.
    let open = Suspension {
        resume_at: None,
        start_tasks: false,
        stopped_tasks: Vec::new(),
        ..suspension.clone()
    };
    assert_eq!(
        suspension_from(&round_trip(&SUSPENSION, suspension_values(&open))).ok(),
        Some(open)
    );
    // A stopped task that is not a UUID is refused naming the column.
    let stopped = SUSPENSION
        .index("scheduler_suspension.stopped_tasks")
        .expect("a column");
    let mut bad = round_trip(&SUSPENSION, suspension_values(&suspension));
    bad.row.columns[stopped] = Some(CqlValue::List(vec![CqlValue::Text("x".to_owned())]));
    let err = suspension_from(&bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("scheduler_suspension.stopped_tasks"),
        "{err}"
    );
    serializes(
        &(suspension.cluster_id,),
        &specs("scheduler_suspension", "cluster_id"),
    );
}
