//! The scheduler's timing: next activations by start date, trigger, window and enablement.

use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;
use crate::manager::store::Schedule;

fn task(schedule: Schedule) -> Task {
    Task {
        cluster_id: Uuid::nil(),
        task_type: TaskType::Backup,
        id: Uuid::nil(),
        name: "t".into(),
        labels: BTreeMap::new(),
        enabled: true,
        deleted: false,
        schedule,
        properties: serde_json::json!({}),
        status: None,
        success_count: 0,
        error_count: 0,
        last_success: None,
        last_error: None,
    }
}

#[test]
fn next_activations_follow_start_date_trigger_window_and_enablement() {
    // Monday 2026-11-23 10:00 UTC.
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let once = task(Schedule::default());
    assert_eq!(
        Scheduler::next_activation(&once, now).unwrap(),
        Some(now),
        "a new one-off task runs now"
    );
    let ran = Task {
        status: Some(RunStatus::Done),
        ..once.clone()
    };
    assert_eq!(
        Scheduler::next_activation(&ran, now).unwrap(),
        None,
        "and only once"
    );
    let later = now + chrono::Duration::hours(2);
    let dated = task(Schedule {
        start_date: Some(later),
        ..Schedule::default()
    });
    assert_eq!(
        Scheduler::next_activation(&dated, now).unwrap(),
        Some(later)
    );
    let disabled = Task {
        enabled: false,
        ..dated.clone()
    };
    assert_eq!(Scheduler::next_activation(&disabled, now).unwrap(), None);

    let hourly = task(Schedule {
        interval_seconds: 3600,
        start_date: Some(now - chrono::Duration::minutes(90)),
        ..Schedule::default()
    });
    assert_eq!(
        Scheduler::next_activation(&hourly, now).unwrap(),
        Some(now + chrono::Duration::minutes(30))
    );
    // `--interval 24h --start-date now`: the CLI's now has just passed when the task is
    // scheduled; it runs at once, then every interval from its start date.
    let start = now - chrono::Duration::milliseconds(300);
    let daily = task(Schedule {
        interval_seconds: 86_400,
        start_date: Some(start),
        ..Schedule::default()
    });
    assert_eq!(Scheduler::next_activation(&daily, now).unwrap(), Some(now));
    let daily_ran = Task {
        status: Some(RunStatus::Done),
        ..daily.clone()
    };
    assert_eq!(
        Scheduler::next_activation(&daily_ran, now + chrono::Duration::minutes(5)).unwrap(),
        Some(start + chrono::Duration::days(1)),
        "then every interval"
    );
    let nightly = task(Schedule {
        cron: Some("0 2 * * *".into()),
        ..Schedule::default()
    });
    assert_eq!(
        Scheduler::next_activation(&nightly, now).unwrap(),
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap())
    );
    // A window on Saturdays only moves the next activation to its opening.
    let weekend = task(Schedule {
        cron: Some("0 2 * * *".into()),
        window: vec!["sat-00:00".into(), "sat-23:59".into()],
        ..Schedule::default()
    });
    assert_eq!(
        Scheduler::next_activation(&weekend, now).unwrap(),
        Some(Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap())
    );
}
