//! Builds the tree Go's `text/template/parse/parse.go` builds: actions, `if`/`with`/`range`
//! (with `else`, `else if`, `else with`), `define`/`template`/`block`, `break`/`continue`,
//! pipelines, declarations and assignments. Functions are checked here, as Go does, so an
//! unknown one fails at parse time.

use super::number;
use std::collections::BTreeMap;

use super::error::Error;
use super::funcs;
use super::lexer::{self, Kind, Token};
use super::value::Value;

/// Where a node is, and its template text, for execution errors (Go's `ErrorContext`).
#[derive(Debug, Clone)]
pub(super) struct At {
    pub line: usize,
    pub col: usize,
    pub text: String,
}

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Branches),
    With(Branches),
    Range(Branches),
    Template {
        at: At,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug)]
pub(super) struct Branches {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(super) struct Pipe {
    pub at: At,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub(super) struct Command {
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(super) enum Arg {
    /// `.a.b`
    Field(At, Vec<String>),
    /// `$x.a.b` (name includes `$`).
    Variable(At, String, Vec<String>),
    /// `(pipeline).a.b`
    Chain(At, Box<Arg>, Vec<String>),
    Function(At, String),
    Pipe(Pipe),
    Dot(At),
    Nil(At),
    Const(At, Value),
}

impl Arg {
    pub fn at(&self) -> &At {
        match self {
            Arg::Field(at, _)
            | Arg::Variable(at, ..)
            | Arg::Chain(at, ..)
            | Arg::Function(at, _)
            | Arg::Dot(at)
            | Arg::Nil(at)
            | Arg::Const(at, _) => at,
            Arg::Pipe(p) => &p.at,
        }
    }
}

/// The parsed set: the main template under its name plus every `define`/`block`.
pub(super) type Set = BTreeMap<String, Vec<Node>>;

/// Nesting (blocks inside blocks, parentheses inside parentheses) deeper than this is
/// refused: Go's goroutine stacks grow, ours do not (a tokio worker has 2 MiB).
const MAX_DEPTH: usize = 50;

struct Parser<'a> {
    name: &'a str,
    eso_functions: bool,
    src: &'a str,
    tokens: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    set: Set,
}

/// `eso_functions`: whether ESO's own functions (`toYaml`, `fromYaml`) are defined; Sealed
/// Secrets has only Go's and Sprig's.
pub(super) fn parse(
    name: &str,
    text: &str,
    left: &str,
    right: &str,
    eso_functions: bool,
) -> Result<Set, Error> {
    let tokens = lexer::lex(text, left, right).map_err(|e| Error::Parse {
        name: name.to_string(),
        line: e.line,
        message: e.message,
    })?;
    let mut p = Parser {
        name,
        eso_functions,
        src: text,
        tokens,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        set: Set::new(),
    };
    let root = p.top()?;
    // A `define` of the main template's own name replaces it unless its body is empty (Go's
    // `associate`).
    p.set.entry(name.to_string()).or_insert(root);
    Ok(p.set)
}

fn display(t: &Token) -> String {
    match t.kind {
        Kind::Eof => "EOF".into(),
        Kind::Block
        | Kind::Break
        | Kind::Continue
        | Kind::Define
        | Kind::Else
        | Kind::End
        | Kind::If
        | Kind::Range
        | Kind::Template
        | Kind::With
        | Kind::Dot
        | Kind::Nil => format!("<{}>", t.text),
        _ if t.text.chars().count() > 10 => {
            format!("{:?}...", t.text.chars().take(10).collect::<String>())
        }
        _ => format!("{:?}", t.text),
    }
}

fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::Parse {
            name: self.name.to_string(),
            line: self.line(),
            message: message.into(),
        }
    }

    fn line(&self) -> usize {
        self.tok(self.i.saturating_sub(1)).line
    }

    /// Past the end reads as the final EOF token, so `next` + `backup` always pair up.
    fn tok(&self, i: usize) -> &Token {
        &self.tokens[i.min(self.tokens.len() - 1)]
    }

    fn at(&self, t: &Token, end: usize) -> At {
        let before = &self.src[..t.pos];
        let col = match before.rfind('\n') {
            Some(nl) => t.pos - nl - 1,
            None => t.pos,
        };
        At {
            line: t.line,
            col,
            text: self.src[t.pos..end.max(t.pos)].to_string(),
        }
    }

    fn next(&mut self) -> Token {
        let t = self.tok(self.i).clone();
        self.i += 1;
        t
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&self) -> &Token {
        self.tok(self.i)
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Result<Token, Error> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, t: &Token, context: &str) -> Error {
        self.err(format!("unexpected {} in {context}", display(t)))
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("template nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn top(&mut self) -> Result<Vec<Node>, Error> {
        let mut root = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Eof => return Ok(root),
                Kind::LeftDelim => {
                    let mark = self.i;
                    self.next();
                    if self.next_non_space().kind == Kind::Define {
                        self.definition()?;
                        continue;
                    }
                    self.i = mark;
                }
                _ => {}
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return Err(self.err("unexpected {{end}}")),
                Item::Else(_) => return Err(self.err("unexpected {{else}}")),
            }
        }
    }

    /// `{{define "name"}} ... {{end}}`; the `define` keyword is consumed.
    fn definition(&mut self) -> Result<(), Error> {
        let t = self.next_non_space();
        let name = self.template_name(&t, "define clause")?;
        self.expect(Kind::RightDelim, "define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Item::End) {
            return Err(self.err("unexpected {{else}} in define clause"));
        }
        self.add(name, list);
        Ok(())
    }

    fn add(&mut self, name: String, list: Vec<Node>) {
        match self.set.get(&name) {
            Some(_) if is_empty_tree(&list) => {}
            _ => {
                self.set.insert(name, list);
            }
        }
    }

    fn template_name(&mut self, t: &Token, context: &str) -> Result<String, Error> {
        match t.kind {
            Kind::String | Kind::RawString => {
                let bytes = unquote(&t.text).map_err(|m| self.err(m))?;
                String::from_utf8(bytes).map_err(|_| self.err("template name is not UTF-8"))
            }
            _ => Err(self.unexpected(t, context)),
        }
    }

    /// Nodes up to `{{end}}` or `{{else}}`, which is returned as the second element.
    fn item_list(&mut self) -> Result<(Vec<Node>, Item), Error> {
        self.enter()?;
        let mut list = Vec::new();
        loop {
            if self.peek_non_space().kind == Kind::Eof {
                return Err(self.err("unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => {
                    self.depth -= 1;
                    return Ok((list, end));
                }
            }
        }
    }

    fn text_or_action(&mut self) -> Result<Item, Error> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.text))),
            Kind::LeftDelim => self.action(),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> Result<Item, Error> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block().map(Item::Node),
            Kind::Break if self.range_depth > 0 => {
                self.expect(Kind::RightDelim, "{{break}}")?;
                return Ok(Item::Node(Node::Break));
            }
            Kind::Continue if self.range_depth > 0 => {
                self.expect(Kind::RightDelim, "{{continue}}")?;
                return Ok(Item::Node(Node::Continue));
            }
            Kind::Break | Kind::Continue => {
                return Err(self.err(format!("{{{{{}}}}} outside {{{{range}}}}", t.text)));
            }
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => return self.control("if").map(|b| Item::Node(Node::If(b))),
            Kind::Range => return self.control("range").map(|b| Item::Node(Node::Range(b))),
            Kind::With => return self.control("with").map(|b| Item::Node(Node::With(b))),
            Kind::Template => return self.template_control().map(Item::Node),
            Kind::Define => {
                return Err(self.err("unexpected <define> (define must be at top level)"));
            }
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn else_control(&mut self) -> Result<Item, Error> {
        let peek = self.peek_non_space();
        if matches!(peek.kind, Kind::If | Kind::With) {
            // `{{else if ...}}` is `{{else}}{{if ...}}` with one shared `{{end}}`.
            return Ok(Item::Else(Some(peek.kind)));
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Item::Else(None))
    }

    fn control(&mut self, context: &str) -> Result<Branches, Error> {
        let mark = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(mark);
        result
    }

    fn control_inner(&mut self, context: &str) -> Result<Branches, Error> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let body = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = body?;
        let else_list = match next {
            Item::End => None,
            Item::Else(Some(kind)) => {
                let chained = match (context, kind) {
                    ("if", Kind::If) => "if",
                    ("with", Kind::With) => "with",
                    _ => return Err(self.err(format!("unexpected <else> in {context}"))),
                };
                self.next_non_space();
                self.enter()?;
                let inner = self.control(chained)?;
                self.depth -= 1;
                let node = if chained == "if" {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                };
                Some(vec![node])
            }
            Item::Else(None) => {
                let (else_list, end) = self.item_list()?;
                if !matches!(end, Item::End) {
                    return Err(self.err("expected end; found {{else}}"));
                }
                Some(else_list)
            }
            Item::Node(_) => unreachable!("item_list returns only End or Else"),
        };
        Ok(Branches {
            pipe,
            list,
            else_list,
        })
    }

    fn template_control(&mut self) -> Result<Node, Error> {
        let t = self.next_non_space();
        let at = self.at(&t, t.pos + t.text.len());
        let name = self.template_name(&t, "template clause")?;
        let pipe = if self.peek_non_space().kind != Kind::RightDelim {
            Some(self.pipeline("template clause", Kind::RightDelim)?)
        } else {
            self.next_non_space();
            None
        };
        Ok(Node::Template { at, name, pipe })
    }

    /// `{{block "name" pipeline}} body {{end}}` = define + template.
    fn block(&mut self) -> Result<Node, Error> {
        let t = self.next_non_space();
        let at = self.at(&t, t.pos + t.text.len());
        let name = self.template_name(&t, "block clause")?;
        let pipe = self.pipeline("block clause", Kind::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::take(&mut self.range_depth);
        let body = self.item_list();
        self.vars = saved;
        self.range_depth = saved_range;
        let (list, end) = body?;
        if !matches!(end, Item::End) {
            return Err(self.err("unexpected {{else}} in block clause"));
        }
        self.add(name.clone(), list);
        Ok(Node::Template {
            at,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe, Error> {
        self.enter()?;
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            at: self.at(&start, start.pos),
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                if pipe.cmds.is_empty() {
                    return Err(self.err(format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(c.args[0], Arg::Dot(_) | Arg::Nil(_) | Arg::Const(..)) {
                        return Err(self.err(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                pipe.at.text = self.src[start.pos..t.pos].trim_end().to_string();
                self.depth -= 1;
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    /// `$x :=`, `$x =`, `$i, $v :=` at the start of a pipeline.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<(), Error> {
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                return Ok(());
            }
            let mark = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    self.next_non_space();
                    pipe.is_assign = next.kind == Kind::Assign;
                    if pipe.is_assign && !self.vars.contains(&v.text) {
                        return Err(self.err(format!("undefined variable {:?}", v.text)));
                    }
                    pipe.decl.push(v.text.clone());
                    if !pipe.is_assign {
                        self.vars.push(v.text);
                    }
                    return Ok(());
                }
                Kind::Char if next.text == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.text.clone());
                    self.vars.push(v.text);
                    if context == "range" && pipe.decl.len() < 2 {
                        let after = self.peek_non_space();
                        if after.kind == Kind::Variable {
                            continue;
                        }
                        return Err(self.err("range can only initialize variables"));
                    }
                    return Err(self.err(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = mark;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command, Error> {
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(Command { args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, Error> {
        let start = self.peek().clone();
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(term));
        }
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let f = self.next();
            fields.push(f.text[1..].to_string());
        }
        let last = self.tok(self.i - 1);
        let end = last.pos + last.text.len();
        let at = self.at(&start, end);
        Ok(Some(match term {
            Arg::Field(_, mut idents) => {
                idents.extend(fields);
                Arg::Field(at, idents)
            }
            Arg::Variable(_, name, mut idents) => {
                idents.extend(fields);
                Arg::Variable(at, name, idents)
            }
            Arg::Dot(_) | Arg::Nil(_) | Arg::Const(..) => {
                return Err(self.err(format!("unexpected . after term {:?}", term.at().text)));
            }
            other => Arg::Chain(at, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, Error> {
        let t = self.next_non_space();
        let at = self.at(&t, t.pos + t.text.len());
        Ok(Some(match t.kind {
            Kind::Identifier => {
                funcs::check(&t.text, self.eso_functions).map_err(|problem| match problem {
                    None => Error::UnknownFunction {
                        name: self.name.to_string(),
                        line: t.line,
                        function: t.text.clone(),
                    },
                    Some(why) => Error::UnsupportedFunction {
                        name: self.name.to_string(),
                        line: t.line,
                        function: t.text.clone(),
                        why,
                    },
                })?;
                Arg::Function(at, t.text)
            }
            Kind::Dot => Arg::Dot(at),
            Kind::Nil => Arg::Nil(at),
            Kind::Variable => {
                let mut parts = t.text.split('.');
                let name = parts.next().unwrap_or_default().to_string();
                if !self.vars.contains(&name) {
                    return Err(self.err(format!("undefined variable {name:?}")));
                }
                Arg::Variable(at, name, parts.map(str::to_string).collect())
            }
            Kind::Field => Arg::Field(at, vec![t.text[1..].to_string()]),
            Kind::Bool => Arg::Const(at, Value::Bool(t.text == "true")),
            Kind::CharConstant | Kind::Number => {
                let v = number(&t).map_err(|m| self.err(m))?;
                Arg::Const(at, v)
            }
            Kind::String | Kind::RawString => {
                let s = unquote(&t.text).map_err(|m| self.err(m))?;
                Arg::Const(at, Value::String(s))
            }
            Kind::LeftParen => {
                let mut pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                let close = self.tok(self.i - 1).pos + 1;
                pipe.at = self.at(&t, close);
                Arg::Pipe(pipe)
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Item {
    Node(Node),
    End,
    /// `{{else}}`, or `{{else if`/`{{else with` (the keyword not yet consumed).
    Else(Option<Kind>),
}

/// A number or character constant as Go's `idealConstant` types it: floats when the text has
/// a decimal point or exponent, otherwise ints.
fn number(t: &Token) -> Result<Value, String> {
    let text = t.text.as_str();
    if text.starts_with('\'') {
        let bytes = unquote(text)?;
        let s = String::from_utf8(bytes)
            .map_err(|_| format!("malformed character constant: {text}"))?;
        let mut chars = s.chars();
        return match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Value::Int(c as i64)),
            _ => Err(format!("malformed character constant: {text}")),
        };
    }
    if text.ends_with('i') {
        return Err(format!("complex number {text} is not supported"));
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    let is_float = if is_hex {
        lower.contains(['.', 'p'])
    } else {
        lower.contains(['.', 'e'])
    };
    let bad = || format!("illegal number syntax: {text:?}");
    if is_float {
        if is_hex {
            return Err(format!("hexadecimal float {text} is not supported"));
        }
        let f: f64 = lower.parse().map_err(|_| bad())?;
        return Ok(Value::Float(if negative { -f } else { f }));
    }
    let (radix, digits) = number::radix_and_digits(&lower);
    if digits.is_empty() {
        return Err(bad());
    }
    let magnitude = u64::from_str_radix(digits, radix).map_err(|_| bad())?;
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    };
    value
        .map(Value::Int)
        .ok_or_else(|| format!("{text} overflows int"))
}

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'...'`: the result may hold any bytes
/// (`"\xff"`).
pub(super) fn unquote(text: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid syntax in quoted string {text}");
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(raw.replace('\r', "").into_bytes());
    }
    let quote = text.chars().next().ok_or_else(bad)?;
    let body = text
        .strip_prefix(quote)
        .and_then(|t| t.strip_suffix(quote))
        .filter(|_| text.len() >= 2)
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(7),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' if quote == '"' => Some(b'"'),
            '\'' if quote == '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let mut hex = |n: usize| -> Result<u32, String> {
            let digits: String = chars.by_ref().take(n).collect();
            if digits.len() != n {
                return Err(bad());
            }
            u32::from_str_radix(&digits, 16).map_err(|_| bad())
        };
        match e {
            'x' => out.push(u8::try_from(hex(2)?).map_err(|_| bad())?),
            'u' | 'U' => {
                let c = char::from_u32(hex(if e == 'u' { 4 } else { 8 })?).ok_or_else(bad)?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).map_err(|_| bad())?;
                if rest.len() != 2 || v > 255 {
                    return Err(bad());
                }
                out.push(v as u8);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse("t", src, "{{", "}}", true).unwrap_err().to_string()
    }

    #[test]
    fn parse_errors_read_like_gos() {
        assert_eq!(err("{{ .x"), "template: t:1: unclosed action");
        assert_eq!(err("{{ if .x }}"), "template: t:1: unexpected EOF");
        assert_eq!(err("{{ end }}"), "template: t:1: unexpected {{end}}");
        assert_eq!(
            err("a\n{{ $x }}"),
            "template: t:2: undefined variable \"$x\""
        );
        assert_eq!(err("{{ }}"), "template: t:1: missing value for command");
        assert_eq!(
            err("{{ .x | 3 }}"),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{ break }}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert!(err("{{ 1.x }}").contains("bad number syntax"));
    }

    #[test]
    fn unknown_and_unsupported_functions_fail_at_parse_time() {
        let e = parse("config.json", "{{ foo .x }}", "{{", "}}", true).unwrap_err();
        assert!(matches!(&e, Error::UnknownFunction { function, .. } if function == "foo"));
        assert!(
            e.to_string()
                .starts_with("template: config.json:1: function \"foo\" not defined")
        );
        let e = parse("k", "{{ htpasswd .u .p }}", "{{", "}}", true).unwrap_err();
        assert!(
            matches!(&e, Error::UnsupportedFunction { function, .. } if function == "htpasswd")
        );
    }

    #[test]
    fn numbers_and_strings() {
        let tok = |text: &str| Token {
            kind: Kind::Number,
            pos: 0,
            line: 1,
            text: text.into(),
        };
        assert_eq!(number(&tok("0x1F")), Ok(Value::Int(31)));
        assert_eq!(number(&tok("017")), Ok(Value::Int(15)));
        assert_eq!(number(&tok("1_000")), Ok(Value::Int(1000)));
        assert_eq!(number(&tok("-2")), Ok(Value::Int(-2)));
        assert_eq!(number(&tok("1e3")), Ok(Value::Float(1000.0)));
        assert_eq!(number(&tok("'a'")), Ok(Value::Int(97)));
        assert!(number(&tok("99999999999999999999")).is_err());
        assert_eq!(
            unquote(r#""a\tb\x41\u00e9\101""#).unwrap(),
            "a\tbAéA".as_bytes()
        );
        assert_eq!(unquote(r#""\xff""#).unwrap(), [0xff]);
        assert_eq!(unquote("`a\\n\r`").unwrap(), b"a\\n");
    }
}
