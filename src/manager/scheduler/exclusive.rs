//! Which tasks of one cluster may not run side by side (upstream's exclusivity, restore spec
//! §1): a restore runs only when no other task of its cluster runs, no task of a cluster starts
//! while a restore runs there, and at most one task of a type runs on a cluster at a time.
//! Tasks of different clusters never exclude each other.

use std::fmt;

use crate::manager::store::TaskType;

/// The rule that keeps a task from starting beside a run of its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The task is a restore and another task of the cluster runs.
    RestoreRunsAlone,
    /// A restore of the cluster runs.
    RestoreRunning,
    /// A task of the same type runs on the cluster.
    OneOfAType(TaskType),
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::RestoreRunsAlone => {
                f.write_str("a restore runs only when no other task of its cluster runs")
            }
            Exclusion::RestoreRunning => {
                f.write_str("no task of a cluster starts while a restore runs there")
            }
            Exclusion::OneOfAType(t) => {
                write!(f, "at most one {t} task runs on a cluster at a time")
            }
        }
    }
}

/// Why a task of type `starting` may not start while a task of type `running` runs on the same
/// cluster; `None` when both may run together.
pub fn excludes(starting: TaskType, running: TaskType) -> Option<Exclusion> {
    if starting == TaskType::Restore && running != TaskType::Restore {
        Some(Exclusion::RestoreRunsAlone)
    } else if running == TaskType::Restore && starting != TaskType::Restore {
        Some(Exclusion::RestoreRunning)
    } else if starting == running {
        Some(Exclusion::OneOfAType(starting))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_runs_alone_and_one_task_of_a_type_runs_per_cluster() {
        use TaskType::{Backup, Restore, ValidateBackup};
        assert_eq!(excludes(Restore, Backup), Some(Exclusion::RestoreRunsAlone));
        assert_eq!(
            excludes(Restore, ValidateBackup),
            Some(Exclusion::RestoreRunsAlone)
        );
        assert_eq!(excludes(Backup, Restore), Some(Exclusion::RestoreRunning));
        assert_eq!(
            excludes(ValidateBackup, Restore),
            Some(Exclusion::RestoreRunning)
        );
        assert_eq!(
            excludes(Restore, Restore),
            Some(Exclusion::OneOfAType(Restore))
        );
        assert_eq!(
            excludes(Backup, Backup),
            Some(Exclusion::OneOfAType(Backup))
        );
        assert_eq!(excludes(Backup, ValidateBackup), None);
        assert_eq!(excludes(ValidateBackup, Backup), None);
        assert_eq!(
            Exclusion::OneOfAType(Restore).to_string(),
            "at most one restore task runs on a cluster at a time"
        );
    }
}
