//! Cutting a whole result into pages. The engine returns every row; each page re-runs the
//! statement and the paging state says where the previous page ended: a version byte, a digest
//! of the statement (so a state is refused on another statement) and the row offset.

use md5::{Digest, Md5};

use super::outcome::{CqlError, ErrorKind};
use super::value::Value;

/// Version byte of the paging state layout.
const STATE_VERSION: u8 = 1;
/// Bytes of the statement digest kept in the state.
const DIGEST_LEN: usize = 8;
/// Length of a paging state.
const STATE_LEN: usize = 1 + DIGEST_LEN + 4;

/// One page of rows and, when rows are left, the state for the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The rows of this page.
    pub rows: Vec<Vec<Value>>,
    /// The paging state to send when more rows are left.
    pub next: Option<Vec<u8>>,
}

/// The page of `rows` that `page_size` (none or not positive: all rows) and `state` (from the
/// previous page of the same `statement`) select.
pub fn page(
    statement: &str,
    mut rows: Vec<Vec<Value>>,
    page_size: Option<i32>,
    state: Option<&[u8]>,
) -> Result<Page, CqlError> {
    let digest = digest(statement);
    let start = match state {
        None => 0,
        Some(state) => offset(&digest, state, rows.len())?,
    };
    let size = page_size
        .and_then(|s| usize::try_from(s).ok())
        .filter(|s| *s > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(size).min(rows.len());
    let next = (end < rows.len()).then(|| {
        let mut s = Vec::with_capacity(STATE_LEN);
        s.push(STATE_VERSION);
        s.extend_from_slice(&digest);
        s.extend_from_slice(&(end as u32).to_be_bytes());
        s
    });
    rows.truncate(end);
    rows.drain(..start);
    Ok(Page { rows, next })
}

/// The offset a state holds, checked against the statement and the row count.
fn offset(digest: &[u8; DIGEST_LEN], state: &[u8], total: usize) -> Result<usize, CqlError> {
    let refuse = |why: String| CqlError {
        kind: ErrorKind::Protocol,
        message: format!("Invalid value for the paging state: {why}"),
    };
    if state.len() != STATE_LEN || state[0] != STATE_VERSION {
        return Err(refuse("it was not made by this emulator".into()));
    }
    if state[1..=DIGEST_LEN] != digest[..] {
        return Err(refuse("it belongs to another statement".into()));
    }
    let mut n = [0u8; 4];
    n.copy_from_slice(&state[1 + DIGEST_LEN..]);
    let offset = u32::from_be_bytes(n) as usize;
    if offset > total {
        return Err(refuse(format!(
            "it resumes at row {offset} but the result has {total} rows"
        )));
    }
    Ok(offset)
}

/// The first bytes of the statement's MD5.
fn digest(statement: &str) -> [u8; DIGEST_LEN] {
    let full = Md5::digest(statement.as_bytes());
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&full[..DIGEST_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: i32) -> Vec<Vec<Value>> {
        (0..n).map(|i| vec![Value::Int(i)]).collect()
    }

    #[test]
    fn pages_follow_each_other_until_the_last() {
        let first = page("q", rows(5), Some(2), None).unwrap();
        assert_eq!(first.rows, rows(2));
        let second = page("q", rows(5), Some(2), first.next.as_deref()).unwrap();
        assert_eq!(second.rows, vec![vec![Value::Int(2)], vec![Value::Int(3)]]);
        let last = page("q", rows(5), Some(2), second.next.as_deref()).unwrap();
        assert_eq!(last.rows, vec![vec![Value::Int(4)]]);
        assert_eq!(last.next, None);
        assert_eq!(page("q", rows(5), None, None).unwrap().rows.len(), 5);
    }

    #[test]
    fn forged_or_foreign_states_are_refused() {
        let state = page("q", rows(5), Some(2), None).unwrap().next.unwrap();
        let err = page("other", rows(5), Some(2), Some(&state)).unwrap_err();
        assert!(err.message.contains("another statement"), "{}", err.message);
        assert!(page("q", rows(5), Some(2), Some(&[1, 2, 3])).is_err());
        let mut far = state.clone();
        far[1 + DIGEST_LEN..].copy_from_slice(&9u32.to_be_bytes());
        let err = page("q", rows(5), Some(2), Some(&far)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        assert!(err.message.contains("row 9"), "{}", err.message);
    }
}
