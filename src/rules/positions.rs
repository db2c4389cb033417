//! Source lines for YAML nodes, so errors can say "line 12".
//!
//! serde_yaml gives us typed values but no positions; this walks the same text with
//! yaml-rust2's event parser and records the line of every node by its path
//! (`rules.3.when.source`, `pools.luxury.members.1`).
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Debug, Default)]
pub struct Positions {
    lines: HashMap<String, usize>,
}

impl Positions {
    pub fn index(source: &str) -> Self {
        let mut rec = Recorder::default();
        let mut parser = Parser::new_from_str(source);
        // A syntax error is reported by serde_yaml with its own location; here we keep
        // whatever was indexed before it.
        let _ = parser.load(&mut rec, false);
        Self { lines: rec.lines }
    }

    /// The line of the node at `path`, or of its nearest indexed ancestor.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            p = &p[..p.rfind('.')?];
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Recorder {
    /// Path of the node that starts now, advancing the parent (next key / next index).
    /// Returns None for a mapping key (keys are not nodes of their own here).
    fn enter(&mut self, scalar_key: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = join(path, &next.to_string());
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // This node is a key; remember it (non-scalar keys get a placeholder).
                    *key = Some(scalar_key.unwrap_or("?").to_owned());
                    None
                }
            },
        }
    }
}

fn join(base: &str, seg: &str) -> String {
    if base.is_empty() {
        seg.to_owned()
    } else {
        format!("{base}.{seg}")
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if is_key {
                    if let Some(Frame::Map { path, .. }) = self.stack.last() {
                        // A value's line is best reported as its key's line.
                        self.lines.insert(join(path, &value), mark.line());
                    }
                    self.enter(Some(&value));
                } else if let Some(p) = self.enter(None) {
                    self.lines.entry(p).or_insert(mark.line());
                }
            }
            Event::Alias(_) => {
                self.enter(None);
            }
            Event::MappingStart(..) => {
                let path = self.enter(None).unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(mark.line());
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.enter(None).unwrap_or_default();
                self.lines.entry(path.clone()).or_insert(mark.line());
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_by_path() {
        let src = "pools:\n  a:\n    members: [x, y]\nrules:\n  - name: one\n    when:\n      source: web\n  - name: two\n    assign: unassigned\n";
        let p = Positions::index(src);
        assert_eq!(p.line("pools.a"), Some(2));
        assert_eq!(p.line("pools.a.members"), Some(3));
        assert_eq!(p.line("rules.0"), Some(5));
        assert_eq!(p.line("rules.0.when.source"), Some(7));
        assert_eq!(p.line("rules.1.assign"), Some(9));
        assert_eq!(p.line("rules.1.assign.nothing.here"), Some(9));
    }
}
