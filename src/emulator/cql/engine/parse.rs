//! The parser: statement text to the syntax tree of [`super::statement`]. Keywords are
//! case-insensitive; unquoted names are folded to lower case, quoted ones kept. Schema
//! statements are parsed in [`super::parse_ddl`].

use super::super::outcome::CqlError;
use super::lexer::{Spanned, Tok, lex};
use super::statement::{Describe, Name, Restriction, Select, Statement, Term};

/// A parsed statement and how many markers it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The statement.
    pub statement: Statement,
    /// Number of `?` markers.
    pub markers: usize,
}

/// Parses one statement (an optional trailing `;`).
pub fn parse(text: &str) -> Result<Parsed, CqlError> {
    let toks = lex(text)?;
    let mut p = Parser {
        text,
        toks,
        at: 0,
        markers: 0,
    };
    let statement = p.statement()?;
    p.eat_sym(";");
    if let Some(t) = p.toks.get(p.at) {
        return Err(p.error_at(t.start, "extraneous input"));
    }
    Ok(Parsed {
        statement,
        markers: p.markers,
    })
}

/// Reads tokens into statements.
pub(super) struct Parser<'a> {
    /// The statement text (for `WHERE` clauses and messages).
    pub(super) text: &'a str,
    /// Its tokens.
    pub(super) toks: Vec<Spanned>,
    /// The next token.
    pub(super) at: usize,
    /// Markers seen so far.
    pub(super) markers: usize,
}

/// Native CQL types.
pub const NATIVE_TYPES: &[&str] = &[
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varchar",
    "varint",
];

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|s| &s.tok)
    }

    pub(super) fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.at + n).map(|s| &s.tok)
    }

    /// A syntax error at byte `at`, showing the text from there.
    pub(super) fn error_at(&self, at: usize, what: &str) -> CqlError {
        let near: String = self.text.get(at..).unwrap_or("").chars().take(30).collect();
        CqlError::syntax(format!("line 1:{at} {what} at '{near}'"))
    }

    /// A syntax error at the next token (or the end).
    pub(super) fn error(&self, what: &str) -> CqlError {
        match self.toks.get(self.at) {
            Some(t) => self.error_at(t.start, what),
            None => CqlError::syntax(format!("line 1:{} {what} at end of input", self.text.len())),
        }
    }

    pub(super) fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn kw(&mut self, kw: &str) -> Result<(), CqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {kw}")))
        }
    }

    pub(super) fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn sym(&mut self, sym: &str) -> Result<(), CqlError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{sym}'")))
        }
    }

    /// A name: unquoted folded to lower case, quoted kept.
    pub(super) fn ident(&mut self) -> Result<String, CqlError> {
        let name = match self.peek() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            Some(Tok::Quoted(q)) => q.clone(),
            _ => return Err(self.error("expected a name")),
        };
        self.at += 1;
        Ok(name)
    }

    /// Names separated by commas (at least one): a column list.
    pub(super) fn ident_list(&mut self) -> Result<Vec<String>, CqlError> {
        let mut names = vec![self.ident()?];
        while self.eat_sym(",") {
            names.push(self.ident()?);
        }
        Ok(names)
    }

    /// `[ks.]name`.
    pub(super) fn name(&mut self) -> Result<Name, CqlError> {
        let first = self.ident()?;
        if self.eat_sym(".") {
            Ok(Name {
                keyspace: Some(first),
                name: self.ident()?,
            })
        } else {
            Ok(Name {
                keyspace: None,
                name: first,
            })
        }
    }

    pub(super) fn if_not_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("IF") {
            self.kw("NOT")?;
            self.kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub(super) fn if_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("IF") {
            self.kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub(super) fn statement(&mut self) -> Result<Statement, CqlError> {
        let Some(Tok::Word(first)) = self.peek().cloned() else {
            return Err(self.error("no viable alternative"));
        };
        self.at += 1;
        match first.to_ascii_uppercase().as_str() {
            "USE" => Ok(Statement::Use(self.ident()?)),
            "SELECT" => self.select().map(Statement::Select),
            "DESCRIBE" | "DESC" => self.describe(),
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "ALTER" => self.alter(),
            _ => {
                self.at -= 1;
                Err(self.error("no viable alternative"))
            }
        }
    }

    pub(super) fn select(&mut self) -> Result<Select, CqlError> {
        self.eat_kw("JSON");
        let mut count = false;
        let columns = if self.eat_sym("*") {
            None
        } else if self.is_kw("COUNT") && self.peek_at(1) == Some(&Tok::Sym("(")) {
            self.at += 2;
            if !self.eat_sym("*") {
                self.ident()?;
            }
            self.sym(")")?;
            count = true;
            None
        } else {
            Some(self.ident_list()?)
        };
        self.kw("FROM")?;
        let from = self.name()?;
        let mut restrictions = Vec::new();
        if self.eat_kw("WHERE") {
            loop {
                let col = self.ident()?;
                if self.eat_sym("=") {
                    restrictions.push(Restriction::Eq(col, self.term()?));
                } else if self.eat_kw("IN") {
                    if matches!(self.peek(), Some(Tok::Marker)) {
                        self.at += 1;
                        restrictions.push(Restriction::InMarker(col, self.markers));
                        self.markers += 1;
                    } else {
                        self.sym("(")?;
                        let mut terms = Vec::new();
                        if !self.eat_sym(")") {
                            loop {
                                terms.push(self.term()?);
                                if self.eat_sym(")") {
                                    break;
                                }
                                self.sym(",")?;
                            }
                        }
                        restrictions.push(Restriction::In(col, terms));
                    }
                } else {
                    return Err(self.error("expected '=' or IN"));
                }
                if !self.eat_kw("AND") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.term()?)
        } else {
            None
        };
        if self.eat_kw("ALLOW") {
            self.kw("FILTERING")?;
        }
        Ok(Select {
            columns,
            count,
            from,
            restrictions,
            limit,
        })
    }

    /// A literal or marker.
    pub(super) fn term(&mut self) -> Result<Term, CqlError> {
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| self.error("expected a value"))?;
        self.at += 1;
        Ok(match tok {
            Tok::Str(s) => Term::Str(s),
            Tok::Num(n) => Term::Num(n),
            Tok::Uuid(u) => Term::Uuid(u),
            Tok::Blob(b) => Term::Blob(b),
            Tok::Marker => {
                self.markers += 1;
                Term::Marker(self.markers - 1)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Term::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Term::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Term::Null,
            Tok::Word(w) if ["nan", "infinity"].contains(&w.to_ascii_lowercase().as_str()) => {
                Term::Num(w)
            }
            Tok::Sym("-") if self.is_kw("infinity") => {
                self.at += 1;
                Term::Num("-Infinity".into())
            }
            Tok::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.term()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.sym(",")?;
                    }
                }
                Term::List(items)
            }
            Tok::Sym("{") => {
                if self.eat_sym("}") {
                    return Ok(Term::Map(Vec::new()));
                }
                let first = self.term()?;
                if self.eat_sym(":") {
                    let mut pairs = vec![(first, self.term()?)];
                    while self.eat_sym(",") {
                        let k = self.term()?;
                        self.sym(":")?;
                        pairs.push((k, self.term()?));
                    }
                    self.sym("}")?;
                    Term::Map(pairs)
                } else {
                    let mut items = vec![first];
                    while self.eat_sym(",") {
                        items.push(self.term()?);
                    }
                    self.sym("}")?;
                    Term::Set(items)
                }
            }
            _ => {
                self.at -= 1;
                return Err(self.error("expected a value"));
            }
        })
    }

    pub(super) fn describe(&mut self) -> Result<Statement, CqlError> {
        let what = if self.eat_kw("FULL") {
            self.kw("SCHEMA")?;
            Describe::Schema { full: true }
        } else if self.eat_kw("SCHEMA") {
            Describe::Schema { full: false }
        } else if self.eat_kw("KEYSPACES") {
            Describe::Keyspaces
        } else if self.eat_kw("TABLES") {
            Describe::Tables
        } else if self.is_kw("ONLY") || self.is_kw("KEYSPACE") {
            let only = self.eat_kw("ONLY");
            self.kw("KEYSPACE")?;
            let name = match self.peek() {
                Some(Tok::Word(_) | Tok::Quoted(_)) if !self.is_kw("WITH") => Some(self.ident()?),
                _ => None,
            };
            Describe::Keyspace { name, only }
        } else if self.eat_kw("TABLE") || self.eat_kw("COLUMNFAMILY") {
            Describe::Table(self.name()?)
        } else if self.eat_kw("MATERIALIZED") {
            self.kw("VIEW")?;
            Describe::View(self.name()?)
        } else if self.eat_kw("INDEX") {
            Describe::Index(self.name()?)
        } else if self.eat_kw("TYPE") {
            Describe::Type(self.name()?)
        } else {
            return Err(self.error("DESCRIBE of this kind is not supported by the emulator"));
        };
        let internals = if self.eat_kw("WITH") {
            self.kw("INTERNALS")?;
            true
        } else {
            false
        };
        Ok(Statement::Describe(what, internals))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse_with_cql_case_rules() {
        let p = parse(
            "select \"Key\", tokens FROM System.Local where key = 'local' AND x IN ? LIMIT ?;",
        )
        .unwrap();
        assert_eq!(p.markers, 2);
        let Statement::Select(s) = p.statement else {
            panic!()
        };
        assert_eq!(s.columns, Some(vec!["Key".into(), "tokens".into()]));
        assert_eq!(s.from.keyspace.as_deref(), Some("system"));
        assert_eq!(s.restrictions[1], Restriction::InMarker("x".into(), 0));
        let p = parse("CREATE TABLE IF NOT EXISTS ks.t (a int, b frozen<map<text, varchar>>, c int static, PRIMARY KEY ((a), b)) WITH ID = 123e4567-e89b-12d3-a456-426614174000 AND CLUSTERING ORDER BY (b DESC) AND comment = 'x'").unwrap();
        let Statement::CreateTable {
            columns,
            key,
            properties,
            if_not_exists,
            ..
        } = p.statement
        else {
            panic!()
        };
        assert!(if_not_exists);
        assert_eq!(columns[1].ty, "frozen<map<text, text>>");
        assert!(columns[2].is_static);
        assert_eq!(key.partition, vec!["a"]);
        assert_eq!(properties.clustering_order, vec![("b".to_string(), true)]);
        assert!(properties.id.is_some());
        assert!(parse("SELECT FROM").is_err());
        assert!(parse("UPDATE t SET a = 1").is_err());
        assert!(parse("DESCRIBE FUNCTIONS").is_err());
    }
}
