//! Reading a YAML stream into branches from parser events, comments kept where they belong,
//! anchors and aliases expanded (with yaml.v3's guard against alias bombs).

use std::collections::HashMap;
use std::iter::Peekable;

use granit_parser::{Event, Parser, Placement, ScalarStyle};

use super::typing::{is_null, scalar};
use crate::sops::error::Error;
use crate::sops::value::{Branch, Entry, Value};

type Events<'a> = Peekable<Parser<'a, granit_parser::StrInput<'a>>>;

/// Reads every document of a YAML stream into a branch.
pub fn parse(text: &str) -> Result<Vec<Branch>, Error> {
    let mut reader = Reader {
        events: Parser::new_from_str(text).peekable(),
        anchors: HashMap::new(),
        comments: Vec::new(),
        expanded: 0,
    };
    reader.stream()
}

/// How many nodes aliases may expand to in one file, like yaml.v3's guard against alias bombs.
const ALIAS_BUDGET: usize = 1_000_000;

struct Reader<'a> {
    events: Events<'a>,
    anchors: HashMap<usize, Value>,
    /// Comments seen and not yet placed, with their column.
    comments: Vec<(String, usize)>,
    /// Nodes produced by alias expansion so far.
    expanded: usize,
}

fn syntax(e: impl std::fmt::Display) -> Error {
    Error::Store(format!("invalid YAML: {e}"))
}

impl<'a> Reader<'a> {
    /// The next node event with its column; comments go to the pending list.
    fn next(&mut self) -> Result<(Event<'a>, usize), Error> {
        loop {
            let (event, span) = self
                .events
                .next()
                .ok_or_else(|| syntax("unexpected end of input"))?
                .map_err(Error::Yaml)?;
            match event {
                Event::Comment(text, _) => {
                    self.comments.push((text.into_owned(), span.start.col()))
                }
                Event::Anchor(..) => {}
                other => return Ok((other, span.start.col())),
            }
        }
    }

    /// Moves comment events waiting in the stream to the pending list.
    fn pull_comments(&mut self) -> Result<(), Error> {
        while let Some(Ok((Event::Comment(..), _))) = self.events.peek() {
            if let Some(Ok((Event::Comment(text, _), span))) = self.events.next() {
                self.comments.push((text.into_owned(), span.start.col()));
            }
        }
        match self.events.peek() {
            Some(Err(_)) => Err(syntax(
                self.events
                    .next()
                    .and_then(Result::err)
                    .expect("peeked an error"),
            )),
            _ => Ok(()),
        }
    }

    fn peek_is(&mut self, end: fn(&Event<'_>) -> bool) -> Result<bool, Error> {
        self.pull_comments()?;
        Ok(matches!(self.events.peek(), Some(Ok((event, _))) if end(event)))
    }

    /// Takes a same-line comment that follows the node just read, if any.
    fn right_comment(&mut self) -> Option<String> {
        match self.events.peek() {
            Some(Ok((Event::Comment(_, Placement::Right), _))) => match self.events.next() {
                Some(Ok((Event::Comment(text, _), _))) => Some(text.into_owned()),
                _ => None,
            },
            _ => None,
        }
    }

    fn take_comments(&mut self) -> Vec<String> {
        std::mem::take(&mut self.comments)
            .into_iter()
            .map(|(text, _)| text)
            .collect()
    }

    /// At the end of a block that started at `col`: the pending comments indented at least as
    /// far belong to it (yaml.v3's foot comments); the rest wait for the enclosing block.
    fn take_foot_comments(&mut self, col: usize) -> Vec<String> {
        let (mine, outer): (Vec<_>, Vec<_>) = std::mem::take(&mut self.comments)
            .into_iter()
            .partition(|(_, c)| *c >= col);
        self.comments = outer;
        mine.into_iter().map(|(text, _)| text).collect()
    }

    fn stream(&mut self) -> Result<Vec<Branch>, Error> {
        let mut docs = Vec::new();
        loop {
            match self.next()?.0 {
                Event::StreamStart => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(..) => {
                    let mut branch = match self.next()? {
                        (Event::MappingStart(_, anchor, _), col) => self.mapping(anchor, col)?,
                        (Event::Scalar(text, ScalarStyle::Plain, _, _), _) if is_null(&text) => {
                            Branch::new()
                        }
                        _ => {
                            return Err(Error::Store(
                                "YAML documents that are sequences or scalars are not supported"
                                    .into(),
                            ));
                        }
                    };
                    match self.next()?.0 {
                        Event::DocumentEnd => {}
                        other => {
                            return Err(syntax(format!(
                                "expected the end of a document, got {other:?}"
                            )));
                        }
                    }
                    branch.extend(self.take_comments().into_iter().map(Entry::Comment));
                    docs.push(branch);
                }
                other => return Err(syntax(format!("unexpected {other:?}"))),
            }
        }
    }

    fn mapping(&mut self, anchor: usize, col: usize) -> Result<Branch, Error> {
        let mut branch = Branch::new();
        let mut keys = std::collections::HashSet::new();
        loop {
            if self.peek_is(|e| matches!(e, Event::MappingEnd))? {
                self.next()?;
                branch.extend(self.take_foot_comments(col).into_iter().map(Entry::Comment));
                break;
            }
            let key = match self.next()?.0 {
                Event::Scalar(text, ..) => text.into_owned(),
                other => {
                    return Err(Error::Store(format!(
                        "only string keys are supported, found {other:?}"
                    )));
                }
            };
            if !keys.insert(key.clone()) {
                return Err(Error::Store(format!("mapping key {key:?} already defined")));
            }
            branch.extend(self.take_comments().into_iter().map(Entry::Comment));
            let right_of_key = self.right_comment();
            let value = self.node()?;
            let right_of_value = if matches!(value, Value::Scalar(_) | Value::Null) {
                self.right_comment()
            } else {
                None
            };
            // sops keeps a key's and a scalar value's comments before the entry.
            branch.extend(
                right_of_key
                    .into_iter()
                    .chain(right_of_value)
                    .map(Entry::Comment),
            );
            // A merge key simply stays a key named `<<` holding the merged mapping (spec `sops.md` §2.2).
            branch.push(Entry::Pair(key, value));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, Value::Map(branch.clone()));
        }
        Ok(branch)
    }

    fn sequence(&mut self, anchor: usize, col: usize) -> Result<Vec<Value>, Error> {
        let mut items = Vec::new();
        loop {
            if self.peek_is(|e| matches!(e, Event::SequenceEnd))? {
                self.next()?;
                items.extend(self.take_foot_comments(col).into_iter().map(Value::Comment));
                break;
            }
            items.extend(self.take_comments().into_iter().map(Value::Comment));
            let item = self.node()?;
            let right = matches!(item, Value::Scalar(_) | Value::Null)
                .then(|| self.right_comment())
                .flatten();
            items.extend(right.map(Value::Comment));
            items.push(item);
        }
        if anchor != 0 {
            self.anchors.insert(anchor, Value::Seq(items.clone()));
        }
        Ok(items)
    }

    fn node(&mut self) -> Result<Value, Error> {
        match self.next()? {
            (Event::MappingStart(_, anchor, _), col) => Ok(Value::Map(self.mapping(anchor, col)?)),
            (Event::SequenceStart(_, anchor, _), col) => {
                Ok(Value::Seq(self.sequence(anchor, col)?))
            }
            (Event::Scalar(text, style, anchor, tag), _) => {
                let tag = tag.map(|t| t.to_string());
                let value = scalar(&text, style, tag.as_deref());
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                Ok(value)
            }
            (Event::Alias(id), _) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax("an alias refers to no anchor"))?;
                self.expanded += node_count(&value);
                if self.expanded > ALIAS_BUDGET {
                    return Err(syntax("document contains excessive aliasing"));
                }
                Ok(value)
            }
            (other, _) => Err(syntax(format!("unexpected {other:?}"))),
        }
    }
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Map(branch) => branch
            .iter()
            .map(|e| match e {
                Entry::Pair(_, v) => node_count(v),
                Entry::Comment(_) => 0,
            })
            .sum(),
        Value::Seq(items) => items.iter().map(node_count).sum(),
        _ => 0,
    }
}
