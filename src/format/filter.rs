//! Include/exclude glob filters over keyspaces, tables and DCs, with upstream semantics
//! (`inexlist`, `ksfilter`, `dcfilter`).
//!
//! A filter is a list of glob patterns evaluated left to right; the **last** pattern that matches
//! a name decides, a `!` prefix makes a pattern exclude, and a name no pattern matches is
//! excluded. Blank patterns are skipped, and a list with no other patterns selects everything.
//! Globs: `*` any run of characters (including `.`), `?` one character, `[abc]`, `[a-z]`,
//! `{a,b}`; `\` escapes.
//!
//! [`KeyspaceFilter`] matches `keyspace.table` names and decorates keyspace-only patterns (`ks`
//! becomes `ks.*`); [`DcFilter`] matches DC names as they are. Positions in error messages count
//! patterns from 1.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

/// What building or applying a filter found wrong, naming the pattern or the candidates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A keyspace pattern starts with `.` (after an optional `!`), so it names no keyspace.
    #[error(
        "filter {pattern:?} at position {position}: missing keyspace (expected keyspace[.table], e.g. ks, ks.table or !ks.tmp_*)"
    )]
    MissingKeyspace {
        /// The pattern as given.
        pattern: String,
        /// 1-based position of the pattern in the list.
        position: usize,
    },
    /// A pattern is empty (or blank), so it names nothing.
    #[error(
        "filter {pattern:?} at position {position}: empty pattern (expected keyspace[.table], e.g. ks or ks.table; give no filter for every table)"
    )]
    EmptyPattern {
        /// The pattern as given.
        pattern: String,
        /// 1-based position of the pattern in the list.
        position: usize,
    },
    /// A pattern is only `!`, with nothing to exclude.
    #[error(
        "filter {pattern:?} at position {position}: nothing after '!' (expected !pattern, e.g. !ks.table)"
    )]
    EmptyExclusion {
        /// The pattern as given.
        pattern: String,
        /// 1-based position of the pattern in the list.
        position: usize,
    },
    /// A pattern is not a valid glob.
    #[error("filter {pattern:?} at position {position}: invalid glob: {reason}")]
    InvalidGlob {
        /// The pattern as given.
        pattern: String,
        /// 1-based position of the pattern in the list.
        position: usize,
        /// What the glob compiler reported.
        reason: String,
    },
    /// No table of any keyspace passed the filter.
    #[error(
        "no keyspace matched criteria [{}] - available keyspaces are: [{}]",
        .patterns.join(", "),
        .available.join(", ")
    )]
    NoKeyspaceMatched {
        /// The patterns as given.
        patterns: Vec<String>,
        /// The keyspaces that were offered, sorted.
        available: Vec<String>,
    },
    /// No DC passed the filter.
    #[error(
        "no DC matched criteria [{}] - available DCs are: [{}]",
        .patterns.join(", "),
        .available.join(", ")
    )]
    NoDcMatched {
        /// The patterns as given.
        patterns: Vec<String>,
        /// The DCs that were offered, sorted.
        available: Vec<String>,
    },
}

/// One compiled pattern of an include/exclude list.
#[derive(Debug, Clone)]
struct Rule {
    /// `true` for an including pattern, `false` for a `!` one.
    include: bool,
    /// The glob, after decoration and without the `!`.
    glob: String,
    /// The compiled glob.
    matcher: GlobMatcher,
}

/// The include/exclude core shared by both filters: an ordered list of signed globs.
#[derive(Debug, Clone)]
struct InExList {
    /// The compiled patterns, blank ones skipped, in list order.
    rules: Vec<Rule>,
}

impl InExList {
    /// Compiles `patterns`; `decorate(body, pattern, position)` checks and rewrites each pattern
    /// body (the text after `!`), and `all` is the single pattern used when no pattern is given.
    fn new(
        patterns: &[String],
        all: &str,
        decorate: impl Fn(&str, &str, usize) -> Result<String, FilterError>,
    ) -> Result<InExList, FilterError> {
        let mut rules = Vec::with_capacity(patterns.len().max(1));
        for (i, pattern) in patterns.iter().enumerate() {
            let position = i + 1;
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                return Err(FilterError::EmptyPattern {
                    pattern: pattern.clone(),
                    position,
                });
            }
            let body = trimmed.trim_start_matches('!').trim();
            if body.is_empty() {
                return Err(FilterError::EmptyExclusion {
                    pattern: pattern.clone(),
                    position,
                });
            }
            let glob = decorate(body, pattern, position)?;
            rules.push(Rule {
                include: !trimmed.starts_with('!'),
                matcher: compile(&glob, pattern, position)?,
                glob,
            });
        }
        if rules.is_empty() {
            rules.push(Rule {
                include: true,
                matcher: compile(all, all, 1)?,
                glob: all.to_owned(),
            });
        }
        Ok(InExList { rules })
    }

    /// Whether `name` is selected: the last matching pattern decides, no match excludes.
    fn check(&self, name: &str) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|r| r.matcher.is_match(name))
            .is_some_and(|r| r.include)
    }

    /// The position of the first including pattern that matches `name`.
    fn first_include(&self, name: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.include && r.matcher.is_match(name))
    }

    /// The effective patterns, `!` included.
    fn patterns(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| {
                let sign = if r.include { "" } else { "!" };
                format!("{sign}{}", r.glob)
            })
            .collect()
    }
}

/// Compiles one glob with `*` free to match any character.
fn compile(glob: &str, pattern: &str, position: usize) -> Result<GlobMatcher, FilterError> {
    GlobBuilder::new(glob)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| FilterError::InvalidGlob {
            pattern: pattern.to_owned(),
            position,
            reason: e.kind().to_string(),
        })
}

/// Sorted, deduplicated copy of `names`, for error messages.
fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// The tables of one keyspace selected by a [`KeyspaceFilter`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The keyspace name.
    pub keyspace: String,
    /// The selected tables, in the order they were offered.
    pub tables: Vec<String>,
    /// Whether every offered table of the keyspace was selected.
    pub all_tables: bool,
}

/// A filter over `keyspace.table` names.
#[derive(Debug, Clone)]
pub struct KeyspaceFilter {
    /// The patterns as given, for error messages.
    patterns: Vec<String>,
    /// The compiled, decorated patterns.
    list: InExList,
}

/// Checks a keyspace pattern body and decorates it: without a `.`, `ks` becomes `ks.*`.
fn decorate_keyspace(body: &str, pattern: &str, position: usize) -> Result<String, FilterError> {
    if body.starts_with('.') {
        return Err(FilterError::MissingKeyspace {
            pattern: pattern.to_owned(),
            position,
        });
    }
    if body.contains('.') {
        Ok(body.to_owned())
    } else {
        Ok(format!("{body}.*"))
    }
}

impl KeyspaceFilter {
    /// Compiles `keyspace[.table]` patterns; an empty list selects every table (`*.*`).
    pub fn new(patterns: &[String]) -> Result<KeyspaceFilter, FilterError> {
        Ok(KeyspaceFilter {
            patterns: patterns.to_vec(),
            list: InExList::new(patterns, "*.*", decorate_keyspace)?,
        })
    }

    /// Whether table `keyspace.table` is selected.
    pub fn check(&self, keyspace: &str, table: &str) -> bool {
        self.list.check(&format!("{keyspace}.{table}"))
    }

    /// The effective patterns after decoration, e.g. `["ks.*", "!ks.tmp_*"]`.
    pub fn decorated(&self) -> Vec<String> {
        self.list.patterns()
    }

    /// Selects tables from `(keyspace, tables)` pairs and returns one [`Unit`] per keyspace with
    /// at least one selected table.
    ///
    /// Units are ordered by the position of the first including pattern that matches one of
    /// their tables; ties put keyspaces starting with `system` first, then order by name. Fails
    /// when no table at all is selected.
    pub fn apply(
        &self,
        tables: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Result<Vec<Unit>, FilterError> {
        let mut available = Vec::new();
        let mut units = Vec::new();
        for (keyspace, tables) in tables {
            let selected: Vec<String> = tables
                .iter()
                .filter(|t| self.check(&keyspace, t))
                .cloned()
                .collect();
            if !selected.is_empty() {
                units.push(Unit {
                    all_tables: selected.len() == tables.len(),
                    tables: selected,
                    keyspace: keyspace.clone(),
                });
            }
            available.push(keyspace);
        }
        if units.is_empty() {
            return Err(FilterError::NoKeyspaceMatched {
                patterns: self.patterns.clone(),
                available: sorted(available),
            });
        }
        units.sort_by_cached_key(|u| {
            let first = u
                .tables
                .iter()
                .filter_map(|t| self.list.first_include(&format!("{}.{t}", u.keyspace)))
                .min()
                .unwrap_or(self.list.rules.len());
            (first, !u.keyspace.starts_with("system"), u.keyspace.clone())
        });
        Ok(units)
    }
}

/// A filter over DC names.
#[derive(Debug, Clone)]
pub struct DcFilter {
    /// The patterns as given, for error messages.
    patterns: Vec<String>,
    /// The compiled patterns.
    list: InExList,
}

impl DcFilter {
    /// Compiles DC patterns; an empty list selects every DC (`*`).
    pub fn new(patterns: &[String]) -> Result<DcFilter, FilterError> {
        Ok(DcFilter {
            patterns: patterns.to_vec(),
            list: InExList::new(patterns, "*", |body, _, _| Ok(body.to_owned()))?,
        })
    }

    /// Whether DC `dc` is selected.
    pub fn check(&self, dc: &str) -> bool {
        self.list.check(dc)
    }

    /// The selected DCs among `dcs`, sorted and deduplicated; fails when none is selected.
    pub fn apply(
        &self,
        dcs: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Vec<String>, FilterError> {
        let all = sorted(dcs.into_iter().map(|dc| dc.as_ref().to_owned()));
        let selected: Vec<String> = all.iter().filter(|dc| self.check(dc)).cloned().collect();
        if selected.is_empty() {
            return Err(FilterError::NoDcMatched {
                patterns: self.patterns.clone(),
                available: all,
            });
        }
        Ok(selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn ks(patterns: &[&str]) -> KeyspaceFilter {
        KeyspaceFilter::new(&strings(patterns)).unwrap()
    }

    fn keyspaces(names: &[&str], tables: &[&str]) -> Vec<(String, Vec<String>)> {
        names
            .iter()
            .map(|k| (k.to_string(), strings(tables)))
            .collect()
    }

    fn unit(keyspace: &str, tables: &[&str], all_tables: bool) -> Unit {
        Unit {
            keyspace: keyspace.into(),
            tables: strings(tables),
            all_tables,
        }
    }

    #[test]
    fn spec_example() {
        let f = ks(&["keyspace", "!keyspace.table_prefix_*"]);
        assert!(f.check("keyspace", "t1"));
        assert!(!f.check("keyspace", "table_prefix_1"));
        assert!(!f.check("other", "t1"));
        let units = f
            .apply(vec![
                ("keyspace".to_string(), strings(&["t1", "table_prefix_a"])),
                ("other".to_string(), strings(&["t1"])),
            ])
            .unwrap();
        assert_eq!(units, vec![unit("keyspace", &["t1"], false)]);
    }

    #[test]
    fn upstream_filter_case() {
        let f = ks(&["system", "*.*foo", "!bar.*foo"]);
        let units = f
            .apply(keyspaces(&["bar", "baz", "system"], &["foo", "bar", "baz"]))
            .unwrap();
        assert_eq!(
            units,
            vec![
                unit("system", &["foo", "bar", "baz"], true),
                unit("baz", &["foo"], false),
            ]
        );
        assert!(!f.check("bar", "foo"));
        assert!(f.check("baz", "foo"));
    }

    #[test]
    fn decoration() {
        for (given, expected) in [
            (vec![], vec!["*.*"]),
            (vec!["*"], vec!["*.*"]),
            (vec!["!*"], vec!["!*.*"]),
            (vec!["kalle"], vec!["kalle.*"]),
            (vec!["!kalle"], vec!["!kalle.*"]),
            (vec!["kalle*"], vec!["kalle*.*"]),
            (vec!["*kalle"], vec!["*kalle.*"]),
            (vec!["kalle.*"], vec!["kalle.*"]),
            (vec!["*kalle.*"], vec!["*kalle.*"]),
        ] {
            assert_eq!(ks(&given).decorated(), strings(&expected), "{given:?}");
        }
    }

    #[test]
    fn empty_patterns_are_refused() {
        for (patterns, position) in [(vec![""], 1), (vec!["ks", "  "], 2)] {
            let e = KeyspaceFilter::new(&strings(&patterns)).unwrap_err();
            assert!(
                matches!(e, FilterError::EmptyPattern { position: p, .. } if p == position),
                "{patterns:?}: {e}"
            );
            assert!(e.to_string().contains("empty pattern"), "{e}");
            assert!(DcFilter::new(&strings(&patterns)).is_err());
        }
    }

    #[test]
    fn missing_keyspace() {
        for (patterns, position) in [
            (vec![".*kalle.*"], 1),
            (vec![".*"], 1),
            (vec!["ks", "!.t"], 2),
        ] {
            let e = KeyspaceFilter::new(&strings(&patterns)).unwrap_err();
            assert_eq!(
                e,
                FilterError::MissingKeyspace {
                    pattern: patterns[position - 1].to_string(),
                    position
                }
            );
            assert!(e.to_string().contains("missing keyspace"), "{e}");
        }
    }

    #[test]
    fn invalid_glob_names_pattern_and_position() {
        let e = KeyspaceFilter::new(&strings(&["ks", "ks.[ab"])).unwrap_err();
        assert!(
            matches!(&e, FilterError::InvalidGlob { pattern, position: 2, .. } if pattern == "ks.[ab"),
            "{e}"
        );
        assert!(
            e.to_string().contains(r#"filter "ks.[ab" at position 2"#),
            "{e}"
        );
        let e = DcFilter::new(&strings(&["{dc1"])).unwrap_err();
        assert!(
            matches!(e, FilterError::InvalidGlob { position: 1, .. }),
            "{e}"
        );
        let e = DcFilter::new(&strings(&["!"])).unwrap_err();
        assert!(
            matches!(e, FilterError::EmptyExclusion { position: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn glob_syntax() {
        let f = ks(&["k?.t[0-9]", "x*"]);
        assert!(f.check("k1", "t5"));
        assert!(!f.check("k12", "t5"));
        assert!(!f.check("k1", "tx"));
        // `*` also matches `.`.
        assert!(f.check("x", "anything"));
        assert!(ks(&["*.*foo"]).check("a.b", "c.foo"));
        let f = ks(&["ks.[abc]*"]);
        assert!(f.check("ks", "b1"));
        assert!(!f.check("ks", "d1"));
    }

    #[test]
    fn only_exclusions_select_nothing() {
        let f = ks(&["!ks1"]);
        assert!(!f.check("ks1", "t"));
        assert!(!f.check("ks2", "t"));
        let e = f.apply(keyspaces(&["ks2", "ks1"], &["t"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no keyspace matched criteria [!ks1] - available keyspaces are: [ks1, ks2]"
        );
    }

    #[test]
    fn reinclusion_after_exclusion() {
        let f = ks(&["*", "!ks1", "ks1.t1"]);
        assert!(f.check("ks1", "t1"));
        assert!(!f.check("ks1", "t2"));
        assert!(f.check("ks2", "t2"));
        let units = f.apply(keyspaces(&["ks1", "ks2"], &["t1", "t2"])).unwrap();
        assert_eq!(
            units,
            vec![
                unit("ks1", &["t1"], false),
                unit("ks2", &["t1", "t2"], true)
            ]
        );
    }

    #[test]
    fn no_patterns_promote_system_keyspaces() {
        let units = ks(&[])
            .apply(keyspaces(
                &["zeta", "system_schema", "alpha", "system", "system_auth"],
                &["t"],
            ))
            .unwrap();
        let names: Vec<&str> = units.iter().map(|u| u.keyspace.as_str()).collect();
        assert_eq!(
            names,
            ["system", "system_auth", "system_schema", "alpha", "zeta"]
        );
        assert!(units.iter().all(|u| u.all_tables));
    }

    #[test]
    fn units_follow_pattern_order() {
        let units = ks(&["*dc2*", "system*", "*dc1*"])
            .apply(keyspaces(
                &[
                    "ks_dc1_a",
                    "system_auth",
                    "ks_dc2_b",
                    "ks_dc1_b",
                    "system",
                    "ks_dc2_a",
                    "other",
                ],
                &["t"],
            ))
            .unwrap();
        let names: Vec<&str> = units.iter().map(|u| u.keyspace.as_str()).collect();
        assert_eq!(
            names,
            [
                "ks_dc2_a",
                "ks_dc2_b",
                "system",
                "system_auth",
                "ks_dc1_a",
                "ks_dc1_b"
            ]
        );
    }

    #[test]
    fn unit_serde() {
        let u = unit("ks", &["t"], true);
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(
            json,
            r#"{"keyspace":"ks","tables":["t"],"all_tables":true}"#
        );
        assert_eq!(serde_json::from_str::<Unit>(&json).unwrap(), u);
    }

    #[test]
    fn dc_filter() {
        let all = strings(&["dc2", "dc1", "eu-west"]);
        let f = DcFilter::new(&[]).unwrap();
        assert_eq!(f.apply(&all).unwrap(), strings(&["dc1", "dc2", "eu-west"]));
        let f = DcFilter::new(&strings(&["dc*", "!dc2"])).unwrap();
        assert!(f.check("dc1"));
        assert!(!f.check("dc2"));
        assert!(!f.check("eu-west"));
        assert_eq!(f.apply(&all).unwrap(), strings(&["dc1"]));
        let e = DcFilter::new(&strings(&["us-*"]))
            .unwrap()
            .apply(&all)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no DC matched criteria [us-*] - available DCs are: [dc1, dc2, eu-west]"
        );
        // DC patterns are not decorated: a dot is literal and no `.*` is added.
        let f = DcFilter::new(&strings(&["dc.1"])).unwrap();
        assert!(f.check("dc.1"));
        assert!(!f.check("dc"));
    }

    /// A reference implementation of "last match wins" over plain `*`-free names.
    fn reference(patterns: &[(bool, String)], name: &str) -> bool {
        patterns
            .iter()
            .rfind(|(_, p)| p == name)
            .is_some_and(|(include, _)| *include)
    }

    proptest! {
        #[test]
        fn last_literal_match_decides(
            patterns in proptest::collection::vec((any::<bool>(), "[ab]{1,2}"), 1..6),
            name in "[ab]{1,2}",
        ) {
            let text: Vec<String> = patterns
                .iter()
                .map(|(inc, p)| format!("{}{p}", if *inc { "" } else { "!" }))
                .collect();
            let f = DcFilter::new(&text).unwrap();
            prop_assert_eq!(f.check(&name), reference(&patterns, &name));
        }

        #[test]
        fn apply_agrees_with_check(
            patterns in proptest::collection::vec("!?[ab*]{1,2}(\\.[ab*]{1,2})?", 0..4),
            ks_names in proptest::collection::btree_set("[ab]{1,2}", 1..4),
            tables in proptest::collection::vec("[ab]{1,2}", 1..4),
        ) {
            let f = KeyspaceFilter::new(&patterns).unwrap();
            let input: Vec<(String, Vec<String>)> =
                ks_names.iter().map(|k| (k.clone(), tables.clone())).collect();
            match f.apply(input.clone()) {
                Ok(units) => {
                    for (k, ts) in &input {
                        let selected: Vec<String> =
                            ts.iter().filter(|t| f.check(k, t)).cloned().collect();
                        let u = units.iter().find(|u| &u.keyspace == k);
                        if selected.is_empty() {
                            prop_assert!(u.is_none());
                        } else {
                            let u = u.unwrap();
                            prop_assert_eq!(&u.tables, &selected);
                            prop_assert_eq!(u.all_tables, selected.len() == ts.len());
                        }
                    }
                }
                Err(_) => {
                    prop_assert!(input.iter().all(|(k, ts)| ts.iter().all(|t| !f.check(k, t))));
                }
            }
        }
    }
}
