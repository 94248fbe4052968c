//! Who this manager process is when it takes a lease, and the process's lease settings.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use uuid::Uuid;

use super::{DEFAULT_TTL, LeaseError};

/// This machine's name: the `hostname` a lease names its holder by, and a run's `owner`.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "cairn-manager".to_string())
}

/// Who this manager process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The manager's identity, generated once and kept in its identity file.
    pub manager: Uuid,
    /// The machine's hostname, for the messages.
    pub hostname: String,
    /// This process (a new one at every start).
    pub instance: Uuid,
}

impl Identity {
    /// A new identity, kept nowhere (tests, and managers that did not configure one).
    pub fn ephemeral() -> Self {
        Identity {
            manager: Uuid::new_v4(),
            hostname: hostname(),
            instance: Uuid::new_v4(),
        }
    }

    /// The identity kept in `file`: read, or generated and written (mode 0600) on first use.
    pub fn load(file: &Path) -> Result<Self, LeaseError> {
        let bad = |reason: String| LeaseError::Identity {
            path: file.to_path_buf(),
            reason,
        };
        let manager = match std::fs::read_to_string(file) {
            Ok(text) => text.trim().parse::<Uuid>().map_err(|e| {
                bad(format!(
                    "holds {:?}, not a UUID ({e}); remove it to make a new identity",
                    text.trim()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let id = Uuid::new_v4();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(file)
                    .map_err(|e| bad(format!("cannot create it: {e}")))?;
                writeln!(f, "{id}").map_err(|e| bad(format!("cannot write it: {e}")))?;
                id
            }
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        };
        Ok(Identity {
            manager,
            ..Identity::ephemeral()
        })
    }
}

/// How this manager takes leases.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Who takes them.
    pub identity: Identity,
    /// How long a lease lives without renewal.
    pub ttl: Duration,
}

/// The daemon's settings, set once at start.
static SETTINGS: OnceLock<LeaseSettings> = OnceLock::new();

/// Sets the process's lease settings (the daemon, once at start); a second call changes nothing.
pub fn configure(settings: LeaseSettings) {
    let _ = SETTINGS.set(settings);
}

/// The process's lease settings: as configured, else an ephemeral identity and the default TTL.
pub fn settings() -> &'static LeaseSettings {
    SETTINGS.get_or_init(|| LeaseSettings {
        identity: Identity::ephemeral(),
        ttl: DEFAULT_TTL,
    })
}
