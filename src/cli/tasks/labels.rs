//! `--label k=v,k2-` of task creation and update, as sctool takes it: each item sets a label
//! (`k=v`) or removes one (`k-`); and labels as `cairn tasks` and `cairn info` print them.

use std::collections::BTreeMap;

use super::super::client::ClientError;

/// One item of `--label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelEdit {
    /// `key=value`: sets the label `key` to `value`.
    Set(String, String),
    /// `key-`: removes the label `key` (on update; ignored on creation, as sctool does).
    Remove(String),
}

/// The form every `--label` item must have, for the refusals.
const FORM: &str = "expected KEY=VALUE to set a label or KEY- to remove one";

/// Parses one `--label` item (clap's value parser: a refusal names `--label` and the item).
pub fn parse_label_edit(item: &str) -> Result<LabelEdit, String> {
    let item = item.trim();
    let edit = match item.split_once('=') {
        Some((key, value)) => {
            if value.contains('=') {
                return Err(format!(
                    "{item:?}: '=' cannot be part of a label's key or value ({FORM})"
                ));
            }
            LabelEdit::Set(key.trim().to_string(), value.trim().to_string())
        }
        None => match item.strip_suffix('-') {
            Some(key) => LabelEdit::Remove(key.trim().to_string()),
            None => return Err(format!("{item:?}: {FORM}")),
        },
    };
    let key = match &edit {
        LabelEdit::Set(k, _) | LabelEdit::Remove(k) => k,
    };
    if key.is_empty() {
        return Err(format!("{item:?}: the label key is empty ({FORM})"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{item:?}: a label key cannot contain spaces or control characters"
        ));
    }
    Ok(edit)
}

/// The labels a new task gets: every `key=value` given (removals have nothing to remove).
pub fn new_labels(edits: &[LabelEdit]) -> BTreeMap<String, String> {
    apply(&BTreeMap::new(), edits)
}

/// `current` with `edits` applied: the labels set are added or changed, the ones removed gone,
/// the others kept. A key both set and removed is refused, naming `--label`.
pub fn merged_labels(
    current: &BTreeMap<String, String>,
    edits: &[LabelEdit],
) -> Result<BTreeMap<String, String>, ClientError> {
    for edit in edits {
        if let LabelEdit::Remove(key) = edit
            && edits
                .iter()
                .any(|e| matches!(e, LabelEdit::Set(k, _) if k == key))
        {
            return Err(ClientError::Usage(format!(
                "--label: label {key:?} is both set and removed; give one of them"
            )));
        }
    }
    Ok(apply(current, edits))
}

/// `current` with `edits` applied in order.
fn apply(current: &BTreeMap<String, String>, edits: &[LabelEdit]) -> BTreeMap<String, String> {
    let mut labels = current.clone();
    for edit in edits {
        match edit {
            LabelEdit::Set(k, v) => {
                labels.insert(k.clone(), v.clone());
            }
            LabelEdit::Remove(k) => {
                labels.remove(k);
            }
        }
    }
    labels
}

/// Labels as the tables show them: `env=prod,team=db` (by key); empty when none.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let items: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn items_set_or_remove_and_bad_ones_are_refused() {
        assert_eq!(
            parse_label_edit(" team=db "),
            Ok(LabelEdit::Set("team".into(), "db".into()))
        );
        assert_eq!(
            parse_label_edit("note="),
            Ok(LabelEdit::Set("note".into(), String::new()))
        );
        assert_eq!(
            parse_label_edit("env-"),
            Ok(LabelEdit::Remove("env".into()))
        );
        for (bad, why) in [
            ("=db", "key is empty"),
            ("-", "key is empty"),
            ("", "expected KEY=VALUE"),
            ("team", "expected KEY=VALUE"),
            ("a=b=c", "'=' cannot be part"),
            ("my team=db", "cannot contain spaces"),
        ] {
            let e = parse_label_edit(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn updates_merge_and_creations_ignore_removals() {
        let set = |k: &str, v: &str| LabelEdit::Set(k.into(), v.into());
        let current = labels(&[("team", "db"), ("env", "prod")]);
        let merged = merged_labels(
            &current,
            &[LabelEdit::Remove("env".into()), set("tier", "1")],
        )
        .unwrap();
        assert_eq!(merged, labels(&[("team", "db"), ("tier", "1")]));
        assert_eq!(labels_text(&merged), "team=db,tier=1");
        let e = merged_labels(
            &current,
            &[set("env", "x"), LabelEdit::Remove("env".into())],
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--label: "), "{e}");
        assert_eq!(
            new_labels(&[set("a", "1"), LabelEdit::Remove("b".into())]),
            labels(&[("a", "1")])
        );
    }
}
