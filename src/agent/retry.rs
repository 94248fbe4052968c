//! Trying a file transfer again while its failures may pass (an outage of the store), on top of
//! the store client's own retries of single requests.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::transfer::TransferError;

/// How long a file keeps being retried after failures that may pass.
const RETRY_WINDOW: Duration = Duration::from_secs(120);
/// Longest pause between two tries of a file.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(15);

/// Runs `attempt` again while its failures are retryable, with exponential backoff, for up to
/// two minutes; stops as soon as `cancel` is cancelled.
pub async fn with_retries<T, F, Fut>(
    cancel: &CancellationToken,
    mut attempt: F,
) -> Result<T, TransferError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TransferError>>,
{
    let deadline = tokio::time::Instant::now() + RETRY_WINDOW;
    let mut delay = Duration::from_millis(500);
    loop {
        match attempt().await {
            Err(e)
                if e.retryable()
                    && tokio::time::Instant::now() + delay < deadline
                    && !cancel.is_cancelled() =>
            {
                tracing::info!(error = %e, retry_in = ?delay, "retrying file");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(TransferError::Stopped),
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
            other => return other,
        }
    }
}
