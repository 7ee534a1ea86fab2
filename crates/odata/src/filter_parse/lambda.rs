//! Paths into collection-valued properties: `coll/$count`, `coll/any(...)` and `coll/all(...)`.

use super::{Node, Parser, Scope, to_bool};
use crate::QueryError;
use crate::filter::{Coll, Expr, Operand};
use crate::lexer::Tok;

impl Parser<'_> {
    pub(super) fn parse_collection(&mut self, coll: Coll, pos: usize) -> Result<Node, QueryError> {
        let usage = format!("'{}' is a collection; use {0}/any(...), {0}/all(...) or {0}/$count", coll.name());
        if *self.peek_at(0) != Tok::Slash {
            return Err(QueryError::at(usage, self.peek().pos));
        }
        self.bump();
        let t = self.bump();
        let word = match &t.tok {
            Tok::Ident(w) => w.clone(),
            _ => return Err(QueryError::at(usage, t.pos)),
        };
        if word.eq_ignore_ascii_case("$count") {
            self.term(t.pos)?;
            return Ok(Node::Val(Operand::Count(coll), pos));
        }
        let all = if word.eq_ignore_ascii_case("any") {
            false
        } else if word.eq_ignore_ascii_case("all") {
            true
        } else {
            return Err(QueryError::at(usage, t.pos));
        };
        if !self.scopes.is_empty() {
            // Each level multiplies the work per row by the collection's length.
            return Err(QueryError::at("lambda operators (any/all) cannot be nested", t.pos));
        }
        self.term(t.pos)?;
        self.enter(t.pos)?;
        self.expect(Tok::LParen, "'('")?;
        let id = self.next_lambda;
        self.next_lambda += 1;
        if *self.peek_at(0) == Tok::RParen {
            let close = self.bump();
            if all {
                return Err(QueryError::at("all() needs a lambda expression", close.pos));
            }
            self.depth -= 1;
            return Ok(Node::Bool(Expr::Lambda { coll, all, var: String::new(), id, body: None }, pos));
        }
        let vt = self.bump();
        let var = match vt.tok {
            Tok::Ident(v) if !v.starts_with('$') => v,
            other => {
                return Err(QueryError::at(
                    format!("expected a lambda variable name, found {}", other.describe()),
                    vt.pos,
                ));
            }
        };
        self.expect(Tok::Colon, "':' after the lambda variable")?;
        self.scopes.push(Scope { var: var.clone(), coll, id });
        let body = self.parse_or();
        self.scopes.pop();
        let body = to_bool(body?)?;
        self.expect(Tok::RParen, "')' closing the lambda")?;
        self.depth -= 1;
        Ok(Node::Bool(Expr::Lambda { coll, all, var, id, body: Some(Box::new(body)) }, pos))
    }
}
