//! Bearer tokens as both daemons check them: reading `Authorization: Bearer <token>` (the scheme
//! in any case, RFC 7235) and comparing the token in constant time.

use subtle::ConstantTimeEq;

/// The credentials of an `Authorization` header value of the `Bearer` scheme, matched in any
/// case, with one or more spaces before the token; `None` for any other scheme.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches(' '))
}

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
pub fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    if given.len() == expected.len() {
        given.ct_eq(expected).into()
    } else {
        // Other lengths still do the same work.
        !bool::from(expected.ct_eq(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        for value in ["Bearer tok", "bearer tok", "BEARER  tok", "bEaReR tok "] {
            assert_eq!(bearer(value), Some("tok"), "{value:?}");
        }
        for value in ["Basic tok", "Bearertok", "tok", ""] {
            assert_eq!(bearer(value), None, "{value:?}");
        }
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(token_matches(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!token_matches(b"0123456789abcdeF", b"0123456789abcdef"));
        assert!(!token_matches(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!token_matches(b"", b"0123456789abcdef"));
    }
}
