//! A bounded YAML reader: yaml-rust2's event parser folded into a small tree.
//!
//! The tree is built with an explicit stack (no recursion on input depth),
//! nesting is capped, and aliases are refused, so a hostile file can neither
//! overflow the stack nor expand exponentially ("billion laughs"). Both KAPE
//! `.tkape` files and ForensicArtifacts definitions are plain data and use
//! neither anchors nor deep nesting.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Deepest nesting of sequences and mappings accepted.
const MAX_DEPTH: usize = 64;
/// Most nodes accepted in one file.
const MAX_NODES: usize = 1_000_000;

/// A YAML value with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// 1-based line of the node in the file.
    pub line: usize,
    /// The value.
    pub value: Value,
}

/// The kinds of YAML value the importers read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar as written; `plain` when it was not quoted (so `true` is a boolean).
    Scalar { text: String, plain: bool },
    /// `[a, b]` or `- a`.
    Seq(Vec<Node>),
    /// `{k: v}` or `k: v`; keys are scalars (others are refused).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The scalar's text, if this is a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, plain } if !(*plain && is_null(text)) => Some(text),
            _ => None,
        }
    }

    /// Whether this is a null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null(text))
    }

    /// A YAML 1.2 boolean (`true`/`false`, any case) written plain.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` in a mapping, matched without regard to case.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// A short description of the value's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Why a YAML text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

enum Frame {
    Seq(usize, Vec<Node>),
    Map(usize, Vec<(String, Node)>, Option<String>),
}

/// Parses every document of `text` (documents separated by `---`).
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut nodes = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let fail = |message: String| YamlError {
            line: mark.line(),
            column: mark.col() + 1,
            message,
        };
        let finished: Option<Node> = match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => None,
            Event::Alias(_) => {
                return Err(fail(
                    "YAML aliases (`*name`) are not supported in these files".into(),
                ))
            }
            Event::Scalar(text, style, _, _) => Some(Node {
                line: mark.line(),
                value: Value::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                },
            }),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(mark.line(), Vec::new())
                } else {
                    Frame::Map(mark.line(), Vec::new(), None)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(line, items)) => Some(Node {
                    line,
                    value: Value::Seq(items),
                }),
                Some(Frame::Map(line, entries, _)) => Some(Node {
                    line,
                    value: Value::Map(entries),
                }),
                None => return Err(fail("unbalanced YAML structure".into())),
            },
        };
        let Some(node) = finished else { continue };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(fail(format!("more than {MAX_NODES} YAML nodes")));
        }
        match stack.last_mut() {
            None => documents.push(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => match node.value {
                    Value::Scalar { text, .. } => *pending = Some(text),
                    _ => {
                        return Err(YamlError {
                            line: node.line,
                            column: 1,
                            message: "a mapping key must be a scalar".into(),
                        })
                    }
                },
            },
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documents_maps_and_lists() {
        let docs = parse_documents("a: 1\nb: [x, 'y']\n---\n- k: true\n").expect("valid");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].get("A").and_then(Node::as_str), Some("1"));
        let list = docs[0].get("b").and_then(Node::as_seq).expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].as_str(), Some("y"));
        let item = &docs[1].as_seq().expect("seq")[0];
        assert_eq!(item.get("k").and_then(Node::as_bool), Some(true));
        assert_eq!(item.line, 4);
    }

    #[test]
    fn refuses_aliases_depth_and_bad_syntax() {
        let err = parse_documents("a: &x [1, 2]\nb: *x\n").expect_err("alias");
        assert!(err.message.contains("aliases"), "{err}");
        assert_eq!(err.line, 2);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = parse_documents(&deep).expect_err("deep");
        assert!(err.message.contains("nesting"), "{err}");
        assert!(parse_documents("a: [1, 2\n").is_err());
        assert!(parse_documents("? [a]\n: b\n").is_err());
    }

    #[test]
    fn quoted_true_is_text() {
        let docs = parse_documents("a: 'true'\nb: ~\n").expect("valid");
        assert_eq!(docs[0].get("a").and_then(Node::as_bool), None);
        assert!(docs[0].get("b").is_some_and(Node::is_null));
    }
}
