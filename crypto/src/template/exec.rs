//! Walks the parsed tree as Go's `text/template/exec.go` does, with
//! `Option("missingkey=error")`. Errors name the node's template text, keys, functions and
//! types, never a data value.

use super::error::Error;
use super::fmt;
use super::funcs::{self, Fail};
use super::limits::{MAX_DEPTH, MAX_WORK};
use super::parser::{Arg, At, Branches, Command, Node, Pipe, Set};
use super::value::Value;

pub(super) struct Exec<'a> {
    name: &'a str,
    missing_key_error: bool,
    set: &'a Set,
    template: &'a str,
    out: Vec<u8>,
    vars: Vec<(String, Value)>,
    depth: usize,
    /// What is left of [`MAX_WORK`].
    work: usize,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

type Result<T> = std::result::Result<T, Error>;

/// `missing_key_error`: Go's `missingkey=error` (ESO) when true, else Go's default (Sealed
/// Secrets), where a missing map key evaluates to no value (printed `<no value>`).
pub(super) fn run(name: &str, set: &Set, data: &Value, missing_key_error: bool) -> Result<Vec<u8>> {
    let mut e = Exec {
        name,
        missing_key_error,
        set,
        template: name,
        out: Vec::new(),
        vars: vec![("$".into(), data.clone())],
        depth: 0,
        work: MAX_WORK,
    };
    let root = set.get(name).map(Vec::as_slice).unwrap_or_default();
    e.walk(data, root)?;
    Ok(e.out)
}

impl<'a> Exec<'a> {
    fn fail(&self, at: &At, message: impl Into<String>) -> Error {
        Error::Execute {
            name: self.name.to_string(),
            template: self.template.to_string(),
            line: at.line,
            col: at.col,
            context: at.text.clone(),
            message: message.into(),
        }
    }

    /// Spends `amount` of the execution's [`MAX_WORK`], or fails at `at`.
    fn spend(&mut self, at: &At, amount: usize) -> Result<()> {
        match self.work.checked_sub(amount) {
            Some(left) => {
                self.work = left;
                Ok(())
            }
            None => Err(self.fail(
                at,
                format!(
                    "the template does more work than allowed ({} Mi steps and bytes; a Secret holds at most 1 MiB)",
                    MAX_WORK >> 20
                ),
            )),
        }
    }

    fn walk(&mut self, dot: &Value, nodes: &'a [Node]) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.extend_from_slice(t.as_bytes()),
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let before = self.out.len();
                        match v {
                            Value::Nil => self.out.extend_from_slice(b"<no value>"),
                            v => fmt::write_value(&mut self.out, &v),
                        }
                        self.spend(&pipe.at, self.out.len() - before)?;
                    }
                }
                Node::If(b) | Node::With(b) => {
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, &b.pipe)?;
                    let flow = if v.is_true() {
                        let dot = if matches!(node, Node::With(_)) {
                            &v
                        } else {
                            dot
                        };
                        self.walk(dot, &b.list)?
                    } else if let Some(e) = &b.else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Template { at, name, pipe } => self.walk_template(dot, at, name, pipe)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Value, b: &'a Branches) -> Result<()> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let items: Vec<(Value, Value)> = match v {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::str(k), v)).collect(),
            // Go 1.22: `range 3` counts 0, 1, 2.
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.fail(
                        &b.pipe.at,
                        "can't use int to iterate over more than one variable",
                    ));
                }
                self.spend(&b.pipe.at, usize::try_from(n).unwrap_or(0))?;
                (0..n.max(0))
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(self.fail(
                    &b.pipe.at,
                    format!(
                        "range can't iterate over value of type {}",
                        other.type_name()
                    ),
                ));
            }
        };
        let inner = self.vars.len();
        let ran = !items.is_empty();
        for (index, elem) in items {
            self.spend(&b.pipe.at, 1)?;
            let top = self.vars.len();
            if !b.pipe.decl.is_empty() {
                self.vars[top - 1].1 = elem.clone();
            }
            if b.pipe.decl.len() > 1 {
                self.vars[top - 2].1 = index;
            }
            let flow = self.walk(&elem, &b.list)?;
            self.vars.truncate(inner);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        if let (false, Some(e)) = (ran, &b.else_list) {
            self.walk(dot, e)?;
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        at: &At,
        name: &'a str,
        pipe: &'a Option<Pipe>,
    ) -> Result<()> {
        let Some(body) = self.set.get(name) else {
            return Err(self.fail(at, format!("template {name:?} not defined")));
        };
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        self.enter(at)?;
        // No dynamic scoping: the callee sees only `$`.
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let saved_template = std::mem::replace(&mut self.template, name);
        let result = self.walk(&new_dot, body);
        self.depth -= 1;
        self.template = saved_template;
        self.vars = saved_vars;
        result.map(|_| ())
    }

    fn enter(&mut self, at: &At) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(at, format!("exceeded maximum template depth ({MAX_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        self.spend(&pipe.at, 1)?;
        self.enter(&pipe.at)?;
        let mut value = None;
        for cmd in &pipe.cmds {
            match self.eval_command(dot, cmd, value) {
                Ok(v) => value = Some(v),
                Err(e) => {
                    self.depth -= 1;
                    return Err(e);
                }
            }
        }
        self.depth -= 1;
        let value = value.unwrap_or(Value::Nil);
        for var in &pipe.decl {
            if pipe.is_assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == var) {
                    Some(slot) => slot.1 = value.clone(),
                    None => {
                        return Err(self.fail(&pipe.at, format!("undefined variable: {var}")));
                    }
                }
            } else {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &Command, fin: &Option<Value>) -> Result<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            return Err(self.fail(
                cmd.args[0].at(),
                format!(
                    "can't give argument to non-function {}",
                    cmd.args[0].at().text
                ),
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, fin: Option<Value>) -> Result<Value> {
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match &cmd.args[0] {
            Arg::Field(at, idents) => self.field_chain(dot.clone(), at, idents, has_args),
            Arg::Chain(at, node, idents) => {
                let receiver = self.eval_arg(dot, node)?;
                self.field_chain(receiver, at, idents, has_args)
            }
            Arg::Variable(at, name, idents) => {
                let v = self.var(at, name)?;
                if idents.is_empty() {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.field_chain(v, at, idents, has_args)
            }
            Arg::Function(at, name) => self.eval_function(dot, at, name, &cmd.args[1..], fin),
            Arg::Pipe(p) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Dot(_) => {
                self.not_a_function(cmd, &fin)?;
                Ok(dot.clone())
            }
            Arg::Nil(at) => Err(self.fail(at, "nil is not a command")),
            Arg::Const(_, v) => {
                self.not_a_function(cmd, &fin)?;
                Ok(v.clone())
            }
        }
    }

    fn var(&self, at: &At, name: &str) -> Result<Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.fail(at, format!("undefined variable: {name}")))
    }

    fn field_chain(
        &self,
        mut receiver: Value,
        at: &At,
        idents: &[String],
        has_args: bool,
    ) -> Result<Value> {
        for (i, name) in idents.iter().enumerate() {
            let last = i + 1 == idents.len();
            receiver = match receiver {
                Value::Map(mut m) => {
                    if last && has_args {
                        return Err(
                            self.fail(at, format!("{name} is not a method but has arguments"))
                        );
                    }
                    match m.remove(name) {
                        Some(v) => v,
                        None if !self.missing_key_error => Value::Nil,
                        None => {
                            return Err(self.fail(at, format!("map has no entry for key {name:?}")));
                        }
                    }
                }
                Value::Nil => {
                    return Err(self.fail(at, format!("nil data; no entry for key {name:?}")));
                }
                other => {
                    return Err(self.fail(
                        at,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(receiver)
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        at: &At,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value> {
        if name == "and" || name == "or" {
            if args.is_empty() && fin.is_none() {
                return Err(self.fail(
                    at,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            // Short-circuit: the deciding value is returned and later arguments are not
            // evaluated (Go 1.18+).
            let mut v = Value::Nil;
            for arg in args {
                v = self.eval_arg(dot, arg)?;
                if v.is_true() == (name == "or") {
                    return Ok(v);
                }
            }
            return Ok(fin.unwrap_or(v));
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.eval_arg(dot, arg)?);
        }
        values.extend(fin);
        let result = funcs::call(name, values).map_err(|f| match f {
            Fail::Type(m) => self.fail(at, m),
            Fail::Call(m) => self.fail(at, format!("error calling {name}: {m}")),
        })?;
        self.spend(at, 1 + result.size())?;
        // Go maps are references: `set $d "k" "v"` changes `$d`. Values here are copies, so
        // the result goes back into the variable (aliases of it are not updated).
        if let (true, Some(Arg::Variable(_, var, idents))) =
            (funcs::mutates_first_arg(name), args.first())
            && idents.is_empty()
            && let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == var)
        {
            slot.1 = result.clone();
        }
        Ok(result)
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> Result<Value> {
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Const(_, v) => Ok(v.clone()),
            Arg::Field(at, idents) => self.field_chain(dot.clone(), at, idents, false),
            Arg::Variable(at, name, idents) => {
                let v = self.var(at, name)?;
                self.field_chain(v, at, idents, false)
            }
            Arg::Chain(at, node, idents) => {
                let v = self.eval_arg(dot, node)?;
                self.field_chain(v, at, idents, false)
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Function(at, name) => self.eval_function(dot, at, name, &[], None),
        }
    }
}
