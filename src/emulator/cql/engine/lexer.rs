//! Cutting a statement into tokens: identifiers (quoted ones keep their case), string, number,
//! UUID and boolean literals, `?` markers and punctuation.

use super::super::outcome::CqlError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted word: a keyword or a name (compare case-insensitively).
    Word(String),
    /// A `"quoted"` name, case kept.
    Quoted(String),
    /// A `'string'` (or `$$string$$`).
    Str(String),
    /// A number as written (`-1`, `0.01`, `1e3`).
    Num(String),
    /// A UUID literal.
    Uuid(uuid::Uuid),
    /// A `0x...` blob literal, as written.
    Blob(String),
    /// A bind marker `?`.
    Marker,
    /// Punctuation: one of `( ) , ; . = < > { } [ ] : * + -`, or `<=`/`>=`/`!=`.
    Sym(&'static str),
}

/// A token and where it starts and ends in the statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The token.
    pub tok: Tok,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset after its last character.
    pub end: usize,
}

/// Tokenizes a statement; comments (`--`, `//`, `/* */`) are skipped.
pub fn lex(text: &str) -> Result<Vec<Spanned>, CqlError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if text[i..].starts_with("--") || text[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if text[i..].starts_with("/*") {
            i = text[i + 2..]
                .find("*/")
                .map(|p| i + 2 + p + 2)
                .ok_or_else(|| CqlError::syntax("line 1: unterminated comment"))?;
            continue;
        }
        let tok = if c == b'\'' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(rest) = text.get(i..) else {
                    return Err(unterminated(text, start));
                };
                let Some(p) = rest.find('\'') else {
                    return Err(unterminated(text, start));
                };
                s.push_str(&rest[..p]);
                i += p + 1;
                if b.get(i) == Some(&b'\'') {
                    s.push('\'');
                    i += 1;
                } else {
                    break;
                }
            }
            Tok::Str(s)
        } else if text[i..].starts_with("$$") {
            let rest = &text[i + 2..];
            let p = rest.find("$$").ok_or_else(|| unterminated(text, start))?;
            i += 2 + p + 2;
            Tok::Str(rest[..p].to_string())
        } else if c == b'"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(p) = text.get(i..).and_then(|r| r.find('"')) else {
                    return Err(unterminated(text, start));
                };
                s.push_str(&text[i..i + p]);
                i += p + 1;
                if b.get(i) == Some(&b'"') {
                    s.push('"');
                    i += 1;
                } else {
                    break;
                }
            }
            Tok::Quoted(s)
        } else if let Some(u) = uuid_at(text, i) {
            i += 36;
            Tok::Uuid(u)
        } else if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            Tok::Blob(text[start..i].to_string())
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'.'
                    || (matches!(b[i], b'-' | b'+') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            Tok::Num(text[start..i].to_string())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Tok::Word(text[start..i].to_string())
        } else if c == b'?' {
            i += 1;
            Tok::Marker
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let sym = ["<=", ">=", "!="].into_iter().find(|s| *s == two);
            if let Some(s) = sym {
                i += 2;
                Tok::Sym(s)
            } else {
                const ONE: &[&str] = &[
                    "(", ")", ",", ";", ".", "=", "<", ">", "{", "}", "[", "]", ":", "*", "+", "-",
                ];
                let ch = text[i..].chars().next().unwrap_or(' ');
                let Some(s) = ONE.iter().find(|s| s.starts_with(ch)) else {
                    return Err(CqlError::syntax(format!(
                        "line 1:{start} no viable alternative at character '{ch}'"
                    )));
                };
                i += 1;
                Tok::Sym(s)
            }
        };
        out.push(Spanned { tok, start, end: i });
    }
    Ok(out)
}

/// The error for a string or name without its closing quote.
fn unterminated(text: &str, at: usize) -> CqlError {
    let quote = text[at..].chars().next().unwrap_or('\'');
    CqlError::syntax(format!("line 1:{at} unterminated quote {quote}"))
}

/// A UUID literal starting at `i`, when there is one (8-4-4-4-12 hex digits, not followed by a
/// name character).
fn uuid_at(text: &str, i: usize) -> Option<uuid::Uuid> {
    let candidate = text.get(i..i + 36)?;
    let shape_ok = candidate.char_indices().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    let next_ok = text[i + 36..]
        .chars()
        .next()
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
    if shape_ok && next_ok {
        uuid::Uuid::parse_str(candidate).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_statement() {
        let toks: Vec<Tok> = lex("SELECT \"Ab\"\"c\", x FROM t WHERE k = 'it''s' AND id = 123e4567-e89b-12d3-a456-426614174000 AND n IN (?, -1.5e-3);")
            .unwrap()
            .into_iter()
            .map(|s| s.tok)
            .collect();
        assert_eq!(toks[1], Tok::Quoted("Ab\"c".into()));
        assert!(toks.contains(&Tok::Str("it's".into())));
        assert!(toks.iter().any(|t| matches!(t, Tok::Uuid(_))));
        assert!(toks.contains(&Tok::Num("-1.5e-3".into())));
        assert!(toks.contains(&Tok::Marker));
        assert_eq!(toks.last(), Some(&Tok::Sym(";")));
        assert!(lex("SELECT 'open").is_err());
        assert!(lex("SELECT # x").is_err());
    }
}
