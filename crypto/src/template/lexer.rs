//! Splits template text into tokens the way Go's `text/template/parse/lex.go` does: text,
//! delimiters with their trim markers (`{{- ` / ` -}}`, any of space, tab, CR or LF after or
//! before the dash), comments (`{{/* */}}`), and the words inside actions.

/// What a token is. Text-carrying kinds keep their source text in [`Token::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Bool,
    /// A single ASCII punctuation character such as `,`.
    Char,
    CharConstant,
    Number,
    String,
    RawString,
    /// `.name` (text includes the dot).
    Field,
    /// `$` or `$name` (text includes the dollar).
    Variable,
    Identifier,
    LeftParen,
    RightParen,
    Pipe,
    Declare,
    Assign,
    Dot,
    Nil,
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub kind: Kind,
    /// Byte offset in the source.
    pub pos: usize,
    /// 1-based line of the token's start.
    pub line: usize,
    pub text: String,
}

/// A lexing failure: message and the 1-based line it happened on.
#[derive(Debug)]
pub(super) struct LexError {
    pub line: usize,
    pub message: String,
}

const SPACE: &[u8] = b" \t\r\n";
const COMMENT_OPEN: &str = "/*";
const COMMENT_CLOSE: &str = "*/";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && SPACE.contains(&b[1])
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && SPACE.contains(&b[0]) && b[1] == b'-'
}

struct Lexer<'a> {
    input: &'a str,
    left: &'a str,
    right: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: usize,
    tokens: Vec<Token>,
}

/// Tokenizes the whole input; the last token is [`Kind::Eof`].
pub(super) fn lex(input: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let mut l = Lexer {
        input,
        left,
        right,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        tokens: Vec::new(),
    };
    l.run()?;
    Ok(l.tokens)
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn err(&self, message: impl Into<String>) -> LexError {
        LexError {
            line: self.start_line,
            message: message.into(),
        }
    }

    fn emit(&mut self, kind: Kind) {
        self.tokens.push(Token {
            kind,
            pos: self.start,
            line: self.start_line,
            text: self.input[self.start..self.pos].to_string(),
        });
        self.ignore();
    }

    /// Moves `start` to `pos`, counting the newlines skipped over.
    fn ignore(&mut self) {
        self.line = self.start_line + self.input[self.start..self.pos].matches('\n').count();
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            // Text up to the next left delimiter.
            let Some(x) = self.rest().find(self.left) else {
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.emit(Kind::Text);
                }
                self.emit(Kind::Eof);
                return Ok(());
            };
            let delim_at = self.pos + x;
            let trim = has_left_trim(&self.input[delim_at + self.left.len()..]);
            let text_end = if trim {
                self.input[self.start..delim_at]
                    .trim_end_matches(is_space)
                    .len()
                    + self.start
            } else {
                delim_at
            };
            if text_end > self.start {
                self.pos = text_end;
                self.emit(Kind::Text);
            }
            self.pos = delim_at;
            self.ignore();
            self.left_delim(trim)?;
        }
    }

    fn left_delim(&mut self, trim: bool) -> Result<(), LexError> {
        self.pos += self.left.len();
        let after_marker = if trim { 2 } else { 0 };
        if self.input[self.pos + after_marker..].starts_with(COMMENT_OPEN) {
            self.pos += after_marker;
            self.ignore();
            return self.comment();
        }
        self.emit(Kind::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        self.inside_action()
    }

    /// Whether the input is at the right delimiter, and whether a trim marker precedes it.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if rest.starts_with(self.right) {
            return (true, false);
        }
        if has_right_trim(rest) && rest[2..].starts_with(self.right) {
            return (true, true);
        }
        (false, false)
    }

    fn comment(&mut self) -> Result<(), LexError> {
        self.pos += COMMENT_OPEN.len();
        let Some(x) = self.rest().find(COMMENT_CLOSE) else {
            return Err(self.err("unclosed comment"));
        };
        self.pos += x + COMMENT_CLOSE.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return Err(self.err("comment ends before closing delimiter"));
        }
        if trim {
            self.pos += 2;
        }
        self.pos += self.right.len();
        if trim {
            self.skip_leading_space();
        }
        self.ignore();
        Ok(())
    }

    fn skip_leading_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
    }

    fn right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += self.right.len();
        self.emit(Kind::RightDelim);
        if trim {
            self.skip_leading_space();
            self.ignore();
        }
    }

    fn inside_action(&mut self) -> Result<(), LexError> {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    self.right_delim(trim);
                    return Ok(());
                }
                return Err(self.err("unclosed left paren"));
            }
            let Some(c) = self.next() else {
                return Err(self.err("unclosed action"));
            };
            match c {
                c if is_space(c) => {
                    self.pos -= 1;
                    if self.space() {
                        continue;
                    }
                    // One space, then the trim marker and the delimiter.
                    let (_, trim) = self.at_right_delim();
                    self.right_delim(trim);
                    return Ok(());
                }
                '=' => self.emit(Kind::Assign),
                ':' => {
                    if self.next() != Some('=') {
                        return Err(self.err("expected :="));
                    }
                    self.emit(Kind::Declare);
                }
                '|' => self.emit(Kind::Pipe),
                '"' => self.quote()?,
                '`' => self.raw_quote()?,
                '$' => self.variable()?,
                '\'' => self.char_constant()?,
                '.' if self.peek().is_some_and(|c| !c.is_ascii_digit()) => self.field()?,
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = self.start;
                    self.number()?;
                }
                c if is_alnum(c) => {
                    self.pos = self.start;
                    self.identifier()?;
                }
                '(' => {
                    self.emit(Kind::LeftParen);
                    self.paren_depth += 1;
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err(self.err("unexpected right paren"));
                    }
                    self.emit(Kind::RightParen);
                    self.paren_depth -= 1;
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Kind::Char),
                c => {
                    return Err(self.err(format!(
                        "unrecognized character in action: U+{:04X}",
                        c as u32
                    )));
                }
            }
        }
    }

    /// A run of spaces. Returns false when the run is the single space of a ` -}}` marker,
    /// which belongs to the right delimiter.
    fn space(&mut self) -> bool {
        let mut n = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            n += 1;
        }
        let before_last = self.pos - 1;
        if has_right_trim(&self.input[before_last..])
            && self.input[before_last + 2..].starts_with(self.right)
        {
            self.pos = before_last;
            if n == 1 {
                return false;
            }
        }
        self.emit(Kind::Space);
        true
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(c) => self.right.starts_with(c),
        }
    }

    fn identifier(&mut self) -> Result<(), LexError> {
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            return Err(self.bad_char());
        }
        let kind = match &self.input[self.start..self.pos] {
            "block" => Kind::Block,
            "break" => Kind::Break,
            "continue" => Kind::Continue,
            "define" => Kind::Define,
            "else" => Kind::Else,
            "end" => Kind::End,
            "if" => Kind::If,
            "range" => Kind::Range,
            "nil" => Kind::Nil,
            "template" => Kind::Template,
            "with" => Kind::With,
            "true" | "false" => Kind::Bool,
            _ => Kind::Identifier,
        };
        self.emit(kind);
        Ok(())
    }

    fn bad_char(&self) -> LexError {
        match self.peek() {
            Some(c) => self.err(format!("bad character U+{:04X}", c as u32)),
            None => self.err("unexpected EOF"),
        }
    }

    fn field(&mut self) -> Result<(), LexError> {
        self.field_or_variable(Kind::Field)
    }

    fn variable(&mut self) -> Result<(), LexError> {
        if self.at_terminator() {
            self.emit(Kind::Variable);
            return Ok(());
        }
        self.field_or_variable(Kind::Variable)
    }

    fn field_or_variable(&mut self, kind: Kind) -> Result<(), LexError> {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return Ok(());
        }
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            return Err(self.bad_char());
        }
        self.emit(kind);
        Ok(())
    }

    fn char_constant(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return Err(self.err("unterminated character constant"));
                    }
                }
                None | Some('\n') => return Err(self.err("unterminated character constant")),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::CharConstant);
        Ok(())
    }

    fn accept(&mut self, valid: &str) -> bool {
        if self.peek().is_some_and(|c| valid.contains(c)) {
            self.next();
            return true;
        }
        false
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    /// Go's lexer is loose here on purpose (it accepts `089`); the parser rejects bad numbers.
    fn number(&mut self) -> Result<(), LexError> {
        self.accept("+-");
        let (mut digits, mut exponent) = ("0123456789_", "eE");
        if self.accept("0") {
            if self.accept("xX") {
                (digits, exponent) = ("0123456789abcdefABCDEF_", "pP");
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if self.accept(exponent) {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return Err(self.err(format!(
                "bad number syntax: {:?}",
                &self.input[self.start..self.pos]
            )));
        }
        if self.peek().is_some_and(|c| c == '+' || c == '-') {
            return Err(self.err(format!(
                "bad number syntax: {:?} (complex numbers are not supported)",
                &self.input[self.start..=self.pos]
            )));
        }
        self.emit(Kind::Number);
        Ok(())
    }

    fn quote(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return Err(self.err("unterminated quoted string"));
                    }
                }
                None | Some('\n') => return Err(self.err("unterminated quoted string")),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        Ok(())
    }

    fn raw_quote(&mut self) -> Result<(), LexError> {
        match self.rest().find('`') {
            Some(x) => self.pos += x + 1,
            None => return Err(self.err("unterminated raw quoted string")),
        }
        self.emit(Kind::RawString);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src, "{{", "}}")
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn trim_markers_eat_all_space_kinds() {
        let k = kinds("a \n\t{{- .x -}}\r\n b");
        let texts: Vec<_> = k
            .iter()
            .filter(|(k, _)| *k == Kind::Text)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(texts, ["a", "b"]);
    }

    #[test]
    fn minus_without_space_is_a_number() {
        let k = kinds("{{-3}}");
        assert!(k.contains(&(Kind::Number, "-3".into())), "{k:?}");
    }

    #[test]
    fn comments_vanish() {
        let k = kinds("a {{- /* x\ny */ -}} b");
        assert_eq!(k.len(), 3, "{k:?}");
    }

    #[test]
    fn lines_count_newlines_in_text_and_actions() {
        let toks = lex("a\nb{{ .x\n .y }}\n{{ .z }}", "{{", "}}").unwrap();
        let z = toks.iter().find(|t| t.text == ".z").unwrap();
        assert_eq!(z.line, 4);
        let y = toks.iter().find(|t| t.text == ".y").unwrap();
        assert_eq!(y.line, 3);
    }

    #[test]
    fn errors() {
        for (src, msg) in [
            ("{{ .x", "unclosed action"),
            ("{{ \"x }}", "unterminated quoted string"),
            ("{{/* x }}", "unclosed comment"),
            ("{{ ( .x }}", "unclosed left paren"),
            ("{{ .x) }}", "unexpected right paren"),
            ("{{ 3x }}", "bad number syntax"),
        ] {
            let e = lex(src, "{{", "}}").unwrap_err();
            assert!(e.message.contains(msg), "{src}: {}", e.message);
        }
    }
}
