//! Reading policies from TOML and JSON, with errors that name the file, line
//! and field, and turning their limits into [`Limits`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Origin, Policy};
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

impl Policy {
    /// Parses a policy in TOML. `origin` names it in errors (a file name),
    /// here and when the policy is applied.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPolicy`], naming `origin`, the line and column, and
    /// the path of the offending field (`policy.toml:5:10: stdio.stdout:
    /// unknown variant ...`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let invalid = |error: toml::de::Error, path: String| {
            let position = error
                .span()
                .map(|span| line_column(text, span.start))
                .map(|(line, column)| format!(":{line}:{column}"))
                .unwrap_or_default();
            Error::new(
                ErrorKind::InvalidPolicy,
                format!("{origin}{position}: {path}{}", error.message().trim_end()),
            )
        };
        let document =
            toml::de::DeTable::parse(text).map_err(|error| invalid(error, String::new()))?;
        let located = Origin::toml(origin, text, document.get_ref());
        let mut policy: Self = serde_path_to_error::deserialize(toml::Deserializer::from(document))
            .map_err(|error| {
                let path = field(error.path());
                invalid(error.into_inner(), path)
            })?;
        policy.origin = located;
        Ok(policy)
    }

    /// Parses a policy in JSON. `origin` names it in errors, here and when
    /// the policy is applied (JSON keeps no lines for the latter).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPolicy`], naming `origin`, the line and column, and
    /// the path of the offending field.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self> {
        let invalid = |error: serde_json::Error, path: String| {
            let (line, column) = (error.line(), error.column());
            let text = error.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = text.strip_suffix(&suffix).unwrap_or(&text);
            Error::new(
                ErrorKind::InvalidPolicy,
                format!("{origin}:{line}:{column}: {path}{message}"),
            )
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut policy: Self =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = field(error.path());
                invalid(error.into_inner(), path)
            })?;
        // Nothing but whitespace may follow.
        deserializer
            .end()
            .map_err(|error| invalid(error, String::new()))?;
        policy.origin = Origin::named(origin);
        Ok(policy)
    }

    /// Reads a policy file: JSON if its name ends in `.json`, TOML otherwise.
    /// Relative mount paths are resolved against the file's directory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if it cannot be read; [`ErrorKind::InvalidPolicy`]
    /// as for [`from_toml_str`](Self::from_toml_str).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|error| Error::io(format!("reading policy {}", path.display()), error))?;
        let origin = path.display().to_string();
        let mut policy = if path.extension().is_some_and(|ext| ext == "json") {
            Self::from_json_str(&text, &origin)?
        } else {
            Self::from_toml_str(&text, &origin)?
        };
        policy.base_dir = Some(
            path.parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        );
        Ok(policy)
    }

    /// The limits: [`Limits::default`] with this policy's overrides.
    pub fn limits(&self) -> Limits {
        let given = &self.limits;
        let mut limits = Limits::default();
        if let Some(fuel) = given.fuel {
            limits = limits.fuel(fuel);
        }
        if let Some(ms) = given.deadline_ms {
            limits = limits.deadline(Duration::from_millis(ms));
        }
        if let Some(bytes) = given.max_memory_bytes {
            limits = limits.max_memory_bytes(bytes);
        }
        if let Some(elements) = given.max_table_elements {
            limits = limits.max_table_elements(elements);
        }
        if let Some(count) = given.max_instances {
            limits = limits.max_instances(count);
        }
        if let Some(count) = given.max_tables {
            limits = limits.max_tables(count);
        }
        if let Some(count) = given.max_memories {
            limits = limits.max_memories(count);
        }
        if let Some(bytes) = given.max_input_bytes {
            limits = limits.max_input_bytes(bytes);
        }
        if let Some(bytes) = given.max_output_bytes {
            limits = limits.max_output_bytes(bytes);
        }
        if let Some(bytes) = given.max_log_bytes {
            limits = limits.max_log_bytes(bytes);
        }
        limits
    }
}

/// `path: ` for an error inside a field, nothing at the top level.
fn field(path: &serde_path_to_error::Path) -> String {
    if path.iter().next().is_none() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |newline| before.len() - newline - 1)
        + 1;
    (line, column)
}
