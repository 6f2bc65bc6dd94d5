//! Where a policy came from, so that errors found when it is applied (a
//! mount that is not a directory, a zero quota) name the file, the line and
//! the field, as parse errors do.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

/// The origin of a [`Policy`](super::Policy): the name it was loaded under
/// (a file name) and, for TOML, the line of every field. Set by the
/// `Policy::from_*` constructors; a policy built in code has none.
///
/// It is not part of the policy's data: never serialized, and two policies
/// that differ only in their origin are equal.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    name: Option<String>,
    /// Field path (`mounts[1].guest`) to its 1-based line.
    lines: BTreeMap<String, usize>,
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

impl Origin {
    /// A policy loaded under `name`, without lines (JSON keeps none).
    pub(crate) fn named(name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            lines: BTreeMap::new(),
        }
    }

    /// A TOML policy loaded under `name`: the line of every field of
    /// `document` (the text is `text`).
    pub(crate) fn toml(name: &str, text: &str, document: &DeTable<'_>) -> Self {
        let mut origin = Self::named(name);
        origin.record(text, "", document);
        origin
    }

    fn record(&mut self, text: &str, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.lines
                .insert(path.clone(), line_of(text, key.span().start));
            self.record_value(text, &path, value.get_ref());
        }
    }

    fn record_value(&mut self, text: &str, path: &str, value: &DeValue<'_>) {
        match value {
            DeValue::Table(table) => self.record(text, path, table),
            DeValue::Array(array) => {
                for (index, element) in array.iter().enumerate() {
                    let path = format!("{path}[{index}]");
                    self.lines
                        .insert(path.clone(), line_of(text, element.span().start));
                    self.record_value(text, &path, element.get_ref());
                }
            }
            _ => {}
        }
    }

    /// The name the policy was loaded under, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The 1-based line of the field at `path` (e.g. `mounts[1].guest`), if
    /// known.
    pub fn line(&self, path: &str) -> Option<usize> {
        self.lines.get(path).copied()
    }

    /// The start of an error message about the field at `path`:
    /// `policy.toml:7: mounts[1].guest: `, or less when less is known.
    pub(crate) fn locate(&self, path: &str) -> String {
        match (&self.name, self.line(path)) {
            (Some(name), Some(line)) => format!("{name}:{line}: {path}: "),
            (Some(name), None) => format!("{name}: {path}: "),
            (None, _) => format!("{path}: "),
        }
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&byte| byte == b'\n').count() + 1
}
