//! Why a call to an agent failed ([`AgentError`]: the host, the call, the reason, and whether a
//! retry may help) and how failed calls are retried ([`RetryPolicy`]).

use std::time::Duration;

/// Why a call to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent could not be reached, or the connection broke.
    #[error("agent {host}: {call}: cannot connect: {reason} (a retry may help)")]
    Connect {
        /// The agent's host.
        host: String,
        /// The call, e.g. `GET /agent/node_info`.
        call: String,
        /// What the transport reported.
        reason: String,
        /// Whether the request certainly never reached the agent.
        not_sent: bool,
    },
    /// The call did not finish in time.
    #[error("agent {host}: {call}: no answer within {timeout:?} (a retry may help)")]
    Timeout {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The agent refused the token (401).
    #[error(
        "agent {host}: {call}: the agent refused the auth token (401); check that the cluster's token matches the agent's auth_token (a retry will not help)"
    )]
    Unauthorized {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
    },
    /// The agent answered with an error status.
    #[error("agent {host}: {call}: HTTP {status}: {message} ({})", retry_hint(*.retryable))]
    Status {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The message of the answer (Scylla's or the agent's).
        message: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// A streamed listing broke off: the connection failed, or the agent reported an error.
    #[error("agent {host}: {call}: the listing broke off: {reason} ({})", retry_hint(*.retryable))]
    Listing {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// What went wrong.
        reason: String,
        /// Whether a retry may help.
        retryable: bool,
    },
    /// The answer could not be understood.
    #[error("agent {host}: {call}: unexpected answer: {reason} (a retry will not help)")]
    Decode {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The agent's certificate is not the one pinned for its host (or none is): nothing was sent.
    #[error("agent {host}: {call}: {reason} (a retry will not help)")]
    Untrusted {
        /// The agent's host.
        host: String,
        /// The call.
        call: String,
        /// Why the certificate was refused.
        reason: crate::manager::agent_trust::TrustError,
    },
    /// The HTTP client could not be built.
    #[error("agent {host}: cannot build the HTTPS client: {reason} (a retry will not help)")]
    Client {
        /// The agent's host.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// The retry part of an error message.
fn retry_hint(retryable: bool) -> &'static str {
    if retryable {
        "a retry may help"
    } else {
        "a retry will not help"
    }
}

impl AgentError {
    /// Whether trying the call again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AgentError::Connect { .. } | AgentError::Timeout { .. } => true,
            AgentError::Status { retryable, .. } | AgentError::Listing { retryable, .. } => {
                *retryable
            }
            AgentError::Unauthorized { .. }
            | AgentError::Untrusted { .. }
            | AgentError::Decode { .. }
            | AgentError::Client { .. } => false,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AgentError::Status { status, .. } => Some(*status),
            AgentError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// Whether the agent answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether a retry is safe and useful for a call that is (or is not) idempotent: a call that
    /// is not idempotent is only repeated when it certainly never reached the agent.
    pub(super) fn retry_for(&self, idempotent: bool) -> bool {
        match self {
            AgentError::Connect { not_sent, .. } => idempotent || *not_sent,
            _ => idempotent && self.retryable(),
        }
    }
}

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: none).
    pub retries: usize,
    /// Pause before the first retry; doubled each time.
    pub min_delay: Duration,
    /// Longest pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: every failure is returned at once.
    pub fn none() -> Self {
        RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        }
    }
}
