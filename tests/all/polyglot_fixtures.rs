//! The shared fixtures of `plugins/fixtures/`: requests and the exact
//! answers (and logs) expected of a plugin and of its twins in other
//! languages. The Rust plugin's test and its twins' tests run the same file.
//!
//! Format, one item a line (`#` starts a comment line):
//!
//! ```text
//! > REQUEST          a request, sent to the current instance
//! < RESPONSE         its exact response
//! ! MESSAGE          or: its exact guest error
//! !?                 or: a guest error whose message is the language's own
//! . LEVEL MESSAGE    one line per message the call logged, in order (none: none)
//! ~                  a fresh instance of the same plugin from here on
//! ```

use plugbox::{ErrorKind, Instance, Plugin};

/// What one request must get.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Output(String),
    Guest(String),
    AnyGuest,
}

#[derive(Debug)]
enum Step {
    Call {
        line: usize,
        request: String,
        answer: Option<Answer>,
        logs: Vec<String>,
    },
    Fresh,
}

/// The steps of `plugins/fixtures/<name>.txt`.
fn parse(name: &str) -> Vec<Step> {
    let path = format!(
        "{}/../plugins/fixtures/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut steps = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let bad = || -> ! { panic!("{path}:{number}: cannot parse {line:?}") };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(request) = line.strip_prefix("> ") {
            steps.push(Step::Call {
                line: number,
                request: request.to_string(),
                answer: None,
                logs: Vec::new(),
            });
            continue;
        }
        if line == "~" {
            steps.push(Step::Fresh);
            continue;
        }
        let Some(Step::Call { answer, logs, .. }) = steps.last_mut() else {
            bad()
        };
        if let Some(log) = line.strip_prefix(". ") {
            logs.push(log.to_string());
            continue;
        }
        let parsed = if let Some(output) = line.strip_prefix("< ") {
            Answer::Output(output.to_string())
        } else if line == "!?" {
            Answer::AnyGuest
        } else if let Some(message) = line.strip_prefix("! ") {
            Answer::Guest(message.to_string())
        } else {
            bad()
        };
        if answer.replace(parsed).is_some() || !logs.is_empty() {
            bad();
        }
    }
    for step in &steps {
        if let Step::Call {
            line, answer: None, ..
        } = step
        {
            panic!("{path}:{line}: a request without an answer");
        }
    }
    assert!(
        steps.iter().any(|step| matches!(step, Step::Call { .. })),
        "{path}: no requests"
    );
    steps
}

/// The level and message of every event the plugin logged through the host.
fn logged(events: &[crate::traced::Recorded]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event.target == "plugbox::plugin")
        .map(|event| {
            format!(
                "{} {}",
                event.level.as_str().to_lowercase(),
                event.field("message").unwrap_or_default()
            )
        })
        .collect()
}

/// Runs `plugins/fixtures/<name>.txt` against `plugin`, asserting every
/// answer and every log line. Returns how many requests it sent.
pub fn check(plugin: &Plugin, name: &str) -> usize {
    let mut instance: Instance = plugin.instantiate().unwrap();
    let mut calls = 0;
    for step in parse(name) {
        let Step::Call {
            line,
            request,
            answer,
            logs,
        } = step
        else {
            instance = plugin.instantiate().unwrap();
            continue;
        };
        let answer = answer.expect("checked by parse");
        let at = format!("{name}.txt:{line}: {request}");
        let mut result = None;
        let events = crate::traced::record(|| result = Some(instance.call(request.as_bytes())));
        let result = result.expect("the call ran");
        match (&answer, result) {
            (Answer::Output(expected), Ok(response)) => {
                let output = String::from_utf8(response.output).unwrap();
                assert_eq!(&output, expected, "{at}");
            }
            (Answer::Guest(expected), Err(error)) => {
                assert_eq!(error.kind(), ErrorKind::Guest, "{at}: {error:?}");
                assert_eq!(error.message(), expected, "{at}");
            }
            (Answer::AnyGuest, Err(error)) => {
                assert_eq!(error.kind(), ErrorKind::Guest, "{at}: {error:?}");
            }
            (expected, got) => panic!("{at}: expected {expected:?}, got {got:?}"),
        }
        assert!(!instance.is_poisoned(), "{at}");
        assert_eq!(logged(&events), logs, "{at}: logs");
        calls += 1;
    }
    calls
}
